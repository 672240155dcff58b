"""``make demo``: erpsync end to end on SQLite against a simulated ERP and shop.

Starts the simulator (``erpsync.simulator``) on 127.0.0.1, writes its files under ``var/demo/``
(``erpsync.demo_files``: config, SKU bindings, an encryption key kept across runs), creates the
schema, imports the bindings, runs the service for a few seconds while the simulated systems
change, then prints what landed: stream status, stock levels, orders, dispatch notes, the
quarantine (one shop listing has no SKU binding on purpose), alerts, and the commands to look
further. Everything goes through the ``erpsync`` command line, as a user would type it.

One language per run: English or Simplified Chinese, from ``--lang en|zh-CN`` or else the locale
(``LC_ALL``, ``LC_MESSAGES``, ``LANG``: a ``zh`` one means Chinese). It chooses the demo's headings
and the alerts' language; erpsync's own tables stay in English.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from erpsync.cli import run_cli
from erpsync.console import make_console
from erpsync.demo_files import WORKDIR, fresh_workdir, write_demo_files
from erpsync.demo_texts import HEADINGS
from erpsync.simulator import Simulator
from store.db import make_engine
from store.models import Alert, OrderLine, SalesOrder
from store.queries import stock_levels

RUN_SECONDS = 12
NOTES_SHOWN = 2
CONFIG = WORKDIR / "erpsync.yaml"


def language_from(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """The run's language: ``--lang`` when given, else the locale's (zh… is Chinese), else English."""
    parser = argparse.ArgumentParser(prog="python -m erpsync.demo", description="erpsync end to end.")
    parser.add_argument("--lang", choices=sorted(HEADINGS), help="en or zh-CN (default: from the locale)")
    chosen: str | None = parser.parse_args(list(argv)).lang
    if chosen:
        return chosen
    locale = next((env[name] for name in ("LC_ALL", "LC_MESSAGES", "LANG") if env.get(name)), "")
    return "zh-CN" if locale.lower().startswith("zh") else "en"


def erpsync_command() -> str:
    """How to call the installed ``erpsync`` from here: the venv's script, relative when inside cwd."""
    script = Path(sys.executable).parent / "erpsync"
    if not script.exists():
        return "erpsync"
    try:
        return script.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(script)


class Demo:
    """One run: the console, its language, and the CLI against the demo's config."""

    def __init__(self, language: str) -> None:
        self.console: Console = make_console()
        self.language = language
        self.text = HEADINGS[language]

    def cli(self, heading: str | None, *args: str) -> None:
        if heading is not None:
            self.console.rule(heading)
        code = run_cli(["--config", str(CONFIG), *args])
        if code != 0:
            raise SystemExit(f"`erpsync {' '.join(args)}` failed with exit code {code}")

    def run_service(self) -> Simulator:
        fresh_workdir()
        sim = Simulator(tick=1.0).start()
        try:
            write_demo_files(sim.url, self.language)
            self.console.print(self.text.intro.format(url=sim.url, config=CONFIG), markup=False)
            self.cli(self.text.validate, "config", "validate")
            self.cli(self.text.schema, "db", "upgrade")
            self.cli(self.text.bindings, "mapping", "import-skus", str(WORKDIR / "skus.csv"))
            self.cli(self.text.run.format(seconds=RUN_SECONDS), "run", "--for", str(RUN_SECONDS))
        finally:
            sim.stop()
        return sim

    def print_store(self) -> None:
        engine = make_engine(f"sqlite:///{WORKDIR / 'erpsync.db'}")
        with engine.connect() as conn:
            stock = [(r.sku, r.location, r.on_hand, r.reserved) for r in stock_levels(conn, limit=None)]
            orders = conn.execute(
                select(
                    SalesOrder.external_id,
                    SalesOrder.status,
                    SalesOrder.source_status,
                    SalesOrder.ship_region,
                    func.group_concat(OrderLine.sku + " x" + func.cast(OrderLine.qty, OrderLine.sku.type)),
                    SalesOrder.ship_to_sealed.is_not(None),
                )
                .join(OrderLine)
                .group_by(SalesOrder.id)
                .order_by(SalesOrder.external_id)
            ).all()
        engine.dispose()
        t = self.text
        table = Table(*t.stock_columns, title=t.stock)
        for row in stock:
            table.add_row(*(str(v) for v in row))
        self.console.print(table)
        table = Table(*t.order_columns, title=t.orders)
        for ext, status, channel_status, region, lines, sealed in orders:
            table.add_row(ext, status, channel_status or "-", region or "-", lines, t.yes if sealed else t.no)
        self.console.print(table)

    def print_dispatch_notes(self) -> None:
        notes = sorted((WORKDIR / "dispatch").glob("*/*.csv"))
        shown = notes[:NOTES_SHOWN]
        self.console.rule(self.text.notes.format(count=len(notes), shown=len(shown)))
        for note in shown:
            self.console.print(f"{note.as_posix()}:", markup=False)
            self.console.print(note.read_text(encoding="utf-8-sig"), markup=False)

    def print_alerts(self) -> int | None:
        """Alerts under a heading per kind; the id of the first shortage alert, if any."""
        engine = make_engine(f"sqlite:///{WORKDIR / 'erpsync.db'}")
        with engine.connect() as conn:
            kinds = set(conn.execute(select(Alert.kind).distinct()).scalars())
            first = conn.execute(select(func.min(Alert.id)).where(Alert.kind == "shortage")).scalar()
        engine.dispose()
        self.cli(self.text.shortage, "alerts", "list", "--kind", "shortage")
        self.cli(self.text.drift, "alerts", "list", "--kind", "drift")
        others = sorted(kinds - {"shortage", "drift"})
        if others:
            self.cli(self.text.other_alerts, "alerts", "list", *(a for k in others for a in ("--kind", k)))
        if first is not None:
            self.cli(self.text.message, "alerts", "show", str(first))
        return first

    def print_shop(self, sim: Simulator) -> None:
        self.console.rule(self.text.shop)
        table = Table(*self.text.shop_columns)
        for sku, qty in sorted(sim.state.shown.items()):
            table.add_row(sku, str(qty))
        self.console.print(table)

    def print_next_steps(self, first_alert: int | None) -> None:
        base = f"{erpsync_command()} --config {CONFIG.as_posix()}"
        commands = [
            "status",
            "orders list",
            "stock report",
            "alerts list",
            *([f"alerts show {first_alert}"] if first_alert is not None else []),
            "quarantine list",
            "--help",
        ]
        self.console.rule(self.text.next)
        self.console.print(self.text.next_note, markup=False)
        for command in commands:
            self.console.print(f"  {base} {command}", markup=False)


def main(argv: Sequence[str] | None = None) -> None:
    demo = Demo(language_from(sys.argv[1:] if argv is None else argv, os.environ))
    sim = demo.run_service()
    demo.cli(demo.text.status, "status")
    demo.print_store()
    demo.cli(demo.text.routed, "orders", "list")
    demo.cli(demo.text.dispatch, "dispatch", "list")
    demo.print_dispatch_notes()
    demo.cli(demo.text.quarantine, "quarantine", "list")
    first_alert = demo.print_alerts()
    demo.print_shop(sim)
    demo.cli(demo.text.explain, "stock", "explain", "CUP-010")
    demo.print_next_steps(first_alert)


if __name__ == "__main__":
    main()
