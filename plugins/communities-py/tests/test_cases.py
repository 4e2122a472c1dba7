"""The shared behaviour table (plugins/communities/cases.json), natively: the logic alone, in
milliseconds. tests/tests/plugin_parity.rs runs the same table against both built components."""

import json
from pathlib import Path

import pytest
from componentize_py_types import Err
from gracewire_sdk import rule_of, tags_of, testing

import app
import communities
import tagger

CASES = json.loads((Path(__file__).resolve().parents[2] / "communities" / "cases.json").read_text())["cases"]


def render(tag) -> str:
    kind = tag.kind.name.lower().replace("_", "-")
    if kind.endswith("standard"):
        return f"{kind} 0x{tag.a:08x}"
    if kind.endswith("large"):
        return f"{kind} {tag.a}:{tag.b}:{tag.c}"
    return f"{kind} 0x{tag.ext:016x}"


def config_text(case) -> str:
    return case["config"] if isinstance(case["config"], str) else json.dumps(case["config"])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case):
    plugin = app.Communities()
    if "error" in case:
        with pytest.raises(Err) as refused:
            plugin.init(config_text(case))
        assert case["error"] in refused.value.value
        return
    plugin.init(config_text(case))
    batch = testing.BatchBuilder()
    for prefix, labels in case["routes"]:
        batch.route(prefix, labels)
    batch = batch.build()
    tagging = communities.Routes(batch).tag(testing.test_peer(case["peer"]))
    got = [[render(t) for t in tags_of(tagging, batch, r)] for r in range(len(case["routes"]))]
    assert got == case["expect"]
    if "rules" in case:
        assert [rule_of(tagging, batch, r) for r in range(len(case["routes"]))] == case["rules"]


def test_init_logs_the_rule_count():
    testing.take_logs()
    app.Communities().init('{"rules": [{"add": ["no-export"]}, {"add": ["blackhole"]}]}')
    assert testing.take_logs() == [("info", "community tagger: 2 rules")]


def test_one_prepared_batch_answers_every_peer_per_label_set():
    app.Communities().init('{"rules": [{"peers": ["tor2"], "add": ["no-export"]}]}')
    batch = testing.BatchBuilder().route("198.51.100.10/32", {"pool": "a"}).route(
        "198.51.100.11/32", {"pool": "a"}).route("2001:db8::1/128", {"pool": "a"}).build()
    routes = communities.Routes(batch)
    assert routes.tag(testing.test_peer("tor1")).sets == []
    tor2 = routes.tag(testing.test_peer("tor2"))
    assert len(tor2.sets) == 1, "every route shares one set"
    assert len(tor2.choice.value) == 2, "one label set, two families"


def test_parse_community_matches_the_rust_spellings():
    assert tagger.parse_community("NO-EXPORT") == ("standard", 0xFFFFFF01)
    assert tagger.parse_community("large:64512:1:2") == ("large", 64512, 1, 2)
    for bad in ["70000:1", "1:2:3", "large:1:2", "ext:rt:70000:1", "nope", "ext:0x", "ext:0xzz"]:
        with pytest.raises(ValueError):
            tagger.parse_community(bad)
