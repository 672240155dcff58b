"""Delivers dispatch instructions (发货单) to the location that ships them: webhook, CSV folder or e-mail.

:class:`DispatchSender` is the outbox handler of the ``dispatch.send`` topic. A message's
``partition`` is a location code, its ``key`` the idempotency key, its ``payload`` the instruction
(``number``, ``location``, ``order``, ``created_at``, ``due_at``, ``carrier_hint``, ``ship_to``,
``lines``, ``note``, ``kind``: ``"dispatch"``, or ``"recall"`` when the order was cancelled after
dispatch and must be stopped). The location's :class:`DeliveryTarget` says how it receives them:

- ``webhook``: a compact UTF-8 JSON ``POST`` sent by :mod:`delivery.webhook`, with
  ``Idempotency-Key: <key>`` and the :mod:`delivery.signing` headers (bound to method, URL and
  body; a fresh nonce per attempt). 2xx: delivered; 408, 429, 5xx and network errors: retried
  (after ``Retry-After`` seconds if sent); any other status (401/403 usually means the secrets
  differ): a dead letter with the status and a redacted excerpt.
  Receivers answer 2xx to an idempotency key they already have.
- ``csv``: ``<number>.csv`` (a recall: ``<number>.recall.csv``, so it never replaces an
  instruction the warehouse has not read yet) written atomically into ``folder``: a hidden
  ``.tmp`` file in the same folder, flushed and synced, then renamed over the final name. A
  re-send with the same content leaves the file alone; changed content replaces it, so the
  warehouse imports by ``number`` and keeps the newest. Unwritable folders are retried.
- ``email``: a plain-text body, a printable HTML pick list (拣货单) and the CSV attached, with a
  ``Message-ID`` derived from the key so a re-send is recognisable as the same message, sent by
  :mod:`delivery.smtp`: SMTP 4xx, network errors and refused credentials are retried; other 5xx
  replies, and a server refusing every recipient, are dead letters (the error names the
  recipients).

The CSV is UTF-8 with a BOM (Excel on Chinese Windows needs it) and CRLF line ends, written by
:func:`core.csvsafe.csv_writer`: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return gets a leading ``'`` (a phone number ``+86 ...`` too) so a spreadsheet shows it
instead of running it as a formula; numbers stay numbers.

A location without a target is retried (it may be configured later); a payload that cannot be
rendered is a dead letter. A batch stops at its first retried message, so each location gets its
instructions in order. Log lines name location, number and key, never the secret or the body.

>>> sender = DispatchSender({"DS-GZ": DeliveryTarget("csv", folder="/srv/dropbox/ds-gz")}, None)
>>> worker = OutboxWorker(engine, {"dispatch.send": sender})
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate
from functools import cache
from pathlib import Path
from typing import Any, Literal

import jinja2
import requests
import structlog

from core.csvsafe import csv_writer
from core.http import new_session
from core.redact import redact_url, register_secret
from delivery.outcomes import Delivered, Failed, Outcome, Retry
from delivery.smtp import SmtpSettings, send_mail
from delivery.webhook import judge, post_signed
from store.outbox import Message

log = structlog.get_logger("erpsync.dispatch")

CSV_COLUMNS = (
    *("number", "line_no", "sku", "description", "qty", "uom", "ship_to_name", "ship_to_phone"),
    *("province", "city", "district", "street", "postal_code", "carrier_hint", "due_at", "kind"),
)
SHIP_TO_FIELDS = ("name", "phone", "province", "city", "district", "street", "postal_code", "country")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,119}")


@dataclass(frozen=True)
class DeliveryTarget:
    """How one location receives instructions: ``url`` + ``secret``, ``folder`` or ``to``."""

    method: Literal["webhook", "csv", "email"]
    url: str | None = None
    secret: str | None = field(default=None, repr=False)
    folder: str | Path | None = None
    to: Sequence[str] = ()

    def __post_init__(self) -> None:
        needs = {"webhook": ("url", "secret"), "csv": ("folder",), "email": ("to",)}[self.method]
        if missing := [name for name in needs if not getattr(self, name)]:
            raise ValueError(f"dispatch method {self.method!r} needs {', '.join(missing)}")


class DispatchSender:
    """The outbox handler delivering dispatch instructions to each location's target (see module doc)."""

    def __init__(
        self,
        targets: Mapping[str, DeliveryTarget],
        smtp: SmtpSettings | None,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.targets = dict(targets)
        self.smtp = smtp
        self.session = session or new_session()
        self._clock = clock
        for secret in [t.secret for t in self.targets.values()] + [smtp.password if smtp else None]:
            if secret:
                register_secret(secret)

    def __call__(self, messages: list[Message]) -> list[Outcome]:
        """One outcome per message, in order; after the first ``Retry`` every later one waits."""
        outcomes: list[Outcome] = []
        for message in messages:
            outcomes.append(self.deliver(message))
            if isinstance(outcomes[-1], Retry):
                waiting = Retry(f"waiting for {message.key} to be delivered first")
                return outcomes + [waiting] * (len(messages) - len(outcomes))
        return outcomes

    def deliver(self, message: Message) -> Outcome:
        """What became of one instruction sent to its location's target."""
        where = {"location": message.partition, "key": message.key, "attempts": message.attempts}
        target = self.targets.get(message.partition)
        if target is None:
            return Retry(f"no dispatch target configured for location {message.partition!r}")
        try:
            if target.method == "webhook":
                outcome = self._post(message, target)
            elif target.method == "csv":
                outcome = _write_csv(Path(str(target.folder)), message.payload)
            else:
                outcome = self._mail(message, target)
        except (KeyError, TypeError, ValueError, AttributeError, jinja2.TemplateError) as exc:
            # The instruction itself is malformed: no retry will fix it.
            outcome = Failed(f"cannot render dispatch instruction: {type(exc).__name__}: {exc}")
        where |= {"method": target.method, "number": message.payload.get("number")}
        if isinstance(outcome, Delivered):
            log.info("dispatch delivered", **where)
        else:  # the worker logs it as a warning
            log.debug("dispatch not delivered", **where, error=outcome.error)
        return outcome

    def _post(self, message: Message, target: DeliveryTarget) -> Outcome:
        url, where = str(target.url), f"POST {redact_url(str(target.url))}"
        body = json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            with post_signed(
                self.session, url, str(target.secret), body, idempotency_key=message.key, now=self._clock()
            ) as response:
                return judge(response, where, self._clock())
        except requests.RequestException as exc:
            return Retry(f"{where} failed: {type(exc).__name__}")

    def _mail(self, message: Message, target: DeliveryTarget) -> Outcome:
        if self.smtp is None:
            return Retry("e-mail dispatch needs an SMTP server (the email: section)")
        mail = render_email(message.payload, self.smtp, target.to, key=message.key)
        return send_mail(mail, self.smtp)


def csv_file_name(payload: Mapping[str, Any]) -> str:
    """``<number>.csv``, or ``<number>.recall.csv`` for a recall; ``ValueError`` for an unsafe number."""
    number = str(payload["number"])
    if not _FILE_NAME.fullmatch(number):
        raise ValueError(f"dispatch number {number[:40]!r} cannot be used as a file name")
    return f"{number}.recall.csv" if payload.get("kind") == "recall" else f"{number}.csv"


def render_csv(payload: Mapping[str, Any]) -> bytes:
    """The instruction as CSV bytes: UTF-8 with BOM, a header row, one row per line (CRLF)."""
    ship_to = payload.get("ship_to") or {}
    common = {
        "number": payload["number"],
        **{f"ship_to_{key}": ship_to.get(key) for key in ("name", "phone")},
        **{key: ship_to.get(key) for key in ("province", "city", "district", "street", "postal_code")},
        **{key: payload.get(key) for key in ("carrier_hint", "due_at")},
        "kind": payload.get("kind") or "dispatch",
    }
    buffer = io.StringIO(newline="")
    writer = csv_writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for line in payload["lines"]:
        row = {**common, **{key: line.get(key) for key in ("line_no", "sku", "description", "qty", "uom")}}
        writer.writerow([_cell(row[column]) for column in CSV_COLUMNS])
    return buffer.getvalue().encode("utf-8-sig")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _cell(value: Any) -> Any:
    """A payload value for the CSV: a whole float (JSON's ``2.0``) as ``2``; the rest as it is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _write_csv(folder: Path, payload: Mapping[str, Any]) -> Outcome:
    data, final = render_csv(payload), folder / csv_file_name(payload)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with suppress(FileNotFoundError):
            if final.read_bytes() == data:
                return Delivered()
        _replace_atomically(final, data)
    except OSError as exc:
        return Retry(f"cannot write {final}: {exc.strerror or type(exc).__name__}")
    return Delivered()


def _replace_atomically(final: Path, data: bytes) -> None:
    temp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
    # os.open honours the umask (mkstemp would make the file readable by its owner only).
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        with os.fdopen(os.open(temp, flags, 0o666), "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, final)
    except BaseException:
        with suppress(OSError):
            temp.unlink()
        raise
    if os.name == "posix":  # make the rename itself durable
        directory = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _moment(value: Any) -> str:
    """An ISO timestamp as ``2026-11-22 16:00 (UTC+08:00)``; anything else as given, None as ''."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    zone = f" ({moment.tzname()})" if moment.tzinfo else ""
    return moment.strftime("%Y-%m-%d %H:%M") + zone


def _view(payload: Mapping[str, Any]) -> dict[str, Any]:
    ship_to = _texts(payload.get("ship_to"), SHIP_TO_FIELDS)
    address = " ".join(ship_to[k] for k in ("province", "city", "district", "street") if ship_to[k])
    return {
        "number": str(payload["number"]),
        "recall": payload.get("kind") == "recall",
        "location": _texts(payload.get("location"), ("code", "name")),
        "order": _texts(payload.get("order"), ("channel", "external_id")),
        "created_at": _moment(payload.get("created_at")),
        "due_at": _moment(payload.get("due_at")),
        "carrier_hint": payload.get("carrier_hint") or "",
        "note": payload.get("note") or "",
        "ship_to": ship_to,
        "address": address,
        "lines": [_texts(line, ("line_no", "sku", "description", "qty", "uom")) for line in payload["lines"]],
        "attachment": csv_file_name(payload),
    }


def _texts(mapping: Mapping[str, Any] | None, keys: Sequence[str]) -> dict[str, str]:
    return {key: _text((mapping or {}).get(key)) for key in keys}


def _one_line(text: str) -> str:
    return " ".join(text.split())


def render_email(
    payload: Mapping[str, Any], smtp: SmtpSettings, to: Sequence[str], *, key: str | None = None
) -> EmailMessage:
    """The instruction as an e-mail: text body, HTML pick list, CSV attached; ``key`` fixes the Message-ID."""
    view, to = _view(payload), [to] if isinstance(to, str) else list(to)
    lines, location = len(view["lines"]), _one_line(str(view["location"]["name"] or view["location"]["code"]))
    if view["recall"]:
        subject = f"[erpsync] RECALL {view['number']} — stop this dispatch for {location}"
    else:
        subject = f"[erpsync] Dispatch {view['number']} — {lines} line(s) for {location}"
    mail = EmailMessage()
    mail["Subject"] = _one_line(subject)
    mail["From"] = smtp.sender
    mail["To"] = ", ".join(to)
    mail["Date"] = formatdate(usegmt=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:32] if key else uuid.uuid4().hex
    mail["Message-ID"] = f"<{digest}@erpsync>"
    if view["recall"]:
        mail["Importance"] = "high"
    templates = _templates()
    mail.set_content(templates.get_template("dispatch.txt.j2").render(view))
    mail.add_alternative(templates.get_template("pick_list.html.j2").render(view), subtype="html")
    mail.add_attachment(
        render_csv(payload), "text", "csv", filename=view["attachment"], params={"charset": "utf-8"}
    )
    return mail
