"""Field maps: a declarative table from a raw connector payload to one canonical record.

A spec maps each field of the record model to where its value comes from::

    external_id: id                                   # JMESPath shorthand
    status: {path: financial_status, convert: [{lookup: {table: {paid: paid}, default: open}}]}
    channel: {const: shopify}                         # a constant
    currency: {path: currency, default: CNY, required: false}
    updated_at: {path: updated_at, convert: [datetime]}
    ship_to: {path: shipping_address, fields: {name: name, city: city}}   # a sub-record
    lines: {path: line_items, each: {sku: sku, qty: {path: quantity, convert: [int]}}}

Inside ``fields`` and ``each`` paths are relative to the value of ``path`` (to the element for
``each``); ``fields`` without ``path`` reads from the whole payload. Paths are JMESPath, compiled
once; converters are the named ones of :mod:`mapping.converters`.

Errors: :meth:`FieldMap.compile` raises ``ValueError`` listing every bad field (unknown field of
the record model, invalid JMESPath, bad converter, a required model field left unmapped).
:meth:`FieldMap.apply` and :meth:`FieldMap.to_record` raise ``RecordError`` for one bad payload:
``code="missing_field"``, ``"too_long"`` (text longer than the record allows) or ``"invalid"``,
``field`` like ``"lines[0].qty"``, and a message naming the field, the path and what is wrong, e.g.
``lines[0].qty: field required (path "line_items[0].quantity" gave nothing)``.

>>> from mapping.records import StockLevel
>>> fm = FieldMap.compile({"sku": "code", "location": {"const": "WH1"},
...                        "on_hand": {"path": "qty", "convert": ["int"]}}, StockLevel)
>>> fm.to_record({"code": "A-1", "qty": "5"}).on_hand
5
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, get_args, get_origin

import jmespath
import jmespath.functions
from jmespath.exceptions import JMESPathError
from pydantic import ValidationError

from core import excerpt
from core.errors import RecordError
from mapping.converters import Converter, compile_converters
from mapping.records import Record

__all__ = ["FieldMap"]

_Getter = Callable[[Any], Any]
_Loc = tuple[str | int, ...]
_NO_DEFAULT: Any = object()
_FIELD_KEYS = frozenset({"path", "convert", "default", "required", "const", "fields", "each"})
_MAX_ERRORS = 5
#: quarantine codes of pydantic error types (others are "invalid"); "too_long" as the store's limits say
_CODES = {"missing": "missing_field", "string_too_long": "too_long"}
_FUNCTIONS = frozenset(jmespath.functions.Functions.FUNCTION_TABLE)


def shorten(value: Any, limit: int = 80) -> str:
    """Return ``repr(value)`` cut to ``limit`` characters, at a word where there is one."""
    return excerpt.shorten(repr(value), limit)


def format_loc(loc: _Loc) -> str:
    """Return a field location as text: ``("lines", 0, "qty")`` -> ``"lines[0].qty"``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _plain_keys(node: Mapping[str, Any]) -> list[str] | None:
    """Return the keys of a ``a.b.c`` JMESPath AST, or None when it is anything richer."""
    if node["type"] == "field":
        return [node["value"]]
    if node["type"] == "subexpression":
        keys: list[str] = []
        for child in node["children"]:
            sub = _plain_keys(child)
            if sub is None:
                return None
            keys.extend(sub)
        return keys
    return None


def _unknown_functions(node: Mapping[str, Any]) -> set[str]:
    """Return the names of functions the AST calls that JMESPath does not have."""
    found = set()
    if node.get("type") == "function_expression" and node["value"] not in _FUNCTIONS:
        found.add(node["value"])
    for child in node.get("children", ()):
        if isinstance(child, Mapping):
            found |= _unknown_functions(child)
    return found


