"""Test a Python plugin's logic natively with pytest, and its built component in gracewire.

Natively (no build, milliseconds): call :func:`use_world` first, in ``conftest.py``, so that
``wit_world`` (generated from the contract by componentize-py, cached) is importable and
``log`` lines are captured; then import the plugin and call it with :class:`BatchBuilder` and
:func:`test_peer` inputs::

    from gracewire_sdk import testing
    testing.use_world("community-tagger")          # conftest.py

    import app, communities                         # the plugin's modules
    app.Communities().init('{"rules": []}')
    tagging = communities.Routes(batch).tag(testing.test_peer("tor1"))

The artifact (seconds): :func:`build_component`, then :class:`Component` runs it in the real
gracewire runtime (``gracewire plugin call``: the daemon's sandbox, limits and answer checks)
and returns the same dataclasses.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import importlib
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import typing
from pathlib import Path
from typing import Optional

from . import build as _build

_LOGS: list = []


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gracewire-sdk"


def use_world(world: str) -> None:
    """Makes ``wit_world`` the bindings of `world` (generated once per contract and world) and
    captures the host's ``log``. Call it before the plugin's modules are imported."""
    wit = _build.wit_dir()
    digest = hashlib.sha256()
    for f in sorted(wit.glob("*.wit")):
        digest.update(f.read_bytes())
    out = _cache_dir() / f"{world}-{digest.hexdigest()[:16]}"
    if not (out / "wit_world").is_dir():
        tmp = out.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = _build.componentize_py() + ["-d", str(wit), "-w", world, "bindings", str(tmp)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"generating bindings for {world}: {done.stderr}")
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    for name in [m for m in sys.modules if m == "wit_world" or m.startswith("wit_world.")]:
        del sys.modules[name]
    sys.path.insert(0, str(out))
    host = importlib.import_module("wit_world.imports.host")
    host.log = lambda level, message: _LOGS.append((level.name.lower(), message))


def take_logs() -> list:
    """The ``(level, message)`` lines logged since the last call."""
    lines = list(_LOGS)
    _LOGS.clear()
    return lines


def _types():
    return importlib.import_module("wit_world.imports.types")


def address(text: str):
    """A WIT address from ``"192.0.2.1"`` or ``"2001:db8::1"``."""
    ip = ipaddress.ip_address(text)
    value = int(ip)
    return _types().Address(v6=ip.version == 6, hi=value >> 64, lo=value & (2**64 - 1))


def test_peer(
    name: str = "tor1",
    local_asn: int = 64512,
    remote_asn: int = 65001,
    vendor: str = "frr",
    peer_address: str = "192.0.2.2",
):
    """A peer with both families, as the daemon describes one before its session is up."""
    t = _types()
    return t.Peer(
        name=name,
        address=address(peer_address),
        local_asn=local_asn,
        remote_asn=remote_asn,
        vendor=vendor,
        hold_time=90,
        families=[t.Family.IPV4_UNICAST, t.Family.IPV6_UNICAST],
    )


test_peer.__test__ = False  # not a pytest test, whatever its name


class BatchBuilder:
    """Candidate routes as the host lays them out: ``BatchBuilder().route("198.51.100.10/32",
    {"pool": "public"}).build()``. Equal label sets are shared, in order of first use."""

    def __init__(self) -> None:
        self._routes: list = []

    def route(self, prefix: str, labels: Optional[dict] = None) -> "BatchBuilder":
        self._routes.append((ipaddress.ip_network(prefix), dict(labels or {})))
        return self

    def build(self):
        t = _types()
        labels, label_ids, sets, set_ids = [], {}, [], {}
        batch = t.Batch([], [], [0], [], [], [], b"", b"")
        prefix_len, v6 = bytearray(), bytearray()
        for net, route_labels in self._routes:
            refs = []
            for key, value in sorted(route_labels.items()):
                if (key, value) not in label_ids:
                    label_ids[(key, value)] = len(labels)
                    labels.append(t.Label(key=key, value=value))
                refs.append(label_ids[(key, value)])
            key = tuple(refs)
            if key not in set_ids:
                set_ids[key] = len(sets)
                sets.append(refs)
                batch.set_labels.extend(refs)
                batch.set_start.append(len(batch.set_labels))
            batch.label_set.append(set_ids[key])
            value = int(net.network_address)
            batch.addr_hi.append(value >> 64 if net.version == 6 else 0)
            batch.addr_lo.append(value & (2**64 - 1))
            prefix_len.append(net.prefixlen)
            v6.append(1 if net.version == 6 else 0)
        batch.labels = labels
        batch.prefix_len, batch.v6 = bytes(prefix_len), bytes(v6)
        return batch


# ---- the built component, in gracewire's runtime ------------------------------------------------


def build_component(app_dir, world: str, output=None, module: str = "app") -> Path:
    """Builds the plugin in `app_dir` (see :mod:`gracewire_sdk.build`); returns the .wasm."""
    output = output or Path(app_dir) / "build" / f"{world}.wasm"
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    return _build.build(app_dir, world, output, module)


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def to_json(value):
    """A WIT value as `gracewire plugin call` reads it (serde's form of the host's types)."""
    if dataclasses.is_dataclass(value):
        name = type(value).__name__
        if "_" in name and len(dataclasses.fields(value)) == 1 and name.split("_")[-1][:1].isupper():
            return {name.split("_")[-1]: to_json(value.value)}  # a variant case
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return _camel(value.name.lower())
    if isinstance(value, (bytes, bytearray)):
        return list(value)
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def from_json(hint, data):
    """The inverse of :func:`to_json`, guided by the generated classes' type hints."""
    origin = typing.get_origin(hint)
    if origin is typing.Union:
        options = typing.get_args(hint)
        if data is None and type(None) in options:
            return None
        options = [o for o in options if o is not type(None)]
        if len(options) == 1:
            return from_json(options[0], data)
        (case, value), = data.items()
        cls = next(o for o in options if o.__name__.split("_")[-1] == case)
        return cls(from_json(typing.get_type_hints(cls)["value"], value))
    if origin in (list, typing.List):
        (item,) = typing.get_args(hint)
        return [from_json(item, v) for v in data]
    if hint is bytes:
        return bytes(data)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return next(m for m in hint if _camel(m.name.lower()) == data)
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        return hint(**{f.name: from_json(hints[f.name], data[f.name]) for f in dataclasses.fields(hint)})
    return data


