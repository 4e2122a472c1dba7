"""An announcement policy in Python: announce every route except those of the pools listed in
`skip_pools`; routes of `prepend_pools` get one extra copy of our ASN on eBGP sessions.

    [plugins.announce]
    path = "skip-pools.wasm"
    [plugins.announce.config]
    skip_pools = ["private"]
    prepend_pools = ["backup"]
"""

import json

import wit_world
import wit_world.exports
from componentize_py_types import Err

from gracewire_sdk import log

CONFIG = {"skip_pools": [], "prepend_pools": []}


class Announce(wit_world.exports.Announce):
    def init(self, config: str) -> None:
        data = json.loads(config) if config.strip() else {}
        for key, value in data.items():
            if key not in CONFIG:
                raise Err(f"unknown field `{key}` (expected skip_pools, prepend_pools)")
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise Err(f"{key}: expected a list of pool names")
            CONFIG[key] = value
        log("info", f"skip {CONFIG['skip_pools']}, prepend {CONFIG['prepend_pools']}")
