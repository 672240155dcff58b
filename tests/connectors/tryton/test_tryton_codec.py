"""Tryton's JSON encoding and error envelope, without a server."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

import pytest

from connectors.tryton import decode, encode, rpc_error, whole
from core.errors import AuthError, PermanentError, RetriableError


def test_values_travel_as_tryton_objects_and_back() -> None:
    values = {
        "at": datetime(2026, 11, 21, 22, 44, 4, 406938),
        "on": date(2026, 1, 2),
        "price": Decimal("1.10"),
    }
    text = json.dumps(values, default=encode)
    assert json.loads(text)["price"] == {"__class__": "Decimal", "decimal": "1.10"}
    assert json.loads(text)["at"]["microsecond"] == 406938
    assert json.loads(text, object_hook=decode) == values
    assert decode({"__class__": "bytes", "base64": ""}) == {"__class__": "bytes", "base64": ""}
    with pytest.raises(TypeError, match="cannot send set"):
        json.dumps({1}, default=encode)


@pytest.mark.parametrize(
    ("error", "kind", "text"),
    [
        (
            ["UserError", ['You are trying to read records "9" of "Product" that don\'t exist.', "", None]],
            PermanentError,
            "that don't exist",
        ),
        (["UserError", ['You are not allowed to access "Product".', "", None]], AuthError, "not allowed"),
        (["ConcurrencyException", "Records were modified in the meanwhile"], RetriableError, "meanwhile"),
        (["UserWarning", ["w1", "Check the quantities", ""]], PermanentError, "w1"),
        (["database is locked", "Traceback ..."], RetriableError, "failed on the server: database is locked"),
    ],
)
def test_rpc_errors_map_to_the_error_tree(error: list[object], kind: type[Exception], text: str) -> None:
    mapped = rpc_error("model.product.product.read", error)
    assert type(mapped) is kind
    assert text in str(mapped)
    assert "Traceback" not in str(mapped)


def test_whole_quantities_become_ints_others_stay() -> None:
    assert (whole(10.0), whole(None), whole(-3.0)) == (10, 0, -3)
    assert whole(2.5) == 2.5
    assert isinstance(whole(10.0), int)
