"""SKU bindings: an external system's SKU and unit mapped to ours.

A :class:`SkuBinding` says that ``external_sku`` in ``system`` is our ``sku``, and that one
external unit is ``uom_factor`` base units (a channel selling packs of 6 has factor 6). Both
SKUs follow the key rule of :mod:`mapping.records` (surrounding whitespace dropped, control
characters refused), wherever a binding comes from. A :class:`Binder` applies the bindings of
one system to canonical records: SKUs are rewritten, quantities multiplied by the factor and unit
prices divided by it.

Units: a stock quantity may arrive as a decimal (12.5 kg); the factor must make it a whole number
of base units (``uom_factor: 1000`` counts kg as g: 12500). One that stays fractional is refused
with ``RecordError(code="fractional_qty")`` naming the value, the SKU, its unit and the fix.

Modes: ``identity`` uses a binding where one exists and keeps the SKU as it is otherwise;
``bound`` demands a binding for every SKU and raises ``RecordError(code="unmapped_sku")``
naming ``system:external_sku`` when there is none.

The engine loads only the bindings a page needs: :func:`external_skus` lists the SKUs of a page
of records or canonical dicts. :func:`read_bindings_csv` reads a bindings file
(``system,external_sku,sku,uom_factor``) and reports every bad row at once as ``ValueError``
lines ``FILE:LINE column: message``.

>>> binder = Binder("shopify", {"P6": SkuBinding("shopify", "P6", "A-1", 6)}, "bound")
>>> binder.resolve("P6")
('A-1', 6)
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from core.errors import RecordError
from mapping.records import (
    Order,
    OrderLine,
    Product,
    Record,
    Shipment,
    ShipmentLine,
    StockLevel,
    StockMove,
    normalise_key,
)

__all__ = [
    "Binder",
    "BindingMode",
    "SkuBinding",
    "external_skus",
    "fractional_skus",
    "has_fraction",
    "read_bindings_csv",
]

BindingMode = Literal["identity", "bound"]
_SKU_MAX = 64
_MAX_DIGITS = 40  # a quantity beyond any column: refused before building a huge int
_COLUMNS = ("system", "external_sku", "sku", "uom_factor")


@dataclass(frozen=True, slots=True)
class SkuBinding:
    """``external_sku`` of ``system`` is our ``sku``; one external unit is ``uom_factor`` base units."""

    system: str
    external_sku: str
    sku: str
    uom_factor: int = 1

    def __post_init__(self) -> None:
        for name in ("system", "external_sku", "sku"):
            value = getattr(self, name)
            if isinstance(value, str):
                # the key rule of mapping.records: "A1 " is "A1" on every backend
                try:
                    value = normalise_key(value)
                except ValueError as exc:
                    raise ValueError(f"{name} {value!r} {exc}") from None
                object.__setattr__(self, name, value)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be non-empty text, got {value!r}")
        if len(self.sku) > _SKU_MAX:
            raise ValueError(f"sku is longer than {_SKU_MAX} characters: {self.sku!r}")
        factor = self.uom_factor
        if isinstance(factor, bool) or not isinstance(factor, int) or factor <= 0:
            raise ValueError(f"uom_factor must be a positive whole number, got {factor!r}")


class Binder:
    """Applies one system's SKU bindings to canonical records.

    ``units`` (our SKU -> the product's unit) only makes messages clearer: a stock quantity that
    is not a whole number of base units after the factor is refused naming its unit.
    """

    def __init__(
        self,
        system: str,
        bindings: Mapping[str, SkuBinding],
        mode: BindingMode = "identity",
        units: Mapping[str, str] | None = None,
    ) -> None:
        if mode not in ("identity", "bound"):
            raise ValueError(f"binding mode must be 'identity' or 'bound', got {mode!r}")
        for external_sku, binding in bindings.items():
            if binding.system != system or binding.external_sku != external_sku:
                raise ValueError(f"binding {binding!r} is filed under {system}:{external_sku}")
        self.system = system
        self.bindings = bindings
        self.mode = mode
        self.units = units or {}

    def resolve(self, external_sku: str) -> tuple[str, int]:
        """Return ``(sku, uom_factor)`` for an external SKU; ``RecordError`` when bound and unknown."""
        binding = self.bindings.get(external_sku)
        if binding is not None:
            return binding.sku, binding.uom_factor
        if self.mode == "identity":
            return external_sku, 1
        raise RecordError(
            f"no SKU binding for {self.system}:{external_sku}; "
            "add it with `erpsync mapping import-skus` or in the config",
            code="unmapped_sku",
            field="sku",
        )

    def apply(self, record: Record) -> Record:
        """Return the record with our SKUs and quantities in base units (unchanged if none apply)."""
        if self.mode == "identity" and not self.bindings and not has_fraction(record):
            return record
        if isinstance(record, StockLevel | StockMove | Product):
            return self._bind_item(record)
        if isinstance(record, Order):
            lines = tuple(self._bind_line(line, index) for index, line in enumerate(record.lines))
            return record.model_copy(update={"lines": lines})
        if isinstance(record, Shipment):
            shipped = tuple(self._bind_line(line, index) for index, line in enumerate(record.lines))
            return record.model_copy(update={"lines": shipped})
        return record

    def _resolve(self, external_sku: str, field: str) -> tuple[str, int]:
        try:
            return self.resolve(external_sku)
        except RecordError as exc:
            exc.field = field
            raise

    def _bind_item(self, record: StockLevel | StockMove | Product) -> Record:
        sku, factor = self._resolve(record.sku, "sku")
        if sku == record.sku and factor == 1 and not has_fraction(record):
            return record
        update: dict[str, Any] = {"sku": sku}
        if isinstance(record, StockLevel):
            update["on_hand"] = self._base_units("on_hand", record.on_hand, record.sku, sku, factor)
        elif isinstance(record, StockMove):
            update["delta"] = self._base_units("delta", record.delta, record.sku, sku, factor)
        return record.model_copy(update=update)

    def _base_units(self, field: str, qty: int | Decimal, external_sku: str, sku: str, factor: int) -> int:
        """The quantity in whole base units; ``RecordError`` saying how to fix a fraction."""
        units = qty * factor
        if isinstance(units, int):
            return units
        if units.adjusted() > _MAX_DIGITS:
            raise RecordError(f"{field}: {qty} is out of range", code="out_of_range", field=field)
        if units == units.to_integral_value():
            return int(units)
        unit = self.units.get(sku)
        counted = f"{qty} {unit}" if unit else f"{qty}"
        times = f" x uom_factor {factor} = {units}" if factor != 1 else ""
        raise RecordError(
            f"{field}: {counted} of SKU {sku}{times} is not a whole number of base units; stock is "
            f"counted in whole base units: bind {self.system}:{external_sku} with a uom_factor that "
            "makes it whole (1000 counts kg as g) with `erpsync mapping import-skus` or sku_bindings "
            "in the config, and give the product the base unit",
            code="fractional_qty",
            field=field,
        )

    def _bind_line(self, line: OrderLine | ShipmentLine, index: int) -> OrderLine | ShipmentLine:
        sku, factor = self._resolve(line.sku, f"lines[{index}].sku")
        if sku == line.sku and factor == 1:
            return line
        update: dict[str, Any] = {"sku": sku, "qty": line.qty * factor}
        if isinstance(line, OrderLine):
            update["unit_price"] = line.unit_price / factor
        return line.model_copy(update=update)


def has_fraction(record: Record) -> bool:
    """Whether a stock record's quantity is not (yet) a whole number."""
    qty = record.on_hand if isinstance(record, StockLevel) else getattr(record, "delta", None)
    return isinstance(qty, Decimal)


def fractional_skus(records: Iterable[Record]) -> set[str]:
    """The SKUs of stock records whose quantity is not (yet) a whole number."""
    return {r.sku for r in records if isinstance(r, StockLevel | StockMove) and has_fraction(r)}


def external_skus(items: Iterable[Record | Mapping[str, Any]]) -> set[str]:
    """Return every SKU named by records or canonical dicts (top-level ``sku`` and ``lines[].sku``)."""
    found: set[str] = set()
    for item in items:
        if isinstance(item, Record):
            sku = getattr(item, "sku", None)
            lines = getattr(item, "lines", ())
        else:
            sku = item.get("sku")
            lines = item.get("lines") or ()
        if isinstance(sku, str):
            found.add(sku)
        for line in lines:
            line_sku = line.get("sku") if isinstance(line, Mapping) else getattr(line, "sku", None)
            if isinstance(line_sku, str):
                found.add(line_sku)
    return found


def _parse_row(row: Mapping[str, Any], default_system: str | None) -> tuple[SkuBinding | None, list[str]]:
    """Return the binding of one CSV row, or the problems as ``column: message`` texts."""
    problems: list[str] = []
    if row.get(None):  # type: ignore[call-overload]  # csv files extra values under the None key
        problems.append("row: more values than header columns")
    values = {}
    for column in _COLUMNS:
        raw = row.get(column)
        values[column] = raw.strip() if isinstance(raw, str) else None
    if not values["system"]:
        values["system"] = default_system
        if default_system is None:
            problems.append("system: empty (and no default system given)")
    for column in ("external_sku", "sku"):
        if values[column] is None:
            problems.append(f"{column}: missing value")
        elif not values[column]:
            problems.append(f"{column}: empty")
        else:
            try:
                normalise_key(str(values[column]))
            except ValueError as exc:
                problems.append(f"{column}: {exc}")
    sku = values["sku"] or ""
    if len(sku) > _SKU_MAX:
        problems.append(f"sku: longer than {_SKU_MAX} characters")
    factor_text = values["uom_factor"] or "1"
    factor = int(factor_text) if factor_text.isdecimal() else 0
    if factor <= 0:
        problems.append(f"uom_factor: {factor_text!r} is not a positive whole number")
    if problems:
        return None, problems
    return SkuBinding(str(values["system"]), str(values["external_sku"]), sku, factor), []


def _check_header(fieldnames: Sequence[str] | None, default_system: str | None) -> list[str]:
    names = [name.strip() for name in fieldnames or []]
    required = ["external_sku", "sku"] + ([] if default_system else ["system"])
    problems = [f"header: missing column {name!r}" for name in required if name not in names]
    problems += [f"header: unknown column {name!r}" for name in names if name not in _COLUMNS]
    if problems:
        problems.append(f"header: expected {','.join(_COLUMNS)} (system and uom_factor may be left out)")
    return problems


def read_bindings_csv(path: str | Path, default_system: str | None = None) -> list[SkuBinding]:
    """Return the bindings of a CSV file; ``ValueError`` lists every bad row as ``FILE:LINE column: msg``."""
    problems: list[str] = []
    bindings: dict[tuple[str, str], tuple[SkuBinding, int]] = {}
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = _check_header(reader.fieldnames, default_system)
            if header:
                raise ValueError("\n".join(f"{path}:1 {problem}" for problem in header))
            reader.fieldnames = [name.strip() for name in reader.fieldnames or []]
            for row in reader:
                line = reader.line_num
                binding, row_problems = _parse_row(row, default_system)
                problems += [f"{path}:{line} {problem}" for problem in row_problems]
                if binding is None:
                    continue
                key = (binding.system, binding.external_sku)
                seen = bindings.setdefault(key, (binding, line))
                if seen[0] != binding:
                    first = f"{seen[0].sku} x{seen[0].uom_factor} on line {seen[1]}"
                    problems.append(f"{path}:{line} sku: duplicate {key[0]}:{key[1]} conflicts with {first}")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise ValueError(f"{path}: not a readable CSV file ({exc})") from None
    if problems:
        raise ValueError("\n".join(problems))
    return [binding for binding, _ in bindings.values()]
