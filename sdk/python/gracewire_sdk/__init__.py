"""gracewire-sdk for Python: helpers for writing gracewire policy plugins.

The contract is `wit/policy.wit` (package ``gracewire:policy``). componentize-py generates the
``wit_world`` package from it: the records (``Batch``, ``Peer``, ``Decisions``, ``Tagging``...)
and the classes a plugin implements. This module adds what the Rust SDK's helpers give:

* batch accessors: :func:`prefix`, :func:`set_labels`, :func:`label`, ...;
* :class:`LabelSelector`, a rule's label selectors resolved to label ids once per batch;
* :class:`DecisionsBuilder` and :class:`TaggingBuilder`, which keep each distinct outcome once
  and answer per route or per label set (:func:`label_set_slot`);
* readers of an answer: :func:`route_choices`, :func:`announcement_of`, :func:`tags_of`,
  :func:`rule_of`;
* rule names (:func:`check_rule_name`, :func:`joined_rule_name`): an outcome names the rule that
  chose it, and gracewire shows it per route and counts routes per rule;
* :func:`log`, the host's structured log (captured by :mod:`gracewire_sdk.testing` natively).

It imports ``wit_world`` only when called, so the same code runs inside the component and in
``pytest`` (after :func:`gracewire_sdk.testing.use_world`).
"""

from __future__ import annotations

import ipaddress
import unicodedata
from typing import Iterable, Optional, Sequence

__all__ = [
    "log",
    "route_count",
    "set_count",
    "is_v6",
    "prefix",
    "label_set_of",
    "set_labels",
    "set_label",
    "labels_of",
    "label",
    "matches_any",
    "LabelSelector",
    "label_set_slot",
    "announce_as_configured",
    "DecisionsBuilder",
    "TaggingBuilder",
    "route_choices",
    "choice_of",
    "announcement_of",
    "tags_of",
    "rule_of",
    "MAX_RULE_NAME",
    "check_rule_name",
    "joined_rule_name",
]

_LEVELS = ("trace", "debug", "info", "warn", "error")


def log(level: str, message: str) -> None:
    """A line in gracewire's log under the plugin's name; `level` is trace..error."""
    from wit_world.imports import host

    host.log(host.Level[level.upper()], message)


# ---- the batch -------------------------------------------------------------------------------


def route_count(batch) -> int:
    return len(batch.prefix_len)


def set_count(batch) -> int:
    """How many distinct label sets the batch has."""
    return max(len(batch.set_start) - 1, 0)


def is_v6(batch, route: int) -> bool:
    return batch.v6[route] != 0


def prefix(batch, route: int):
    """Route `route`'s prefix as an `ipaddress` network."""
    if is_v6(batch, route):
        address = ipaddress.IPv6Address((batch.addr_hi[route] << 64) | batch.addr_lo[route])
    else:
        address = ipaddress.IPv4Address(batch.addr_lo[route] & 0xFFFFFFFF)
    return ipaddress.ip_network(f"{address}/{batch.prefix_len[route]}", strict=False)


def label_set_of(batch, route: int) -> int:
    return batch.label_set[route]


def _set_refs(batch, set_index: int) -> Sequence[int]:
    return batch.set_labels[batch.set_start[set_index] : batch.set_start[set_index + 1]]


def set_labels(batch, set_index: int) -> dict:
    """The labels of label set `set_index` as a dict."""
    return {batch.labels[i].key: batch.labels[i].value for i in _set_refs(batch, set_index)}


def set_label(batch, set_index: int, key: str) -> Optional[str]:
    for i in _set_refs(batch, set_index):
        if batch.labels[i].key == key:
            return batch.labels[i].value
    return None


HEALTH_LABEL = "health"
"""The label the host sets on every announcement that names health checks: `up` while they all
are, `down` otherwise (contract 0.6.0). Routes whose check is down reach a plugin only with
`when_down = "plugins"`, for it to deprefer them."""


def set_is_down(batch, set_index: int) -> bool:
    """Whether label set `set_index` is of an announcement whose health check is down."""
    return set_label(batch, set_index, HEALTH_LABEL) == "down"


def labels_of(batch, route: int) -> dict:
    return set_labels(batch, batch.label_set[route])


def label(batch, route: int, key: str) -> Optional[str]:
    return set_label(batch, batch.label_set[route], key)


def matches_any(allowed: Sequence[str], value: Optional[str]) -> bool:
    """An empty list allows anything; otherwise `value` must be in it."""
    return not allowed or (value is not None and value in allowed)


class LabelSelector:
    """Label conditions resolved to label ids once per batch, so matching a label set compares
    integers. ``LabelSelector().one_of(batch, "pool", ["public"])``; an empty value list is no
    condition."""

    def __init__(self) -> None:
        self._conditions: list[frozenset] = []

    def one_of(self, batch, key: str, values: Iterable[str]) -> "LabelSelector":
        values = set(values)
        if values:
            ids = frozenset(
                i for i, l in enumerate(batch.labels) if l.key == key and l.value in values
            )
            self._conditions.append(ids)
        return self

    def matches(self, batch, set_index: int) -> bool:
        refs = _set_refs(batch, set_index)
        return all(any(r in ids for r in refs) for ids in self._conditions)


def label_set_slot(set_index: int, v6: bool) -> int:
    """Where label set `set_index` and a family go in a per-label-set answer."""
    return 2 * set_index + int(v6)


# ---- answers ---------------------------------------------------------------------------------


