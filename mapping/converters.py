"""Named value converters a field map chains after a JMESPath lookup.

A converter spec in the config is a name (``"int"``) or a one-key mapping from the name to its
options (``{"unit": {"factor": 6}}``). :func:`compile_converter` turns a spec into a
:class:`Converter` once, at config load: an unknown name or bad options raise ``ValueError``
then, never while mapping. Converters are small pure functions; a value they cannot convert
raises ``ValueError`` with a message saying what is wrong (the field map adds the field name).

``None`` passes through every converter but ``default`` untouched, and the typed converters
(``int``, ``decimal``, ``bool``, ``datetime``, ``date``, ``fen``, ``unit``) read a blank string
as ``None``: "no value" is for the record model to accept or refuse.

================  ============================================================================
name              what it gives back
================  ============================================================================
``int``           an integer; ``"12"``, ``12.0`` and ``"12.00"`` are fine, ``12.5`` is an error
``decimal``       a ``Decimal`` (floats go through their shortest repr, so 0.1 stays 0.1)
``str``           text of a scalar; ``strip`` / ``upper`` / ``lower`` work on text only
``bool``          ``true/false``, ``1/0``, ``yes/no``, ``y/n``, ``t/f``, ``on/off`` (any case)
``datetime``      a datetime: ISO 8601 by default, or ``format`` (strptime), or ``epoch: s|ms``;
                  ``tz`` (IANA name, e.g. ``Asia/Shanghai``) is applied to naive values
``date``          a date: ISO 8601 by default or ``format``
``lookup``        ``table[value]`` (keys compared as text); ``default`` when the key is absent,
                  otherwise an error naming the value
``default``       ``{"default": value}``: the value when the input is ``None`` or ``""``
``unit``          ``factor`` multiplies (kg -> g: 1000); ``divide`` divides and refuses a
                  result that is not a whole number
``fen``           whole cents (fen) -> ``Decimal`` yuan: ``1234`` -> ``Decimal("12.34")``
``split``/``join``  text <-> list on ``sep`` (default ``","``)
================  ============================================================================

>>> compile_converter({"unit": {"factor": 6}})("2")
12
>>> compile_converter({"lookup": {"table": {"1": "paid"}, "default": "other"}})(7)
'other'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from mapping.values import (
    fen_to_yuan,
    is_blank,
    text_only,
    to_bool,
    to_date,
    to_datetime,
    to_decimal,
    to_int,
    to_number,
    to_str,
)

__all__ = ["CONVERTER_NAMES", "Converter", "compile_converter", "compile_converters"]


@dataclass(frozen=True, slots=True)
class Converter:
    """A compiled converter: ``name`` for messages, ``fn`` doing the work.

    ``accepts_none`` is true only for converters that give a value for ``None`` (``default``).
    """

    name: str
    fn: Callable[[Any], Any]
    accepts_none: bool = False

    def __call__(self, value: Any) -> Any:
        return self.fn(value)


# -- options ---------------------------------------------------------------------------------


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_O = TypeVar("_O", bound=_Options)


class _DatetimeOptions(_Options):
    format: str | None = None
    tz: str | None = None
    epoch: Literal["s", "ms"] | None = None

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                hint = "use an IANA name like Asia/Shanghai"
                raise ValueError(f"unknown time zone {value!r} ({hint})") from None
        return value

    @model_validator(mode="after")
    def _one_source(self) -> _DatetimeOptions:
        if self.format and self.epoch:
            raise ValueError("give either format or epoch, not both")
        return self


class _DateOptions(_Options):
    format: str | None = None


class _LookupOptions(_Options):
    table: dict[Any, Any]
    default: Any = None


class _UnitOptions(_Options):
    factor: int | Decimal | None = None
    divide: int | Decimal | None = None

    @model_validator(mode="after")
    def _one_positive(self) -> _UnitOptions:
        given = [v for v in (self.factor, self.divide) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of factor or divide")
        if given[0] <= 0:
            raise ValueError("factor/divide must be positive")
        return self


class _SepOptions(_Options):
    sep: str = ","


def _options(name: str, model: type[_O], options: Any) -> _O:
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise ValueError(f"converter {name!r}: options must be a mapping, got {type(options).__name__}")
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        allowed = ", ".join(model.model_fields)
        problems = []
        for err in exc.errors(include_url=False):
            where = ".".join(map(str, err["loc"])) or "options"
            if err["type"] == "extra_forbidden":
                problems.append(f"{where}: unknown option (allowed: {allowed})")
            elif err["type"] == "missing":
                problems.append(f"{where}: option required")
            else:
                msg = err["msg"].removeprefix("Value error, ")
                problems.append(f"{where}: {msg[:1].lower()}{msg[1:]}")
        raise ValueError(f"converter {name!r}: {'; '.join(problems)}") from None


# -- factories: options (None when the spec is a bare name) -> Converter ---------------------


def _plain(name: str, fn: Callable[[Any], Any]) -> Callable[[Any], Converter]:
    def factory(options: Any) -> Converter:
        if options not in (None, {}):
            raise ValueError(f"converter {name!r} takes no options")
        return Converter(name, fn)

    return factory


def _datetime(options: Any) -> Converter:
    opts = _options("datetime", _DatetimeOptions, options)
    zone = ZoneInfo(opts.tz) if opts.tz else None
    fmt, epoch = opts.format, opts.epoch
    return Converter("datetime", lambda value: to_datetime(value, fmt, zone, epoch))


def _date(options: Any) -> Converter:
    fmt = _options("date", _DateOptions, options).format
    return Converter("date", lambda value: to_date(value, fmt))


def _lookup(options: Any) -> Converter:
    opts = _options("lookup", _LookupOptions, options)
    table = {str(key): value for key, value in opts.table.items()}
    if len(table) != len(opts.table):
        raise ValueError("converter 'lookup': table has keys that are equal as text (e.g. 1 and '1')")
    has_default, fallback = "default" in opts.model_fields_set, opts.default
    known = ", ".join(repr(key) for key in list(table)[:10]) + (", ..." if len(table) > 10 else "")

    def lookup(value: Any) -> Any:
        key = value if isinstance(value, str) else str(value)
        if key in table:
            return table[key]
        if has_default:
            return fallback
        raise ValueError(f"{key!r} is not in the lookup table (known: {known}); add it or a default")

    return Converter("lookup", lookup)


def _default(options: Any) -> Converter:
    if isinstance(options, Mapping) and not options:
        raise ValueError("converter 'default' needs a value: {default: VALUE}")
    return Converter("default", lambda value: options if value is None or value == "" else value, True)


def _unit(options: Any) -> Converter:
    opts = _options("unit", _UnitOptions, options)
    if opts.factor is not None:
        factor = opts.factor

        def multiply(value: Any) -> int | Decimal | None:
            if is_blank(value):
                return None
            product = to_number(value) * factor
            if isinstance(product, int) or product != product.to_integral_value():
                return product
            return int(product)

        return Converter("unit", multiply)
    divisor = opts.divide
    assert divisor is not None  # the options model demands factor or divide

    def divide(value: Any) -> int | None:
        if is_blank(value):
            return None
        number = to_number(value)
        quotient = Decimal(number) / divisor
        if quotient != quotient.to_integral_value():
            raise ValueError(f"{number} / {divisor} is not a whole number")
        return int(quotient)

    return Converter("unit", divide)


def _split(options: Any) -> Converter:
    sep = _options("split", _SepOptions, options).sep

    def split(value: Any) -> list[str]:
        if not isinstance(value, str):
            raise ValueError(f"expected text, got {type(value).__name__}")
        return [part.strip() for part in value.split(sep) if part.strip()]

    return Converter("split", split)


def _join(options: Any) -> Converter:
    sep = _options("join", _SepOptions, options).sep

    def join(value: Any) -> str:
        if not isinstance(value, list | tuple):
            raise ValueError(f"expected a list, got {type(value).__name__}")
        return sep.join("" if item is None else str(item) for item in value)

    return Converter("join", join)


_FACTORIES: dict[str, Callable[[Any], Converter]] = {
    "int": _plain("int", to_int),
    "decimal": _plain("decimal", to_decimal),
    "str": _plain("str", to_str),
    "strip": _plain("strip", text_only(str.strip)),
    "upper": _plain("upper", text_only(str.upper)),
    "lower": _plain("lower", text_only(str.lower)),
    "bool": _plain("bool", to_bool),
    "fen": _plain("fen", fen_to_yuan),
    "datetime": _datetime,
    "date": _date,
    "lookup": _lookup,
    "default": _default,
    "unit": _unit,
    "split": _split,
    "join": _join,
}

#: every converter name a field map may use
CONVERTER_NAMES: frozenset[str] = frozenset(_FACTORIES)


def compile_converter(spec: str | Mapping[str, Any]) -> Converter:
    """Return the converter a spec names; ``ValueError`` for unknown names or bad options."""
    if isinstance(spec, str):
        name, options = spec, None
    elif isinstance(spec, Mapping) and len(spec) == 1:
        ((name, options),) = spec.items()
    else:
        raise ValueError(f"a converter is a name or a one-key mapping {{name: options}}, got {spec!r}")
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ValueError(f"unknown converter {name!r}; known: {', '.join(sorted(_FACTORIES))}")
    return factory(options)


def compile_converters(specs: str | Mapping[str, Any] | Sequence[Any] | None) -> tuple[Converter, ...]:
    """Return the compiled chain for one spec or a list of specs (``None``: no converters)."""
    if specs is None:
        return ()
    if isinstance(specs, str | Mapping):
        specs = [specs]
    return tuple(compile_converter(spec) for spec in specs)