def _compile_path(text: Any) -> _Getter:
    """Return a getter for a JMESPath expression; plain ``a.b`` paths skip the interpreter."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"path must be a non-empty JMESPath string, got {text!r}")
    try:
        parsed = jmespath.compile(text)
    except JMESPathError as exc:
        reason = str(exc).splitlines()[0].removesuffix(", for expression:").rstrip(":")
        raise ValueError(f"invalid JMESPath {text!r}: {reason}") from None
    unknown = _unknown_functions(parsed.parsed)
    if unknown:
        raise ValueError(f"invalid JMESPath {text!r}: unknown function(s) {', '.join(sorted(unknown))}")
    keys = _plain_keys(parsed.parsed)
    if keys is None:
        return parsed.search
    if len(keys) == 1:
        (key,) = keys
        return lambda raw: raw.get(key) if isinstance(raw, dict) else None

    def dig(raw: Any) -> Any:
        for key in keys:
            if not isinstance(raw, dict):
                return None
            raw = raw.get(key)
        return raw

    return dig


def _search(getter: _Getter, raw: Any, field: str, path: str) -> Any:
    try:
        return getter(raw)
    except JMESPathError as exc:
        raise _path_failed(exc, field, path) from None


def _path_failed(exc: JMESPathError, field: str, path: str) -> RecordError:
    return RecordError(f"{field}: path {path!r} failed: {exc}", code="invalid", field=field)


@dataclass(frozen=True, slots=True)
class _PathField:
    name: str
    getter: _Getter
    path: str
    converters: tuple[Converter, ...]
    default: Any
    required: bool

    def extract(self, raw: Any, where: str, src: str) -> Any:
        try:
            value = self.getter(raw)
        except JMESPathError as exc:
            raise _path_failed(exc, where + self.name, src + self.path) from None
        for converter in self.converters:
            if value is None and not converter.accepts_none:
                continue
            try:
                value = converter.fn(value)
            except (ValueError, TypeError, ArithmeticError) as exc:
                field = where + self.name
                message = f"{field}: {converter.name} cannot convert {shorten(value)}: {exc}"
                raise RecordError(message, code="invalid", field=field) from None
        if value is None or value == "":
            if self.default is not _NO_DEFAULT:
                return self.default
            if self.required:
                field = where + self.name
                message = f'{field}: field required (path "{src}{self.path}" gave nothing)'
                raise RecordError(message, code="missing_field", field=field)
        return value

    def source(self, rest: _Loc) -> str | None:
        return self.path + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in rest)


@dataclass(frozen=True, slots=True)
class _ConstField:
    name: str
    value: Any

    def extract(self, raw: Any, where: str, src: str) -> Any:
        return self.value

    def source(self, rest: _Loc) -> str | None:
        return None


@dataclass(frozen=True, slots=True)
class _RecordField:
    name: str
    getter: _Getter | None
    path: str
    sub: FieldMap

    def extract(self, raw: Any, where: str, src: str) -> Any:
        base = raw if self.getter is None else _search(self.getter, raw, where + self.name, src + self.path)
        if base is None:
            return None
        prefix = f"{src}{self.path}." if self.path else src
        return self.sub.build(base, f"{where}{self.name}.", prefix) or None

    def source(self, rest: _Loc) -> str | None:
        if not rest:
            return self.path or None
        inner = self.sub.source(rest)
        return f"{self.path}.{inner}" if inner and self.path else inner


@dataclass(frozen=True, slots=True)
class _ListField:
    name: str
    getter: _Getter
    path: str
    sub: FieldMap

    def extract(self, raw: Any, where: str, src: str) -> Any:
        field = where + self.name
        items = _search(self.getter, raw, field, src + self.path)
        if items is None:
            return None
        if not isinstance(items, list):
            message = f'{field}: path "{src}{self.path}" gave {type(items).__name__}, not a list'
            raise RecordError(message, code="invalid", field=field)
        path = src + self.path
        return [self.sub.build(item, f"{field}[{i}].", f"{path}[{i}].") for i, item in enumerate(items)]

    def source(self, rest: _Loc) -> str | None:
        if not rest or not isinstance(rest[0], int):
            return self.path
        inner = self.sub.source(rest[1:]) if len(rest) > 1 else None
        return f"{self.path}[{rest[0]}]" + (f".{inner}" if inner else "")


_Field = _PathField | _ConstField | _RecordField | _ListField


def _sub_record(annotation: Any) -> tuple[type[Record] | None, bool]:
    """Return the record type inside an annotation and whether it is a list/tuple of them."""
    if isinstance(annotation, type) and issubclass(annotation, Record):
        return annotation, False
    origin = get_origin(annotation)
    for arg in get_args(annotation):
        found, many = _sub_record(arg)
        if found is not None:
            return found, many or origin in (tuple, list)
    return None, False


def _compile_field(name: str, spec: Any, record_type: type[Record], where: str) -> _Field:
    if isinstance(spec, str):
        try:
            return _PathField(name, _compile_path(spec), spec, (), _NO_DEFAULT, False)
        except ValueError as exc:
            raise ValueError(f"{where}{name}: {exc}") from None
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where}{name}: expected a JMESPath string or a mapping, got {spec!r}")
    unknown = sorted(set(spec) - _FIELD_KEYS)
    if unknown:
        raise ValueError(
            f"{where}{name}: unknown key(s) {', '.join(unknown)}; use {', '.join(sorted(_FIELD_KEYS))}"
        )
    if "const" in spec:
        if len(spec) > 1:
            raise ValueError(f"{where}{name}: const takes no other keys")
        return _ConstField(name, spec["const"])
    sub_type, many = _sub_record(record_type.model_fields[name].annotation)
    if "fields" in spec or "each" in spec:
        return _compile_nested(name, spec, sub_type, many, where)
    if "path" not in spec:
        raise ValueError(f"{where}{name}: needs path, const, fields or each")
    try:
        getter = _compile_path(spec["path"])
        converters = compile_converters(spec.get("convert"))
    except ValueError as exc:
        raise ValueError(f"{where}{name}: {exc}") from None
    required = spec.get("required", False)
    if not isinstance(required, bool):
        raise ValueError(f"{where}{name}: required must be true or false, got {required!r}")
    return _PathField(name, getter, spec["path"], converters, spec.get("default", _NO_DEFAULT), required)


def _compile_nested(
    name: str, spec: Mapping[str, Any], sub_type: type[Record] | None, many: bool, where: str
) -> _Field:
    key = "each" if "each" in spec else "fields"
    extra = sorted(set(spec) - {"path", key})
    if extra:
        raise ValueError(f"{where}{name}: {key} takes only path besides it, not {', '.join(extra)}")
    if sub_type is None:
        raise ValueError(f"{where}{name}: is not a sub-record; {key} does not apply")
    if many != (key == "each"):
        right = "each (a list of records)" if many else "fields (one record)"
        raise ValueError(f"{where}{name}: use {right}")
    path = spec.get("path")
    try:
        getter = None if path is None else _compile_path(path)
    except ValueError as exc:
        raise ValueError(f"{where}{name}: {exc}") from None
    sub = FieldMap._compile(spec[key], sub_type, f"{where}{name}.")
    if key == "fields":
        return _RecordField(name, getter, path or "", sub)
    if getter is None or path is None:
        raise ValueError(f"{where}{name}: each needs a path to the list")
    return _ListField(name, getter, path, sub)


class FieldMap:
    """A compiled field map for one record type; build it with :meth:`FieldMap.compile`."""

    def __init__(self, record_type: type[Record], fields: tuple[_Field, ...]) -> None:
        self.record_type = record_type
        self._fields = fields
        self._by_name = {field.name: field for field in fields}

    @classmethod
    def compile(cls, spec: Mapping[str, Any], record_type: type[Record]) -> FieldMap:
        """Return the compiled map; ``ValueError`` lists every problem of the spec, one a line."""
        return cls._compile(spec, record_type, "")

    @classmethod
    def _compile(cls, spec: Any, record_type: type[Record], where: str) -> FieldMap:
        if not isinstance(spec, Mapping):
            raise ValueError(f"{where or 'field map'}: expected a mapping of fields, got {spec!r}")
        model_fields = record_type.model_fields
        problems: list[str] = []
        fields: list[_Field] = []
        for name, field_spec in spec.items():
            if name not in model_fields:
                known = ", ".join(model_fields)
                problems.append(f"{where}{name}: {record_type.__name__} has no such field (known: {known})")
                continue
            try:
                fields.append(_compile_field(name, field_spec, record_type, where))
            except ValueError as exc:
                problems.extend(str(exc).splitlines())
        for name, info in model_fields.items():
            if info.is_required() and name not in spec:
                problems.append(f"{where}{name}: required by {record_type.__name__} but not mapped")
        if problems:
            raise ValueError("\n".join(problems))
        return cls(record_type, tuple(fields))

    def apply(self, raw: Any) -> dict[str, Any]:
        """Return the canonical dict for a raw payload (fields without a value are left out)."""
        return self.build(raw, "", "")

    def build(self, raw: Any, where: str, src: str) -> dict[str, Any]:
        """Return the canonical dict; ``where``/``src`` prefix field names and paths in errors."""
        out: dict[str, Any] = {}
        for field in self._fields:
            value = field.extract(raw, where, src)
            if value is not None:
                out[field.name] = value
        return out

    def to_record(self, raw: Any) -> Record:
        """Return the validated record for a raw payload; ``RecordError`` when it is bad."""
        return self.validate(self.apply(raw))

    def validate(self, canonical: Mapping[str, Any]) -> Record:
        """Return the record built from a canonical dict; pydantic errors become ``RecordError``."""
        try:
            return self.record_type.model_validate(canonical)
        except ValidationError as exc:
            raise self._record_error(exc) from None

    def source(self, loc: _Loc) -> str | None:
        """Return the JMESPath a canonical field location came from (None for constants)."""
        field = self._by_name.get(str(loc[0])) if loc else None
        return None if field is None else field.source(loc[1:])

    def _record_error(self, exc: ValidationError) -> RecordError:
        errors = exc.errors(include_url=False)
        # A list whose items failed also reports "too short"; the items' errors say why.
        inner = {error["loc"][:n] for error in errors for n in range(1, len(error["loc"]))}
        errors = [e for e in errors if not (e["type"] == "too_short" and e["loc"] in inner)] or errors
        lines = []
        for error in errors[:_MAX_ERRORS]:
            loc = format_loc(error["loc"]) or self.record_type.__name__
            path = self.source(error["loc"])
            msg = error["msg"].removeprefix("Value error, ")
            msg = msg[:1].lower() + msg[1:]
            if error["type"] == "missing":
                origin = f'path "{path}" gave nothing' if path else "not in the field map"
                lines.append(f"{loc}: field required ({origin})")
            else:
                origin = f' from path "{path}"' if path else ""
                lines.append(f"{loc}: {msg} (got {shorten(error['input'])}{origin})")
        if len(errors) > _MAX_ERRORS:
            lines.append(f"and {len(errors) - _MAX_ERRORS} more")
        first = errors[0]
        code = _CODES.get(first["type"], "invalid")
        return RecordError("; ".join(lines), code=code, field=format_loc(first["loc"]) or None)
