"""Typed statuses keep the strings the database already holds, and compare equal to them."""

from __future__ import annotations

import json

from core.statuses import (
    DISPATCH_RECALLABLE,
    DISPATCH_TO_SHIP,
    DISPATCH_UNACKNOWLEDGED,
    SEVERITY_RANK,
    AlertSeverity,
    AlertState,
    DispatchStatus,
    MessageState,
    OrderStatus,
    RunStatus,
)


def test_the_stored_values_are_unchanged() -> None:
    assert {s.value for s in OrderStatus} == {
        *("received", "validated", "allocated", "dispatched", "partially_shipped", "shipped"),
        *("delivered", "on_hold", "cancelled", "returned", "partially_returned"),
    }
    assert {s.value for s in DispatchStatus} == {
        *("queued", "sent", "acknowledged", "partially_shipped", "shipped"),
        *("recall_requested", "recall_sent", "recalled"),
    }
    assert {s.value for s in MessageState} == {"pending", "delivered", "failed"}
    assert {s.value for s in AlertState} == {"open", "acknowledged", "resolved"}
    assert {s.value for s in RunStatus} == {
        "running",
        "ok",
        "held",
        "failed",
        "stopped",
        "busy",
        "interrupted",
    }


def test_a_status_is_its_string_in_comparisons_json_and_text() -> None:
    assert OrderStatus.ON_HOLD == "on_hold"
    assert "on_hold" in {OrderStatus.ON_HOLD}
    assert json.dumps({"status": RunStatus.OK}) == '{"status": "ok"}'
    assert f"{DispatchStatus.RECALL_SENT}" == str(DispatchStatus.RECALL_SENT) == "recall_sent"


def test_groups_and_ranks() -> None:
    assert DISPATCH_UNACKNOWLEDGED == ("queued", "sent")
    assert DISPATCH_RECALLABLE == ("queued", "sent", "acknowledged")
    assert DISPATCH_TO_SHIP == ("queued", "sent", "acknowledged", "partially_shipped")
    assert [SEVERITY_RANK[s] for s in ("info", "warning", "critical", "out_of_stock")] == [0, 1, 2, 3]
    assert SEVERITY_RANK[AlertSeverity.OUT_OF_STOCK] == 3
