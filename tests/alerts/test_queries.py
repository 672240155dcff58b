"""The alerts' read queries: lists by state and kind within a scope, one alert, its messages."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from alerts import queries
from store import outbox
from tests.store import seed


@pytest.fixture
def alerts(store_engine: Engine) -> dict[str, int]:
    """Shortages at GZ and SH (one resolved), a drift alert at GZ, an operational one about no location."""
    with store_engine.begin() as conn:
        gz, sh = seed.location(conn, "DS-GZ"), seed.location(conn, "DS-SH")
        return {
            "gz-mug": seed.alert(conn, "shortage", location_id=gz, sku="MUG", details={"on_hand": 1}),
            "sh-mug": seed.alert(conn, "shortage", location_id=sh, sku="MUG", state="resolved"),
            "gz-drift": seed.alert(conn, "drift", location_id=gz, sku="TEA"),
            "stale": seed.alert(conn, "stale_stream", details={"subject": "erp/stock"}),
        }


def test_alerts_newest_first_by_state_and_kind_with_their_total(
    store_engine: Engine, alerts: dict[str, int]
) -> None:
    with store_engine.connect() as conn:
        first = queries.list_alerts(conn, limit=2)
        rest = queries.list_alerts(conn, limit=2, offset=2)
        open_shortages = queries.list_alerts(conn, state="open", kinds=["shortage"])
        some_kinds = queries.list_alerts(conn, kinds={"shortage", "stale_stream"}, limit=1)
    assert ([a.kind for a in first], first.total, first.more) == (["stale_stream", "drift"], 4, True)
    assert ([a.id for a in rest], rest.more) == ([alerts["sh-mug"], alerts["gz-mug"]], False)
    [gz] = open_shortages
    assert (gz.sku, gz.location, gz.details, gz.state) == ("MUG", "DS-GZ", {"on_hand": 1}, "open")
    assert (some_kinds[0].kind, some_kinds.total) == ("stale_stream", 3)
    assert first[0].details == {"subject": "erp/stock"}
    assert rest[0].details == {}  # no details stored: an empty dict, not None


def test_alerts_in_a_scope_are_those_about_its_locations(
    store_engine: Engine, alerts: dict[str, int]
) -> None:
    with store_engine.connect() as conn:
        gz = queries.list_alerts(conn, locations={"DS-GZ"})
        sh_open = queries.list_alerts(conn, state="open", locations=["DS-SH"])
        mine = queries.get_alert(conn, alerts["gz-mug"], locations={"DS-GZ"})
        theirs = queries.get_alert(conn, alerts["sh-mug"], locations={"DS-GZ"})
        operational = queries.get_alert(conn, alerts["stale"], locations={"DS-GZ"})
    assert [a.id for a in gz] == [alerts["gz-drift"], alerts["gz-mug"]]
    assert sh_open.total == 0
    assert mine is not None
    assert mine.id == alerts["gz-mug"]
    assert (theirs, operational) == (None, None)


def test_one_alert_its_state_and_a_missing_one(store_engine: Engine, alerts: dict[str, int]) -> None:
    with store_engine.connect() as conn:
        found = queries.get_alert(conn, alerts["stale"])
        missing = queries.get_alert(conn, 10**9)
        states = [queries.alert_state(conn, alerts[k]) for k in ("gz-mug", "sh-mug")]
        no_state = queries.alert_state(conn, 10**9)
    assert found is not None
    assert (found.kind, found.location, found.sku) == ("stale_stream", None, None)
    assert (missing, states, no_state) == (None, ["open", "resolved"], None)


def test_the_messages_about_an_alert_oldest_first_not_another_alerts(
    store_engine: Engine, alerts: dict[str, int]
) -> None:
    alert_id = alerts["gz-mug"]
    with store_engine.begin() as conn:
        for key, title in (
            (f"alert:{alert_id}:opened:ops", "Short"),
            (f"alert:{alert_id}:worse:ops", "Worse"),
        ):
            outbox.enqueue(conn, "alert", key, {"title": title, "text": "MUG @ DS-GZ"}, partition="ops")
        outbox.enqueue(conn, "alert", f"alert:{alert_id}0:opened:ops", {"title": "other"}, partition="ops")
    with store_engine.connect() as conn:
        sent = queries.alert_messages(conn, alert_id)
        none = queries.alert_messages(conn, alerts["stale"])
    assert [(m.route, m.event, m.title, m.text, m.delivered_at) for m in sent] == [
        ("ops", "opened", "Short", "MUG @ DS-GZ", None),
        ("ops", "worse", "Worse", "MUG @ DS-GZ", None),
    ]
    assert none == []
