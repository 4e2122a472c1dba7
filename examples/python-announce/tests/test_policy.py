import pytest
from componentize_py_types import Err

import app
import announce
from gracewire_sdk import announcement_of, rule_of, testing


def batch():
    return (
        testing.BatchBuilder()
        .route("198.51.100.10/32", {"pool": "public"})
        .route("198.51.100.20/32", {"pool": "private"})
        .route("2001:db8::30/128", {"pool": "backup"})
        .build()
    )


def test_skips_and_prepends_by_pool():
    app.Announce().init('{"skip_pools": ["private"], "prepend_pools": ["backup"]}')
    b = batch()
    decisions = announce.Routes(b).decide(testing.test_peer("tor1"))
    assert announcement_of(decisions, b, 0).prepend == 0
    assert announcement_of(decisions, b, 1) is None
    assert announcement_of(decisions, b, 2).prepend == 1
    assert [rule_of(decisions, b, r) for r in range(3)] == ["plain", None, "prepend_pools"]


def test_a_bad_config_names_the_field():
    with pytest.raises(Err) as refused:
        app.Announce().init('{"skip_pool": ["private"]}')
    assert "skip_pool" in refused.value.value
