"""Build a Python plugin into a gracewire component with componentize-py.

    python -m gracewire_sdk build --world community-tagger -o tagger.wasm [APP_DIR] [--module app]

APP_DIR holds the plugin: ``app.py`` (the world's export class, e.g. ``Communities`` with
``init``) and, for ``announce`` and ``communities``, a module of the same name holding the
``Routes`` class. The SDK itself is bundled into the component.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

WORLDS = ("announcement-policy", "community-tagger", "gr-profile")


def wit_dir() -> Path:
    """The contract this SDK was made for (``GRACEWIRE_WIT`` overrides it)."""
    return Path(os.environ.get("GRACEWIRE_WIT", Path(__file__).resolve().parent / "wit"))


def componentize_py() -> list:
    """componentize-py from the same environment as this Python (it has no `-m` entry)."""
    script = "import sys; from componentize_py import script; sys.argv[0] = 'componentize-py'; sys.exit(script())"
    return [sys.executable, "-c", script]


def build(app_dir, world: str, output, module: str = "app") -> Path:
    """Builds `app_dir`'s `module` for `world` into `output`; returns its path. Raises
    RuntimeError with componentize-py's own message (a Python traceback) on failure."""
    if world not in WORLDS:
        raise ValueError(f"unknown world {world!r}: one of {', '.join(WORLDS)}")
    app_dir, output = Path(app_dir).resolve(), Path(output).resolve()
    sdk_parent = Path(__file__).resolve().parent.parent
    cmd = componentize_py() + [
        "-d", str(wit_dir()), "-w", world, "componentize",
        "-p", str(app_dir), "-p", str(sdk_parent),
        module, "-o", str(output),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        # componentize-py appends a Rust backtrace; the Python part is what helps.
        message = (done.stderr or done.stdout).split("\nStack backtrace:")[0].strip()
        raise RuntimeError(f"building {app_dir} for {world} failed:\n{message}")
    return output


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gracewire_sdk")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build a plugin directory into a component")
    b.add_argument("app_dir", nargs="?", default=".")
    b.add_argument("--world", "-w", required=True, choices=WORLDS)
    b.add_argument("--output", "-o", required=True)
    b.add_argument("--module", "-m", default="app", help="the module with the export class")
    args = parser.parse_args(argv)
    try:
        out = build(args.app_dir, args.world, args.output, args.module)
    except (RuntimeError, ValueError) as e:
        print(e, file=sys.stderr)
        return 1
    print(f"{out}: {out.stat().st_size} bytes")
    return 0
