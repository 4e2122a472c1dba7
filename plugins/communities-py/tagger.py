"""Reference community tagger, in Python: the same rules, spellings and errors as the Rust
plugin in ``plugins/communities`` (and the same behaviour table, ``plugins/communities/cases.json``).

Communities per pool/service label and peer, with alias names (MetalLB's Community resource):
standard ``ASN:N``, ``large:G:L1:L2``, ``ext:rt:ASN:N`` / ``ext:soo:ASN:N`` (RFC 4360),
``ext:0x`` + 16 hex digits, and the well-known NO_EXPORT, NO_ADVERTISE, NO_EXPORT_SUBCONFED,
BLACKHOLE and GRACEFUL_SHUTDOWN. Each route's tags carry the names of the rules that made them
(``name``, else ``rules[i]``), joined by ``+``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Optional

from gracewire_sdk import LabelSelector, check_rule_name, log

WELL_KNOWN = {
    "no-export": 0xFFFFFF01,
    "no-advertise": 0xFFFFFF02,
    "no-export-subconfed": 0xFFFFFF03,
    "blackhole": 0xFFFF029A,
    "graceful-shutdown": 0xFFFF0000,
}

# A community: ("standard", v), ("large", g, a, b) or ("extended", v).


def parse_community(text: str):
    def bad():
        return ValueError(
            f"`{text}` is not a community (ASN:N, large:G:L1:L2, ext:rt:ASN:N, ext:soo:ASN:N, "
            "ext:0x..., or a well-known name)"
        )

    if text.lower() in WELL_KNOWN:
        return ("standard", WELL_KNOWN[text.lower()])

    def nums(rest: str, count: int):
        parts = rest.split(":")
        if len(parts) != count or not all(p.isdigit() and int(p) < 2**32 for p in parts):
            raise bad()
        return [int(p) for p in parts]

    if text.startswith("large:"):
        return ("large", *nums(text[len("large:") :], 3))
    if text.startswith("ext:0x"):
        digits = text[len("ext:0x") :]
        try:
            value = int(digits, 16)
        except ValueError:
            raise bad() from None
        if not digits or value >= 2**64 or not all(c in "0123456789abcdefABCDEF" for c in digits):
            raise bad()
        return ("extended", value)
    for prefix, subtype in (("ext:rt:", 0x02), ("ext:soo:", 0x03)):
        if text.startswith(prefix):
            asn, n = nums(text[len(prefix) :], 2)
            if asn > 0xFFFF:
                raise bad()
            # Type 0x00 (transitive two-octet AS specific), subtype, AS, 4-octet value.
            return ("extended", (subtype << 48) | (asn << 32) | n)
    hi, lo = nums(text, 2)
    if hi > 0xFFFF or lo > 0xFFFF:
        raise bad()
    return ("standard", (hi << 16) | lo)


@dataclass
class Rule:
    name: Optional[str] = None
    peers: list = field(default_factory=list)
    pools: list = field(default_factory=list)
    services: list = field(default_factory=list)
    labels: dict = field(default_factory=dict)
    add: list = field(default_factory=list)
    remove: list = field(default_factory=list)

    def selector(self, batch) -> LabelSelector:
        sel = LabelSelector().one_of(batch, "pool", self.pools).one_of(batch, "service", self.services)
        for key, value in sorted(self.labels.items()):
            sel = sel.one_of(batch, key, [value])
        return sel


RULE_FIELDS = {"name", "peers", "pools", "services", "labels", "add", "remove"}
RULES: list = []


def configure(config: str) -> list:
    """Parses the plugin's JSON config into rules; ValueError names the bad place."""
    data = json.loads(config) if config.strip() else {}
    if not isinstance(data, dict):
        raise ValueError("communities plugin config: expected an object")
    unknown = set(data) - {"aliases", "rules"}
    if unknown:
        raise ValueError(f"communities plugin config: unknown field `{sorted(unknown)[0]}`")
    aliases = data.get("aliases", {})
    rules = []
    for i, raw in enumerate(data.get("rules", [])):
        unknown = set(raw) - RULE_FIELDS
        if unknown:
            raise ValueError(f"communities plugin config: unknown field `{sorted(unknown)[0]}`")
        if "name" in raw:
            if not isinstance(raw["name"], str):
                raise ValueError(f"communities plugin config: rules[{i}].name: expected a string")
            try:
                check_rule_name(raw["name"])
            except ValueError as e:
                raise ValueError(f"rules[{i}].name: {e}") from None
        for name, value in raw.items():
            if name == "name":
                continue
            wanted = dict if name == "labels" else list
            if not isinstance(value, wanted) or not all(
                isinstance(v, str) for v in (value.values() if wanted is dict else value)
            ):
                kind = "a table of strings" if wanted is dict else "a list of strings"
                raise ValueError(f"communities plugin config: rules[{i}].{name}: expected {kind}")
        rule = Rule(**raw)
        if rule.name is None:
            rule.name = f"rules[{i}]"
        resolved = {}
        for what in ("add", "remove"):
            values = []
            for j, value in enumerate(getattr(rule, what)):
                try:
                    values.append(parse_community(aliases.get(value, value)))
                except ValueError as e:
                    raise ValueError(f"rules[{i}].{what}[{j}]: {e}") from None
            resolved[what] = values
        rules.append((rule, resolved["add"], resolved["remove"]))
    log("info", f"community tagger: {len(rules)} rules")
    return rules
