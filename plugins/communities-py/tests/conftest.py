import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO / "sdk" / "python"))
sys.path.insert(0, str(HERE.parent))

from gracewire_sdk import testing  # noqa: E402

testing.use_world("community-tagger")