class PluginCallError(Exception):
    """gracewire refused the plugin or the call; the message is gracewire's."""


class Component:
    """A built plugin run by ``gracewire plugin call`` (``GRACEWIRE`` names the binary, else
    ``gracewire`` on PATH). Each call loads it afresh (init and self-check) as a swap would."""

    KINDS = {"announce": "announcement-policy", "communities": "community-tagger", "gr": "gr-profile"}

    def __init__(self, kind: str, wasm, config: str = "") -> None:
        if kind not in self.KINDS:
            raise ValueError(f"kind is one of {', '.join(self.KINDS)}")
        self.kind, self.wasm, self.config = kind, Path(wasm), config

    def _call(self, payload: dict) -> dict:
        binary = os.environ.get("GRACEWIRE") or shutil.which("gracewire") or "gracewire"
        cmd = [binary, "plugin", "call", self.kind, str(self.wasm), "--config", self.config,
               "--cache-dir", str(_cache_dir() / "plugin-cache")]
        done = subprocess.run(cmd, input=json.dumps(payload), capture_output=True, text=True)
        if done.returncode != 0:
            raise PluginCallError(done.stderr.strip().removeprefix("gracewire: "))
        return json.loads(done.stdout)

    def decide(self, peer, batch):
        from wit_world.exports.announce import Decisions

        out = self._call({"peer": to_json(peer), "batch": to_json(batch)})
        return from_json(Decisions, out)

    def tag(self, peer, batch):
        from wit_world.exports.communities import Tagging

        out = self._call({"peer": to_json(peer), "batch": to_json(batch)})
        return from_json(Tagging, out)

    def timers(self, peer, capability=None):
        from wit_world.exports.gr import GrTimers

        out = self._call({"peer": to_json(peer), "capability": to_json(capability)})
        return from_json(GrTimers, out)
