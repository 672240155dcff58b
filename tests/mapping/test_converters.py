"""Converters: good and bad input for each, and compile-time refusal of bad specs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from mapping.converters import CONVERTER_NAMES, compile_converter, compile_converters


def conv(spec: Any) -> Any:
    return compile_converter(spec)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12", 12),
        (12, 12),
        (12.0, 12),
        ("12.00", 12),
        (" -3 ", -3),
        (Decimal("7"), 7),
        ("", None),
        (None, None),
    ],
)
def test_int_accepts_whole_numbers(value: Any, expected: int | None) -> None:
    assert conv("int")(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (12.5, "not a whole number"),
        ("12.5", "not a whole number"),
        ("abc", "not a number"),
        (True, "boolean"),
        ([1], "expected a number"),
        ("nan", "not a finite number"),
    ],
)
def test_int_refuses_fractions_and_junk(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        conv("int")(value)


def test_decimal_keeps_exact_values() -> None:
    assert conv("decimal")("199.00") == Decimal("199.00")
    assert conv("decimal")(0.1) == Decimal("0.1")
    assert conv("decimal")(3) == Decimal(3)
    with pytest.raises(ValueError, match="not a number"):
        conv("decimal")("12,5")


def test_text_converters() -> None:
    assert conv("str")(123) == "123"
    assert conv("str")(Decimal("1.50")) == "1.50"
    assert conv("strip")("  A-1 \t") == "A-1"
    assert conv("upper")("wh1") == "WH1"
    assert conv("lower")("PAID") == "paid"
    with pytest.raises(ValueError, match="expected a scalar"):
        conv("str")({"a": 1})
    with pytest.raises(ValueError, match="expected text, got int"):
        conv("strip")(5)


@pytest.mark.parametrize("word", ["true", "TRUE", "1", "yes", "Y", "on", "t", 1, True])
def test_bool_true_words(word: Any) -> None:
    assert conv("bool")(word) is True


@pytest.mark.parametrize("word", ["false", "0", "No", "n", "off", 0, False])
def test_bool_false_words(word: Any) -> None:
    assert conv("bool")(word) is False


@pytest.mark.parametrize("word", ["maybe", 2, 1.5])
def test_bool_refuses_other_values(word: Any) -> None:
    with pytest.raises(ValueError, match="not a yes/no value"):
        conv("bool")(word)


def test_datetime_iso_keeps_offset() -> None:
    value = conv("datetime")("2008-01-10T11:00:00-05:00")
    assert value.astimezone(UTC) == datetime(2008, 1, 10, 16, 0, tzinfo=UTC)
    assert conv("datetime")("2024-05-01T02:00:00Z") == datetime(2024, 5, 1, 2, 0, tzinfo=UTC)


def test_datetime_tz_applies_to_naive_values_only() -> None:
    shanghai = conv({"datetime": {"tz": "Asia/Shanghai", "format": "%Y-%m-%d %H:%M:%S"}})
    assert shanghai("2024-05-01 10:00:00").astimezone(UTC) == datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
    iso = conv({"datetime": {"tz": "Asia/Shanghai"}})
    assert iso("2024-05-01T10:00:00+00:00").utcoffset() == timedelta(0)


def test_datetime_without_tz_leaves_naive_values_naive() -> None:
    assert conv("datetime")("2024-05-01 10:00:00").tzinfo is None


def test_datetime_epoch_seconds_and_milliseconds() -> None:
    expected = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
    assert conv({"datetime": {"epoch": "s"}})(1714528800) == expected
    assert conv({"datetime": {"epoch": "s"}})("1714528800") == expected
    assert conv({"datetime": {"epoch": "ms"}})(1714528800123) == expected + timedelta(milliseconds=123)


def test_datetime_bad_values() -> None:
    with pytest.raises(ValueError, match="not an ISO 8601 datetime"):
        conv("datetime")("yesterday")
    with pytest.raises(ValueError, match="does not match '%d/%m/%Y'"):
        conv({"datetime": {"format": "%d/%m/%Y"}})("2024-05-01")
    with pytest.raises(ValueError, match="set epoch"):
        conv("datetime")(1714528800)


def test_date() -> None:
    assert conv("date")("2024-05-01") == date(2024, 5, 1)
    assert conv("date")("2024-05-01T23:00:00+08:00") == date(2024, 5, 1)
    assert conv({"date": {"format": "%Y%m%d"}})("20240501") == date(2024, 5, 1)
    with pytest.raises(ValueError, match="not an ISO 8601 date"):
        conv("date")("May 1st")


def test_lookup_with_default() -> None:
    status = conv({"lookup": {"table": {"1": "paid", "2": "refunded"}, "default": "open"}})
    assert status("1") == "paid"
    assert status(2) == "refunded"  # keys compare as text
    assert status("9") == "open"


def test_lookup_without_default_names_the_value() -> None:
    status = conv({"lookup": {"table": {"paid": "paid"}}})
    with pytest.raises(ValueError, match="'voided' is not in the lookup table"):
        status("voided")


def test_lookup_default_may_be_none() -> None:
    assert conv({"lookup": {"table": {"a": 1}, "default": None}})("b") is None


def test_default_fills_none_and_blank() -> None:
    fill = conv({"default": "WH1"})
    assert fill(None) == "WH1"
    assert fill("") == "WH1"
    assert fill("WH2") == "WH2"
    chain = compile_converters(["int", {"default": 0}])
    value: Any = None
    for converter in chain:
        if value is not None or converter.accepts_none:
            value = converter(value)
    assert value == 0


def test_unit_factor_multiplies() -> None:
    kg_to_g = conv({"unit": {"factor": 1000}})
    assert kg_to_g("1.5") == 1500
    assert isinstance(kg_to_g("1.5"), int)
    assert kg_to_g(2) == 2000
    assert conv({"unit": {"factor": 6}})("2") == 12
    assert conv({"unit": {"factor": "0.5"}})(3) == Decimal("1.5")


def test_unit_divide_checks_exactness() -> None:
    g_to_kg = conv({"unit": {"divide": 1000}})
    assert g_to_kg(3000) == 3
    with pytest.raises(ValueError, match="1500 / 1000 is not a whole number"):
        g_to_kg(1500)


def test_fen_to_yuan() -> None:
    assert conv("fen")(1234) == Decimal("12.34")
    assert conv("fen")("100") == Decimal("1.00")
    with pytest.raises(ValueError, match="not a whole number"):
        conv("fen")("12.5")


def test_split_and_join() -> None:
    assert conv("split")("a, b,,c") == ["a", "b", "c"]
    assert conv({"split": {"sep": "|"}})("x|y") == ["x", "y"]
    assert conv({"join": {"sep": "/"}})(["a", 1]) == "a/1"
    with pytest.raises(ValueError, match="expected a list"):
        conv("join")("abc")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("integer", "unknown converter 'integer'"),
        ({"int": {"base": 16}}, "converter 'int' takes no options"),
        ({"lookup": {}}, "converter 'lookup': table: option required"),
        ({"unit": {}}, "give exactly one of factor or divide"),
        ({"unit": {"factor": 6, "divide": 2}}, "give exactly one of factor or divide"),
        ({"unit": {"factor": -1}}, "must be positive"),
        ({"datetime": {"tz": "Mars/Olympus"}}, "unknown time zone 'Mars/Olympus'"),
        ({"datetime": {"fmt": "%Y"}}, r"fmt: unknown option \(allowed: format, tz, epoch\)"),
        ({"datetime": {"epoch": "us"}}, "epoch"),
        ({"int": None, "str": None}, "one-key mapping"),
        ({"default": {}}, "needs a value"),
    ],
)
def test_bad_specs_fail_at_compile_time(spec: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_converter(spec)


def test_every_documented_converter_is_known() -> None:
    documented = {
        "int",
        "decimal",
        "str",
        "strip",
        "upper",
        "lower",
        "bool",
        "datetime",
        "date",
        "lookup",
        "default",
        "unit",
        "fen",
        "split",
        "join",
    }
    assert documented == CONVERTER_NAMES


def test_int_refuses_absurd_exponents_quickly() -> None:
    with pytest.raises(ValueError, match="more than 40 digits"):
        conv("int")("1e999999999")
