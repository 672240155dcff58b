"""Dropped files landed by the real engine: good rows land, bad ones are reported, each file once."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from connectors import filedrop
from connectors.filedrop import FileDropConnector, FileDropSettings
from mapping.fieldmap import FieldMap
from mapping.pipeline import Mapper
from mapping.records import StockLevel
from store.locations import LocationSpec, apply_locations
from store.models import Location, Quarantine, StockMovement
from store.models import StockLevel as StockRow
from sync.engine import RunResult, StreamJob, run_stream
from sync.mapper import StreamMapper
from tests.connectors.filedrop.files import COLUMNS, HEADER, report, write_csv, write_xlsx

STOCK_MAP = {"sku": "sku", "location": "location", "on_hand": {"path": "qty", "convert": ["int"]}}


@pytest.fixture
def store(store_engine: Engine) -> Engine:
    apply_locations(
        store_engine,
        [LocationSpec("WH-A", "South A", "distributor"), LocationSpec("WH-B", "South B", "distributor")],
    )
    return store_engine


@pytest.fixture
def job(tmp_path: Path) -> StreamJob:
    settings = FileDropSettings(
        folder=tmp_path, columns=COLUMNS, required=["sku", "location", "qty"], numeric=["qty"], min_age_s=0
    )
    mapper = Mapper(StockLevel, FieldMap.compile(STOCK_MAP, StockLevel))
    return StreamJob(
        FileDropConnector("south", settings), "stock", StreamMapper("south", mapper, ("sku", "location"))
    )


def levels(store: Engine) -> dict[tuple[str, str], int]:
    with store.connect() as conn:
        rows = conn.execute(
            select(StockRow.sku, Location.code, StockRow.on_hand).join(
                Location, Location.id == StockRow.location_id
            )
        )
        return {(sku, code): on_hand for sku, code, on_hand in rows}


def moves(store: Engine) -> int:
    with store.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(StockMovement)).scalar_one())


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def test_good_rows_land_bad_rows_are_reported_and_quarantined(
    tmp_path: Path, store: Engine, job: StreamJob
) -> None:
    rows: list[list[Any]] = [
        HEADER,
        ["A-1", "WH-A", 12, None],
        ["A-2", "WH-B", "1,200", "thousands"],
        ["A-3", None, 5, "no warehouse"],
        ["A-4", "WH-A", "十", "not a number"],
    ]
    write_xlsx(tmp_path / "south.xlsx", rows)

    first = run_stream(store, job)
    assert (first.status, first.pages, first.records_in, first.changed, first.quarantined) == (
        "ok",
        1,
        4,
        2,
        2,
    )
    assert levels(store) == {("A-1", "WH-A"): 12, ("A-2", "WH-B"): 1200}
    with store.connect() as conn:
        reasons = sorted(conn.execute(select(Quarantine.reason_code, Quarantine.reason)).tuples().all())
    assert [code for code, _ in reasons] == ["invalid", "missing_field"]
    assert "location" in reasons[1][1]
    (errors,) = (tmp_path / "done").glob("*.errors.csv")
    assert report(errors) == [
        ["4", "仓库", "", "required value is empty"],
        ["5", "数量", "十", "not a number"],
    ]

    # the run after the import sees the cursor past the file: it is filed, not read again
    second = run_stream(store, job)
    assert (second.status, second.pages, second.records_in) == ("ok", 0, 0)
    assert names(tmp_path) == []
    assert sorted(p.suffix for p in (tmp_path / "done").iterdir()) == [".csv", ".xlsx"]
    assert errors.name == next((tmp_path / "done").glob("*.xlsx")).name + ".errors.csv"


def test_the_same_file_dropped_again_even_renamed_is_never_imported_twice(
    tmp_path: Path, store: Engine, job: StreamJob
) -> None:
    original = write_csv(tmp_path / "库存.csv", [HEADER, ["A-1", "WH-A", 7, ""]], encoding="gbk")
    kept = tmp_path.parent / "kept.csv"
    shutil.copy(original, kept)
    run_stream(store, job)
    assert levels(store) == {("A-1", "WH-A"): 7}
    run_stream(store, job)  # files it
    landed = moves(store)

    # the stock changed at the store since; the old list comes again under two names
    with store.begin() as conn:
        conn.execute(StockRow.__table__.update().values(on_hand=3))
    shutil.copy(kept, tmp_path / "库存.csv")
    shutil.copy(kept, tmp_path / "库存 (1).csv")
    again = run_stream(store, job)
    assert (again.pages, again.records_in) == (0, 0)
    assert levels(store) == {("A-1", "WH-A"): 3}
    assert moves(store) == landed
    assert names(tmp_path) == []

    # new bytes are a new list
    write_csv(tmp_path / "库存.csv", [HEADER, ["A-1", "WH-A", 9, ""]], encoding="gbk")
    assert run_stream(store, job).records_in == 1
    assert levels(store) == {("A-1", "WH-A"): 9}


class Crash(Exception):
    pass


def test_a_crash_after_the_commit_neither_imports_twice_nor_loses_a_file(
    tmp_path: Path, store: Engine, job: StreamJob
) -> None:
    write_csv(tmp_path / "monday.csv", [HEADER, ["A-1", "WH-A", 10, ""], ["A-2", "WH-A", 20, ""]], age_s=60)
    write_csv(tmp_path / "tuesday.csv", [HEADER, ["A-1", "WH-A", 11, ""]], age_s=30)

    def crash_after_first_file(result: RunResult) -> None:
        if result.pages == 1:
            raise Crash("killed after monday.csv committed")

    with pytest.raises(Crash):
        run_stream(store, job, on_page=crash_after_first_file)
    assert levels(store) == {("A-1", "WH-A"): 10, ("A-2", "WH-A"): 20}
    assert names(tmp_path) == ["monday.csv", "tuesday.csv"]  # nothing filed yet
    landed = moves(store)

    rerun = run_stream(store, job)
    assert (rerun.status, rerun.pages, rerun.records_in) == (
        "ok",
        1,
        1,
    )  # tuesday only: monday is not read again
    assert moves(store) == landed + 1
    assert levels(store) == {("A-1", "WH-A"): 11, ("A-2", "WH-A"): 20}
    assert names(tmp_path) == ["tuesday.csv"]

    run_stream(store, job)
    assert names(tmp_path) == []
    assert [p.name.split(".")[0] for p in sorted((tmp_path / "done").iterdir())] == ["monday", "tuesday"]


def test_a_move_that_fails_is_tried_again_without_importing_again(
    tmp_path: Path, store: Engine, job: StreamJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_csv(tmp_path / "south.csv", [HEADER, ["A-1", "WH-A", 4, ""]], encoding="utf-8")
    assert run_stream(store, job).records_in == 1

    def open_in_excel(source: Path, target: Path) -> None:
        raise PermissionError(f"{source} is being used by another process")

    monkeypatch.setattr(filedrop, "move_file", open_in_excel)
    blocked = run_stream(store, job)
    assert (blocked.status, blocked.records_in) == ("ok", 0)
    assert names(tmp_path) == ["south.csv"]

    monkeypatch.undo()
    again = run_stream(store, job)
    assert (again.status, again.records_in) == ("ok", 0)
    assert names(tmp_path) == []
    assert len(list((tmp_path / "done").glob("south.*.csv"))) == 1
    assert moves(store) == 1


def test_an_unreadable_file_is_set_aside_and_the_others_land(
    tmp_path: Path, store: Engine, job: StreamJob
) -> None:
    write_csv(tmp_path / "a.csv", [["物料", "仓库"], ["A-1", "WH-A"]], age_s=20)
    write_csv(tmp_path / "b.csv", [HEADER, ["B-1", "WH-B", 2, ""]], age_s=10)
    result = run_stream(store, job)
    assert (result.status, result.pages, result.records_in) == ("ok", 1, 1)
    assert levels(store) == {("B-1", "WH-B"): 2}
    (errors,) = (tmp_path / "failed").glob("a.*.csv.errors.csv")
    assert report(errors) == [["", "物料编码", "", "missing column 物料编码 (for sku) in row 1"]]


def test_a_dangling_link_is_reported_and_the_good_file_lands(
    tmp_path: Path, store: Engine, job: StreamJob
) -> None:
    write_csv(tmp_path / "good.csv", [HEADER, ["A-1", "WH-A", 5, ""]])
    (tmp_path / "broken.csv").symlink_to(tmp_path / "deleted-meanwhile.csv")

    result = run_stream(store, job)
    assert (result.status, result.records_in) == ("ok", 1)
    assert levels(store) == {("A-1", "WH-A"): 5}
    (reported,) = (tmp_path / "failed").glob("broken.*.csv.errors.csv")
    ((row, _column, value, problem),) = report(reported)
    assert (row, value) == ("", "broken.csv")
    assert "symbolic link to nothing" in problem

    again = run_stream(store, job)  # the link stays, reported once, and blocks nothing
    assert again.status == "ok"
    assert (tmp_path / "broken.csv").is_symlink()
    assert len(list((tmp_path / "failed").iterdir())) == 1
