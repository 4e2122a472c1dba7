"""A test probe, not a policy: `init` tries to reach the machine the way a Python plugin could
and refuses its config with a JSON report of what it saw (tests/tests/plugin_sandbox.rs).
With the config "sleep" it sleeps instead, and with "exit" it exits the process: the sandbox
must stop both."""

import json
import os
import random
import sys
import time

import wit_world
import wit_world.exports
from componentize_py_types import Err


def attempt(action):
    try:
        return {"ok": repr(action())}
    except BaseException as e:  # the report is the point: every failure is a finding
        return {"error": f"{type(e).__name__}: {e}"}


def connect():
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.connect(("127.0.0.1", 179))
    return s


class Communities(wit_world.exports.Communities):
    def init(self, config: str) -> None:
        if config == "sleep":
            time.sleep(3600)
            return
        if config == "exit":
            os._exit(3)  # wasi:cli/exit, past Python's own SystemExit
        if config == "print-and-fail":
            print("about to fail: pool `nope` is unknown")
            raise ValueError("no such pool")
        report = {
            "read_file": attempt(lambda: open("/etc/hostname").read()),
            "list_root": attempt(lambda: os.listdir("/")),
            "connect": attempt(connect),
            "environ": dict(os.environ),
            "argv": list(sys.argv),
            "stdin": attempt(lambda: sys.stdin.read()),
            "cwd": attempt(os.getcwd),
            "time": time.time(),
            "monotonic": time.monotonic(),
            "random": random.random(),
            "urandom": os.urandom(8).hex(),
        }
        raise Err(json.dumps(report))
