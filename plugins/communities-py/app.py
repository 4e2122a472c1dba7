"""The `community-tagger` world's export: `init` reads the config (see tagger.py)."""

import wit_world
import wit_world.exports
from componentize_py_types import Err

import tagger


class Communities(wit_world.exports.Communities):
    def init(self, config: str) -> None:
        try:
            tagger.RULES[:] = tagger.configure(config)
        except (ValueError, TypeError) as e:
            raise Err(str(e))
