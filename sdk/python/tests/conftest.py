import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gracewire_sdk import testing  # noqa: E402

testing.use_world("announcement-policy")
