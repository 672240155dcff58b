"""The HTTP API's request and response bodies, and what a request body may contain.

Request bodies refuse unknown keys (a misspelt ``lines`` must not ship everything). Text a
warehouse sends (``by``, ``carrier``, ``tracking_no``) may not hold control characters: a NUL, a
line break or a bidirectional override would end up in the audit trail, the CLI's tables and
the CSV a person opens. A quantity is a JSON integer from 1 to :data:`MAX_QTY`: ``1e30``, ``2.5``,
``"3"``, ``0`` and ``-1`` are refused with a 422 that names the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

from mapping.records import KEY

#: the most units one parcel line may hold (a larger number is a typo or an attack, never a parcel)
MAX_QTY = 1_000_000_000
# C0 and C1 controls, DEL, line and paragraph separators, bidirectional embeddings and isolates
_CONTROL = {*range(0x00, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F)}
_CONTROL |= set(range(0x2066, 0x206A))


def _plain_text(value: str) -> str:
    for position, char in enumerate(value):
        if ord(char) in _CONTROL:
            raise ValueError(f"control character U+{ord(char):04X} at position {position} is not allowed")
    return value


def _whole_number(value: Any) -> Any:
    if type(value) is not int or not 1 <= value <= MAX_QTY:
        raise ValueError(f"must be a whole number from 1 to {MAX_QTY} (a JSON integer, no decimals)")
    return value


PlainText = Annotated[str, AfterValidator(_plain_text)]
Quantity = Annotated[int, BeforeValidator(_whole_number)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AckIn(_Strict):
    by: PlainText | None = Field(default=None, min_length=1, max_length=64, description="who acknowledged")


class ShippedLineIn(_Strict):
    line_no: int = Field(ge=1, le=1_000_000, strict=True)
    qty: Quantity = Field(description=f"units in this parcel, 1 to {MAX_QTY}")


class ShipmentIn(_Strict):
    carrier: PlainText = Field(min_length=1, max_length=64)
    tracking_no: Annotated[PlainText, KEY] = Field(min_length=1, max_length=64)
    lines: list[ShippedLineIn] | None = Field(default=None, min_length=1, description="null: everything")
    shipped_at: AwareDatetime | None = None

    @field_validator("lines")
    @classmethod
    def _distinct(cls, lines: list[ShippedLineIn] | None) -> list[ShippedLineIn] | None:
        if lines is not None and len({ln.line_no for ln in lines}) != len(lines):
            raise ValueError("each line_no may appear once")
        return lines


class InstructionSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    number: str
    status: str
    location: str
    channel: str
    external_id: str
    due_at: datetime | None
    send_count: int
    tracking_no: str | None


class InstructionLine(BaseModel):
    line_no: int
    sku: str
    description: str | None
    qty: int
    uom: str


class InstructionDetail(InstructionSummary):
    carrier: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    shipped_at: datetime | None
    lines: list[InstructionLine]


class AckOut(BaseModel):
    number: str
    status: str


class ShipmentOut(BaseModel):
    number: str
    order_status: str


__all__ = [
    "MAX_QTY",
    "AckIn",
    "AckOut",
    "InstructionDetail",
    "InstructionLine",
    "InstructionSummary",
    "ShipmentIn",
    "ShipmentOut",
    "ShippedLineIn",
]
