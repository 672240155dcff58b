"""Latency of a shortage alert: from a stock drop in the source to the message at the receiver.

    python bench/alert_latency.py [--poll 2] [--drops 3]

Starts the simulated ERP (``erpsync.simulator``), a webhook receiver on 127.0.0.1 and the
erpsync service on SQLite with the ERP's stock polled every ``--poll`` seconds; then, ``--drops``
times, drops one SKU at one distributor below its warning level in the ERP and measures how long
until the receiver gets the alert. Target: within one poll interval plus 2 seconds. Prints each
figure and the worst against the target.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from config import load_config
from erpsync.demo_files import config_text, demo_key
from erpsync.service import build_service
from erpsync.simulator import Simulator
from erpsync.wiring import location_specs
from store.db import make_engine
from store.locations import apply_locations
from store.migrate import upgrade

ALERTS = """
alerts:
  destinations: [{{name: bench, kind: webhook, url: "{hook}", secret: bench-secret-0001}}]
  rules: [{{match: {{level: distributor}}, warning: 5, critical: 2}}]
  routes: [{{destinations: [bench], min_severity: warning}}]
"""


ARRIVALS: list[tuple[float, dict[str, Any]]] = []


class Receiver(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        ARRIVALS.append((time.monotonic(), body))
        self.send_response(200)
        self.end_headers()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poll", type=float, default=2.0)
    parser.add_argument("--drops", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    sim = Simulator(tick=3600).start()
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    demo_key(work)
    text = config_text(sim.url, None, work).replace("every: 2s", f"every: {args.poll:g}s")
    text += ALERTS.format(hook=f"http://127.0.0.1:{receiver.server_address[1]}/alerts")
    (work / "erpsync.yaml").write_text(text, encoding="utf-8")
    cfg = load_config(work / "erpsync.yaml")
    engine = make_engine(f"sqlite:///{work / 'erpsync.db'}")
    upgrade(engine)
    apply_locations(engine, location_specs(cfg))
    with sim.state.lock:  # start well stocked so that only our drops raise alerts
        for row in sim.state.stock.values():
            row["qty"] = 100
    service = build_service(engine, cfg)
    service.start()
    latencies = []
    try:
        time.sleep(args.poll * 2 + 1)  # the first reads land
        ARRIVALS.clear()
        for n, sku in enumerate(["TEA-001", "TEA-002", "POT-020", "SET-100"][: args.drops]):
            with sim.state.lock:
                row = sim.state.stock[(sku, "DS-GZ")]
                row["qty"] = 1
                row["updated_at"] = sim.state.tick_time()
            dropped = time.monotonic()
            deadline = dropped + args.poll * 3 + 10
            while time.monotonic() < deadline and len(ARRIVALS) <= n:
                time.sleep(0.02)
            if len(ARRIVALS) <= n:
                print(f"drop {n + 1}: {sku} — no alert within {deadline - dropped:.0f} s")
                continue
            latencies.append(ARRIVALS[n][0] - dropped)
            print(f"drop {n + 1}: {sku} at DS-GZ → alert after {latencies[-1]:.2f} s")
    finally:
        service.stop()
        receiver.shutdown()
        sim.stop()
    target = args.poll + 2
    if latencies:
        worst = max(latencies)
        print(
            f"worst {worst:.2f} s, mean {sum(latencies) / len(latencies):.2f} s; target ≤ {target:.1f} s "
            f"(poll {args.poll:g} s + 2 s): ratio {worst / target:.2f} "
            f"({'met' if worst <= target else 'missed'})"
        )
    else:
        print("no alert arrived", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