def announce_as_configured(rule: Optional[str] = None):
    """An announcement that keeps everything the config gives the route, named after `rule`."""
    from wit_world.exports.announce import Announcement

    return Announcement(
        next_hop=None, med=None, local_pref=None, prepend=0, aggregate_len=None, rule=rule
    )


MAX_RULE_NAME = 128
"""The longest rule name gracewire takes, in bytes (UTF-8)."""


def check_rule_name(name: str) -> None:
    """Raises ValueError for a name gracewire would refuse (empty, over 128 bytes, or with a
    control character), so ``init`` can refuse it with its place named."""
    if not name:
        raise ValueError("a rule name may not be empty")
    if len(name.encode()) > MAX_RULE_NAME:
        raise ValueError(f"rule name `{name}` is over {MAX_RULE_NAME} bytes")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise ValueError(f"rule name {name!r} has a control character")


def joined_rule_name(names: Iterable[str]) -> Optional[str]:
    """One name for an outcome several rules made together: ``a+b``, cut to 128 bytes (ending
    in ``...`` when cut); None without names."""
    joined = "+".join(names)
    if len(joined.encode()) > MAX_RULE_NAME:
        cut = joined.encode()[: MAX_RULE_NAME - 3].decode(errors="ignore")
        joined = cut + "..."
    return joined or None


class _Outcomes:
    """Distinct outcomes, each kept once, and the choice (1-based; 0 = none) per entry."""

    def __init__(self, routes: Optional[int], sets: Optional[int]) -> None:
        if (routes is None) == (sets is None):
            raise ValueError("give routes= (per route) or sets= (per label set), not both")
        self.per_label_set = sets is not None
        self.choice = [0] * (2 * sets if sets is not None else routes)
        self.outcomes: list = []
        self._index: dict = {}

    def add(self, key, outcome) -> int:
        k = self._index.get(key)
        if k is None:
            self.outcomes.append(outcome)
            k = self._index[key] = len(self.outcomes)
        return k

    def set(self, entry: int, choice: int) -> None:
        self.choice[entry] = choice

    def fill(self, choice: int) -> None:
        self.choice = [choice] * len(self.choice)

    def choices(self, choice: Sequence[int]) -> None:
        if len(choice) != len(self.choice):
            raise ValueError(f"{len(choice)} choices for {len(self.choice)} entries")
        self.choice = list(choice)

    def wit_choices(self):
        from wit_world.imports import types

        if self.per_label_set:
            return types.Choices_PerLabelSet(self.choice)
        return types.Choices_PerRoute(self.choice)


class DecisionsBuilder(_Outcomes):
    """``DecisionsBuilder(routes=n)`` or ``DecisionsBuilder(sets=set_count(batch))``."""

    def __init__(self, routes: Optional[int] = None, sets: Optional[int] = None) -> None:
        super().__init__(routes, sets)

    def announcement(self, announcement) -> int:
        """The choice that announces as `announcement` (equal ones share a choice)."""
        return self.add(repr(announcement), announcement)

    def build(self):
        from wit_world.exports.announce import Decisions

        return Decisions(announcements=list(self.outcomes), choice=self.wit_choices())


class TaggingBuilder(_Outcomes):
    """``TaggingBuilder(routes=n)`` or ``TaggingBuilder(sets=set_count(batch))``."""

    def __init__(self, routes: Optional[int] = None, sets: Optional[int] = None) -> None:
        super().__init__(routes, sets)

    def set_of(self, tags: Sequence) -> int:
        """The choice for this list of tags; no tags is choice 0 (unchanged)."""
        if not tags:
            return 0
        return self._tag_set(tags, None)

    def rule_set(self, rule: str, tags: Sequence) -> int:
        """The choice for this list of tags, named after the rule that chose it. Even no tags
        get a choice, so the routes a rule left untagged still count under it."""
        return self._tag_set(tags, rule)

    def _tag_set(self, tags: Sequence, rule: Optional[str]) -> int:
        from wit_world.exports.communities import TagSet

        key = (rule, tuple((t.kind.value, t.a, t.b, t.c, t.ext) for t in tags))
        return self.add(key, TagSet(tags=list(tags), rule=rule))

    def build(self):
        from wit_world.exports.communities import Tagging

        return Tagging(sets=list(self.outcomes), choice=self.wit_choices())



def choice_of(choices, batch, route: int) -> int:
    """The choice for `route` (0 = none), whichever way the answer was given."""
    if type(choices).__name__.endswith("PerLabelSet"):
        return choices.value[label_set_slot(batch.label_set[route], is_v6(batch, route))]
    return choices.value[route]


def route_choices(choices, batch) -> list:
    return [choice_of(choices, batch, r) for r in range(route_count(batch))]


def announcement_of(decisions, batch, route: int):
    """How `route` is announced, or None if it is not."""
    k = choice_of(decisions.choice, batch, route)
    return decisions.announcements[k - 1] if k else None


def tags_of(tagging, batch, route: int) -> list:
    """The tags applied to `route` (empty: unchanged)."""
    k = choice_of(tagging.choice, batch, route)
    return list(tagging.sets[k - 1].tags) if k else []


def rule_of(answer, batch, route: int) -> Optional[str]:
    """The rule named for `route` in a ``Decisions`` or a ``Tagging`` (None: unnamed, or no
    outcome)."""
    k = choice_of(answer.choice, batch, route)
    if not k:
        return None
    outcomes = answer.announcements if hasattr(answer, "announcements") else answer.sets
    return outcomes[k - 1].rule
