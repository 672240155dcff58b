"""FileDropConnector under the shared connector contract (tests/connectors/contract.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

from connectors.filedrop import LEDGER, FileDropConnector, FileDropSettings
from core.errors import PermanentError
from tests.connectors.contract import check_error_mapping, check_stream
from tests.connectors.filedrop.files import COLUMNS, HEADER, write_csv, write_xlsx


def build(folder: Path) -> FileDropConnector:
    settings = FileDropSettings(folder=folder, columns=COLUMNS, required=["sku", "location"], min_age_s=0)
    return FileDropConnector("south", settings)


def test_reads_keep_the_contract(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()

    def serve(run: int, cursor: str | None) -> None:
        if run == 0:
            write_csv(drop / "a.csv", [HEADER, ["A-1", "WH-A", 1, ""], ["A-2", "WH-A", 2, ""]], age_s=20)
            write_xlsx(drop / "b.xlsx", [HEADER, ["B-1", "WH-B", 3, None]], age_s=10)
            shutil.copy(drop / "a.csv", tmp_path / "a-copy.csv")
        else:
            write_csv(drop / "c.csv", [HEADER, ["C-1", "WH-A", 4, ""]], encoding="gbk")
            shutil.copy(tmp_path / "a-copy.csv", drop / "a again.csv")  # never imported twice

    first, second = check_stream(build(drop), "stock", serve)
    assert [p.meta["file"] for p in first] == ["a.csv", "b.xlsx"]
    assert [p.meta["file"] for p in second] == ["c.csv"]


def test_folder_trouble_maps_onto_the_error_tree(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()

    def serve_status(status: int) -> None:
        if status == 404:  # the share is not mounted
            drop.rename(tmp_path / "elsewhere")
        else:  # someone edited the ledger by hand
            (tmp_path / "elsewhere").rename(drop)
            (drop / LEDGER).write_text("{not json\n")

    check_error_mapping(
        build(drop), "stock", serve_status, cases=((404, PermanentError), (409, PermanentError))
    )
