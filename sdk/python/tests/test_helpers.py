"""The SDK's helpers and harness, natively; the built-artifact round trip needs the
`gracewire` binary (GRACEWIRE) and componentize-py, and is skipped without GRACEWIRE."""

import ipaddress
import os
from pathlib import Path

import pytest
from wit_world.exports import announce as api
from wit_world.imports import types

import gracewire_sdk as sdk
from gracewire_sdk import testing


def batch():
    return (
        testing.BatchBuilder()
        .route("198.51.100.10/32", {"pool": "public", "service": "web"})
        .route("2001:db8::10/128", {"pool": "public", "service": "web"})
        .route("198.51.100.20/32", {"pool": "private"})
        .build()
    )


def test_a_set_is_down_only_when_the_hosts_health_label_says_so():
    b = (
        testing.BatchBuilder()
        .route("198.51.100.1/32", {sdk.HEALTH_LABEL: "down", "pool": "a"})
        .route("198.51.100.2/32", {sdk.HEALTH_LABEL: "up", "pool": "a"})
        .route("198.51.100.3/32", {"pool": "a"})
        .build()
    )
    assert [sdk.set_is_down(b, b.label_set[r]) for r in range(3)] == [True, False, False]


def test_batch_layout_is_the_hosts():
    b = batch()
    assert sdk.route_count(b) == 3 and sdk.set_count(b) == 2
    assert b.label_set == [0, 0, 1], "equal labels share a set, in order of first use"
    assert b.set_start == [0, 2, 3]
    assert sdk.prefix(b, 1) == ipaddress.ip_network("2001:db8::10/128")
    assert sdk.prefix(b, 2) == ipaddress.ip_network("198.51.100.20/32")
    assert sdk.labels_of(b, 0) == {"pool": "public", "service": "web"}
    assert sdk.label(b, 2, "pool") == "private" and sdk.label(b, 2, "service") is None


def test_label_selector_matches_by_id():
    b = batch()
    public_web = sdk.LabelSelector().one_of(b, "pool", ["public"]).one_of(b, "service", ["web"])
    assert [public_web.matches(b, s) for s in range(2)] == [True, False]
    anything = sdk.LabelSelector().one_of(b, "pool", [])
    assert all(anything.matches(b, s) for s in range(2)), "an empty list is no condition"
    missing = sdk.LabelSelector().one_of(b, "pool", ["nope"])
    assert not any(missing.matches(b, s) for s in range(2))


def test_builders_keep_each_outcome_once():
    b = batch()
    out = sdk.DecisionsBuilder(sets=sdk.set_count(b))
    first = out.announcement(sdk.announce_as_configured())
    assert out.announcement(sdk.announce_as_configured()) == first
    med = out.announcement(api.Announcement(None, 10, None, 0, None, None))
    out.set(sdk.label_set_slot(0, False), first)
    out.set(sdk.label_set_slot(0, True), med)
    decisions = out.build()
    assert len(decisions.announcements) == 2
    assert isinstance(decisions.choice, types.Choices_PerLabelSet)
    assert sdk.route_choices(decisions.choice, b) == [1, 2, 0]
    assert sdk.announcement_of(decisions, b, 1).med == 10
    assert sdk.announcement_of(decisions, b, 2) is None
    with pytest.raises(ValueError):
        sdk.DecisionsBuilder(routes=3, sets=2)


def test_rule_names_keep_outcomes_apart_and_read_back_per_route():
    b = batch()
    out = sdk.DecisionsBuilder(routes=3)
    gold = out.announcement(sdk.announce_as_configured("gold"))
    plain = out.announcement(sdk.announce_as_configured())
    assert gold != plain, "same attributes, another rule: another outcome"
    out.choices([gold, plain, 0])
    decisions = out.build()
    assert [sdk.rule_of(decisions, b, r) for r in range(3)] == ["gold", None, None]

    # Tag sets are named the same way (rule_set); plugins/communities-py tests them.


def test_rule_names_are_checked_and_joined_as_gracewire_takes_them():
    sdk.check_rule_name("public web")
    for bad, why in [("", "empty"), ("a\nb", "control"), ("x" * 129, "over 128")]:
        with pytest.raises(ValueError, match=why):
            sdk.check_rule_name(bad)
    assert sdk.joined_rule_name(["a", "b"]) == "a+b"
    assert sdk.joined_rule_name([]) is None
    long = sdk.joined_rule_name(["é" * 50, "z" * 50])
    assert len(long.encode()) <= sdk.MAX_RULE_NAME and long.endswith("...")
    sdk.check_rule_name(long)


def test_logs_are_captured():
    testing.take_logs()
    sdk.log("warn", "careful")
    assert testing.take_logs() == [("warn", "careful")]


def test_json_round_trip_is_the_hosts_shape():
    b = batch()
    data = testing.to_json(b)
    assert data["prefix_len"] == [32, 128, 32] and data["v6"] == [0, 1, 0]
    assert testing.from_json(types.Batch, data) == b
    peer = testing.test_peer("tor1")
    assert testing.to_json(peer)["families"] == ["Ipv4Unicast", "Ipv6Unicast"]
    assert testing.from_json(types.Peer, testing.to_json(peer)) == peer
    choices = types.Choices_PerRoute([1, 0])
    assert testing.to_json(choices) == {"PerRoute": [1, 0]}
    assert testing.from_json(types.Choices, {"PerRoute": [1, 0]}) == choices


EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "python-announce"


@pytest.mark.skipif(not os.environ.get("GRACEWIRE"), reason="needs GRACEWIRE (the gracewire binary)")
def test_a_built_plugin_answers_in_gracewire_like_natively(tmp_path):
    wasm = testing.build_component(EXAMPLE, "announcement-policy", tmp_path / "p.wasm")
    plugin = testing.Component("announce", wasm, '{"skip_pools": ["private"]}')
    decisions = plugin.decide(testing.test_peer("tor1"), batch())
    assert sdk.route_choices(decisions.choice, batch()) == [1, 1, 0]
    with pytest.raises(testing.PluginCallError) as refused:
        testing.Component("announce", wasm, '{"skip_pools": "private"}').decide(
            testing.test_peer("tor1"), batch()
        )
    assert "skip_pools" in str(refused.value)
