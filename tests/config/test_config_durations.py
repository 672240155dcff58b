"""Durations and cron lines: parsing, formatting, and the problems they give in a file."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config import format_duration, parse_duration
from config.durations import check_cron


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("1d", 86400),
        ("1h30m", 5400),
        ("0s", 0),
        (" 2d3h4m5s ", 183845),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must not be empty"),
        ("5", "invalid duration '5'"),
        ("5 minutes", "invalid duration '5 minutes'"),
        ("1.5h", "invalid duration '1.5h'"),
        ("30m1h", "largest first"),
        ("-5m", "invalid duration '-5m'"),
        ("5M", "invalid duration '5M'"),
    ],
)
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)


@pytest.mark.parametrize("seconds", [0, 1, 59, 60, 90, 3600, 5400, 86400, 90061])
def test_format_duration_reads_back(seconds: int) -> None:
    text = format_duration(timedelta(seconds=seconds))
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_format_duration_is_short() -> None:
    assert format_duration(timedelta(minutes=90)) == "1h30m"
    assert format_duration(timedelta(0)) == "0s"
    with pytest.raises(ValueError, match="whole, non-negative seconds"):
        format_duration(timedelta(milliseconds=1500))


def test_check_cron() -> None:
    assert check_cron("0  6 * *   1-5") == "0 6 * * 1-5"
    with pytest.raises(ValueError, match="'0 6 \\* \\*' has 4"):
        check_cron("0 6 * *")
    with pytest.raises(ValueError, match="has 6"):
        check_cron("0 0 6 * * 1")
    with pytest.raises(ValueError, match="invalid cron line '0 25 \\* \\* \\*'"):
        check_cron("0 25 * * *")
    with pytest.raises(ValueError, match="invalid cron line"):
        check_cron("0 6 * nope *")


STREAMS = """\
connectors:
  - name: shop
    kind: shop
    settings: {{shop_domain: a.example, token: secret-1}}
    streams:
{streams}
"""


def _file(*streams: str) -> str:
    return STREAMS.format(streams="\n".join(f"      {line}" for line in streams))


def test_stream_schedules(load) -> None:
    cfg = load(
        _file("orders: {every: 5m, lag: 2m, staleness: 1h}", "stock: {cron: '*/15 * * * *'}", "refunds: {}")
    )
    streams = cfg.connectors[0].streams
    assert streams["orders"].every == timedelta(minutes=5)
    assert streams["orders"].lag == timedelta(minutes=2)
    assert streams["orders"].staleness == timedelta(hours=1)
    assert streams["orders"].jitter == timedelta(seconds=10)
    assert streams["stock"].cron == "*/15 * * * *"
    assert streams["stock"].every is None
    assert (streams["refunds"].every, streams["refunds"].cron) == (None, None)  # by hand only
    assert streams["refunds"].lag == timedelta(0)
    assert streams["refunds"].enabled
    assert streams["orders"].model_dump(mode="json")["every"] == "5m"


def test_stream_schedule_problems(problems) -> None:
    found = problems(
        _file(
            "a: {every: 5m, cron: '0 * * * *'}",
            "b: {every: 5}",
            "c: {every: 0s}",
            "d: {cron: '0 6 * *'}",
            "e: {lag: 1 hour}",
            "f: {jitter: [1]}",
        )
    )
    assert [p.split(": ")[0] for p in found] == [
        "erpsync.yaml:6 connectors[0].streams.a",
        "erpsync.yaml:7 connectors[0].streams.b.every",
        "erpsync.yaml:8 connectors[0].streams.c.every",
        "erpsync.yaml:9 connectors[0].streams.d.cron",
        "erpsync.yaml:10 connectors[0].streams.e.lag",
        "erpsync.yaml:11 connectors[0].streams.f.jitter",
    ]
    assert found[0].endswith("give either every or cron, not both")
    assert "a duration needs a unit: write 5s, 5m" in found[1]
    assert "every must be longer than 0s" in found[2]
    assert "a cron line has 5 fields" in found[3]
    assert "invalid duration '1 hour'" in found[4]
    assert "a duration must be text" in found[5]


def test_unknown_stream_key_is_on_its_own_line(problems) -> None:
    text = _file("orders:", "  every: 5m", "  evry: 10m")
    assert problems(text) == [
        "erpsync.yaml:8 connectors[0].streams.orders.evry: extra inputs are not permitted "
        "(unknown key: check its spelling and indentation)"
    ]
