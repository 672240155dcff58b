"""Mapping preview: what a field map makes of sample payloads, one row per payload.

:func:`preview` is pure: it maps each payload with a :class:`~mapping.pipeline.Mapper` and
gives a :class:`PreviewRow` with the canonical record (as JSON-ready data) or the reason it
was refused. :func:`load_sample` reads the payloads from a JSON file: a list of records, or an
object holding them (picked with a JMESPath ``record_path``, or found when the object has a
single key whose value is a list of objects, as in ``{"orders": [...]}``; any other object is
one record). Problems with the file raise ``ValueError`` naming it.

>>> from mapping.fieldmap import FieldMap
>>> from mapping.pipeline import Mapper
>>> from mapping.records import StockLevel
>>> fieldmap = FieldMap.compile({"sku": "code", "location": {"const": "WH1"}, "on_hand": "qty"}, StockLevel)
>>> rows = preview([{"code": "A-1", "qty": 5}, {"code": "B-2"}], Mapper(StockLevel, fieldmap),
...                key_of=lambda raw: raw["code"])
>>> rows[0].record
{'sku': 'A-1', 'location': 'WH1', 'on_hand': 5, 'as_of': None}
>>> rows[1].reason
'missing_field: on_hand: field required (path "qty" gave nothing)'
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from core.errors import RecordError
from mapping.pipeline import KeyOf, Mapper

__all__ = ["PreviewRow", "load_sample", "preview"]


@dataclass(frozen=True, slots=True)
class PreviewRow:
    """One previewed payload: its key, and the record or the reason it was refused."""

    key: str
    ok: bool
    record: dict[str, Any] | None
    reason: str | None


def _reason(error: RecordError) -> str:
    text = f"{error.code}: {error.message}"
    return f"{text} — {error.hint}" if error.hint else text


def preview(raws: Iterable[dict[str, Any]], mapper: Mapper, key_of: KeyOf) -> list[PreviewRow]:
    """Return a row per payload, in order: the mapped record or why it was refused."""
    rows = []
    for raw in raws:
        key = key_of(raw)
        try:
            record = mapper.map_one(raw)
        except RecordError as error:
            rows.append(PreviewRow(key, False, None, _reason(error)))
        else:
            rows.append(PreviewRow(key, True, record.model_dump(mode="json"), None))
    return rows


def _records_in(data: Any, record_path: str | None, path: Path) -> Any:
    if record_path is not None:
        try:
            return jmespath.search(record_path, data)
        except JMESPathError as exc:
            reason = str(exc).splitlines()[0]
            raise ValueError(f"{path}: record_path {record_path!r} is not valid JMESPath: {reason}") from None
    if isinstance(data, dict) and len(data) == 1:
        (inner,) = data.values()
        if isinstance(inner, list) and all(isinstance(item, dict) for item in inner):
            return inner
    return data


def load_sample(path: str | Path, record_path: str | None = None) -> list[dict[str, Any]]:
    """Return the sample payloads of a JSON file (see the module docstring for the shapes)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the sample ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    records = _records_in(data, record_path, path)
    if isinstance(records, dict):
        records = [records]
    where = f"record_path {record_path!r}" if record_path else "the file"
    if not isinstance(records, list):
        found = "nothing" if records is None else f"a {type(records).__name__}"
        raise ValueError(f"{path}: {where} gave {found}; expected a list of objects or one object")
    for index, item in enumerate(records):
        if not isinstance(item, dict):
            raise ValueError(f"{path}: record {index} from {where} is a {type(item).__name__}, not an object")
    return records
