"""Dashboard: push latency (socket only), frame-to-screen latency, and a day of history.

Usage: python bench/dashboard_latency.py [--seconds 15] [--rate 50] [--day-rate 50]
                                         [--channels trades,book] [--skip-day] [--skip-live]

1. Push latency (issue 7: frame -> pushed to the dashboard, p99 < 20 ms). The emulator streams
   BTCUSD at ``--rate`` trades/s, then at 10x; a recording (spool + lake) runs beside the
   dashboard. A plain WebSocket client on ``/api/live``, in its own process (no GIL shared
   with the stack), stamps each message's receive time (wall clock, same machine). Per trade:
   ``frame_to_push`` = receive time - the frame's receive time in the recorder (``recv_ns``,
   joined from the lake by the trade's timestamp): what the recorder and the dashboard add;
   ``trade_to_push`` = receive time - the trade's exchange timestamp (the emulator's clock, so
   its batching included); ``feed`` = ``recv_ns - ts_ns``, the emulator + socket share.
2. Frame to screen. Then Chromium (/usr/bin/chromium) shows the Live page, with no socket
   client beside it: for every trade drawn, ``Date.now()`` after ``Plotly.react`` resolved
   minus the trade's exchange timestamp; and the ``Plotly.react`` time itself. In the same
   run (``--channels trades,book``, the default) the order book ladder: for every book
   message the exchange sent for BTCUSD (``book_updates``, one ``sequence`` each), the time
   the ladder first showed a book that includes it (the page's ``book.shown``: the frame's
   sequence and ``Date.now()`` once its rows are in the DOM, in the animation frame that
   paints them) minus the message's exchange timestamp (``exchange_to_ladder``) and minus
   its receive time in the recorder (``recv_to_ladder``).
3. History. A day of trades (``--day-rate`` per second, ~4.3 M at 50/s) written as Parquet in
   the lake layout (docs/lake-layout.md); then the time from navigating to ``#history`` to
   the day's chart being drawn (the page's default range is the last day), with a one-hour
   range for comparison, and the candles API call alone.

Prints JSON; the numbers in docs/dashboard.md come from here.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import websockets
from playwright.sync_api import Page, sync_playwright

from ticklake.config import load_settings
from ticklake.dashboard import DashboardConfig, DashboardServer
from ticklake.emulator import Emulator, EmulatorConfig
from ticklake.lake.storage import parquet_options
from ticklake.live_edge import query_lake
from ticklake.pipeline import Recording, build_recording
from ticklake.schemas import SCHEMAS

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
DAY_NS = 86_400 * 10**9


class Stack:
    """Emulator → recording → dashboard in a background loop (or the dashboard alone)."""

    def __init__(self, tmp: Path, rate: float | None, lake: Path | None = None,
                 channels: tuple[str, ...] = ("trades",)) -> None:
        self.tmp, self.rate, self.channels = tmp, rate, channels
        self.lake = lake or tmp / "lake"
        self.url = ""
        self.emulator: Emulator | None = None
        self.recording: Recording | None = None
        self.loop = asyncio.new_event_loop()
        self._ready: Future[None] = Future()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=lambda: self.loop.run_until_complete(self._main()))

    def __enter__(self) -> Stack:
        self._thread.start()
        self._ready.result(timeout=60)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    async def _main(self) -> None:
        if self.rate is None:
            await self._serve(None)
            return
        async with Emulator(EmulatorConfig(symbols=("BTCUSD",), rate=self.rate,
                                           history=200)) as emulator:
            self.emulator = emulator
            settings = load_settings(
                feed={"url": emulator.url, "symbols": ["BTCUSD"], "channels": self.channels},
                lake={"root": str(self.lake), "spool": str(self.tmp / "spool"),
                      "buffer_seconds": 2.0})
            recording = await build_recording(settings.feed, None, settings.lake)
            self.recording = recording
            task = asyncio.create_task(recording.run())
            try:
                await self._serve(recording)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def _serve(self, recording: Recording | None) -> None:
        spool = self.tmp / "spool" if recording is not None else None
        server = DashboardServer(DashboardConfig(str(self.lake), spool, port=0), recording)
        task = asyncio.create_task(server.serve())
        try:
            await server.wait_started(task)
            self.url = server.url
            self._ready.set_result(None)
            await self._stop.wait()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def percentiles(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    p50, p99, p999 = np.percentile(np.asarray(values), [50, 99, 99.9])
    return {"n": len(values), "p50_ms": round(float(p50), 1), "p99_ms": round(float(p99), 1),
            "p999_ms": round(float(p999), 1), "max_ms": round(max(values), 1)}


async def socket_client(url: str, seconds: float) -> list[tuple[float, int, int]]:
    """(trade ts as the socket sends it, message receive ns, message size) for every trade."""
    out: list[tuple[float, int, int]] = []
    async with websockets.connect(url.replace("http://", "ws://") + "api/live",
                                  max_size=None) as ws:
        await ws.recv()
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            raw = await ws.recv()
            now = time.time_ns()
            message = json.loads(raw)
            out.extend((t[1], now, len(message["trades"])) for t in message["trades"])
    return out


def measure_socket(stack: Stack, seconds: float) -> dict[str, Any]:
    """Push latency seen by a socket client in another process (see the module docstring)."""
    time.sleep(2)  # past the recording's start-up
    started_ns = time.time_ns()
    child = subprocess.run([sys.executable, __file__, "--socket-client", stack.url,
                            "--seconds", str(seconds)],
                           check=True, capture_output=True, text=True)
    got = json.loads(child.stdout)
    rows = query_lake(str(stack.lake), stack.tmp / "spool",
                      f"SELECT ts_ns, recv_ns FROM trades WHERE ts_ns >= {started_ns - 10**9}",
                      max_rows=10_000_000).rows()
    recv_by_ts = {ts / 1e6: recv for ts, recv in rows}  # the same double the server sends
    frame, trade, missing = [], [], 0
    for ts_ms, got_ns, _ in got:
        trade.append(got_ns / 1e6 - ts_ms)
        recv = recv_by_ts.get(ts_ms)
        if recv is None:
            missing += 1
        else:
            frame.append((got_ns - recv) / 1e6)
    messages = len({g[1] for g in got})
    return {
        "rate_per_s": stack.rate, "seconds": seconds, "messages": messages,
        "trades_per_message": round(len(got) / messages, 2) if messages else None,
        "frame_to_push": percentiles(frame), "trade_to_push": percentiles(trade),
        "feed": percentiles([(recv - ts) / 1e6 for ts, recv in rows if ts >= started_ns]),
        "unmatched": missing,
    }


def measure_screen(page: Page, stack: Stack, seconds: float) -> dict[str, Any]:
    page.goto(stack.url)
    page.wait_for_function("() => window.__ticklake.live.renders > 0", timeout=60_000)
    page.wait_for_timeout(2_000)  # past the seed and the first snapshot; count from zero
    page.evaluate("window.__ticklake.live.latencies = []; window.__ticklake.live.renderMs = [];"
                  "window.__ticklake.book.shown = []")
    started_ns = time.time_ns()
    page.wait_for_timeout(seconds * 1000)
    ended_ns = time.time_ns()
    drawn = page.evaluate("window.__ticklake.live.latencies.slice()")
    renders = page.evaluate("window.__ticklake.live.renders")
    render_ms = page.evaluate("window.__ticklake.live.renderMs.slice()")
    shown = page.evaluate("window.__ticklake.book.shown.slice()")
    page.goto("about:blank")
    report: dict[str, Any] = {
        "rate_per_s": stack.rate, "seconds": seconds, "renders": renders,
        "frame_to_screen": percentiles(drawn), "plotly_react": percentiles(render_ms),
    }
    if "book" in stack.channels:
        report["ladder"] = ladder_latency(stack, shown, started_ns, ended_ns)
    return report


def ladder_latency(stack: Stack, shown: list[list[float]], since_ns: int,
                   until_ns: int) -> dict[str, Any]:
    """Book message → the ladder showing it (see the module docstring). Messages of the last
    second are left out: the page may not have shown them when the measurement stopped."""
    rows = query_lake(str(stack.lake), stack.tmp / "spool",
                      "SELECT sequence, min(ts_ns), min(recv_ns) FROM book_updates "
                      f"WHERE symbol = 'BTCUSD' AND ts_ns >= {since_ns} "
                      f"AND ts_ns < {until_ns - 10**9} GROUP BY sequence ORDER BY sequence",
                      max_rows=10_000_000).rows()
    sequences = [int(seq) for seq, _ in shown]
    if sequences != sorted(sequences):  # a resubscribe restarted them: not comparable
        return {"error": "the ladder's sequences went backwards", "shown": len(shown)}
    exchange, received, missing = [], [], 0
    for seq, ts_ns, recv_ns in rows:
        i = bisect.bisect_left(sequences, seq)
        if i == len(sequences):
            missing += 1
            continue
        on_screen_ms = shown[i][1]
        exchange.append(on_screen_ms - ts_ns / 1e6)
        received.append(on_screen_ms - recv_ns / 1e6)
    seconds = (until_ns - since_ns) / 1e9
    return {
        "book_messages_per_s": round(len(rows) / (seconds - 1), 1),
        "ladder_updates_per_s": round(len(shown) / seconds, 1),
        "exchange_to_ladder": percentiles(exchange), "recv_to_ladder": percentiles(received),
        "not_shown": missing,
    }


def write_day(root: Path, rate: float, options: dict[str, Any] | None = None) -> int:
    """A day of BTCUSD trades at ``rate``/s, in the lake layout, one file per hour, written
    with the lake's Parquet options (or ``options``, e.g. those of an older lake)."""
    (root / "_ticklake").mkdir(parents=True, exist_ok=True)
    (root / "_ticklake" / "lake.json").write_text(json.dumps({"format": 1}))
    end = time.time_ns() // 10**9 * 10**9
    start = end - DAY_NS
    rng = np.random.default_rng(7)
    n = int(rate * 86_400)
    ts = np.sort(rng.integers(start, end, n, dtype=np.int64))
    price = 90_000 + np.cumsum(rng.choice([-0.5, 0.0, 0.5], n))
    qty = rng.integers(1, 5_000, n).astype(np.float64)
    side = np.where(rng.random(n) < 0.5, "buy", "sell")
    schema = SCHEMAS["trades"]
    options = parquet_options(schema) if options is None else options
    hours = (ts - start) // (3_600 * 10**9)
    for hour in range(24):
        idx = np.nonzero(hours == hour)[0]
        if not len(idx):
            continue
        first, last = int(idx[0]), int(idx[-1]) + 1
        table = pa.table({
            "ts": pa.array(ts[first:last] // 1_000, pa.timestamp("us", tz="UTC")),
            "ts_ns": ts[first:last], "recv_ns": ts[first:last] + 1_000_000,
            "side": pa.array(side[first:last]).dictionary_encode().cast(schema.field("side").type),
            "price": pa.array(price[first:last]).cast(schema.field("price").type),
            "qty": pa.array(qty[first:last]).cast(schema.field("qty").type),
            "sequence": np.arange(first, last, dtype=np.int64),
            "from_snapshot": np.zeros(last - first, dtype=bool),
            "spool_offset": np.arange(first, last, dtype=np.int64),
            "msg_index": np.zeros(last - first, dtype=np.int16),
        }, schema=schema)
        for day in np.unique(ts[first:last] // DAY_NS):
            sel = (ts[first:last] // DAY_NS) == day
            date = time.strftime("%Y-%m-%d", time.gmtime(int(day) * 86_400))
            directory = root / "trades" / "exchange=phemex" / "symbol=BTCUSD" / f"date={date}"
            directory.mkdir(parents=True, exist_ok=True)
            pq.write_table(table.filter(pa.array(sel)),
                           directory / f"part-{first:020d}-{last:020d}.parquet",
                           **options)
    return n


def measure_history(page: Page, url: str, span: str) -> float:
    """ms from navigation start to the chart drawn (fresh page: plotly.js parse included)."""
    page.goto("about:blank")
    page.goto(url + "#history")
    page.wait_for_function("() => window.__ticklake.history && window.__ticklake.history.loads",
                           timeout=120_000)
    if span != "1d":  # the default range is the last day; pick the other one
        loads = page.evaluate("window.__ticklake.history.loads")
        started = page.evaluate("performance.now()")
        page.click(f"#hist-presets button[data-span='{span}']")
        page.wait_for_function(f"() => window.__ticklake.history.loads > {loads}",
                               timeout=120_000)
        return float(page.evaluate("performance.now()")) - float(started)
    return float(page.evaluate("window.__ticklake.history.firstDrawnAt"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--day-rate", type=float, default=50.0)
    parser.add_argument("--channels", default="trades,book",
                        help="what the live runs record (trades: no book, as before)")
    parser.add_argument("--skip-day", action="store_true")
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--socket-client", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.socket_client:  # the child of measure_socket
        print(json.dumps(asyncio.run(socket_client(args.socket_client, args.seconds))))
        return
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 820})
        report["socket"], report["screen"] = [], []
        for rate in () if args.skip_live else (args.rate, args.rate * 10):
            channels = tuple(args.channels.split(","))
            with Stack(Path(tmp) / f"live-{rate:g}", rate, channels=channels) as stack:
                report["socket"].append(measure_socket(stack, args.seconds))
                report["screen"].append(measure_screen(page, stack, args.seconds))
            print(json.dumps(report["socket"][-1]), file=sys.stderr)
            print(json.dumps(report["screen"][-1]), file=sys.stderr)
        if not args.skip_day:
            day = Path(tmp) / "day" / "lake"
            started = time.perf_counter()
            rows = write_day(day, args.day_rate)
            written = time.perf_counter() - started
            with Stack(Path(tmp) / "day", None, lake=day) as board:
                api = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    now_ms = time.time_ns() // 10**6
                    urllib.request.urlopen(f"{board.url}api/candles?symbol=BTCUSD"
                                           f"&since={now_ms - 86_400_000}&until={now_ms}"
                                           "&buckets=1200").read()
                    api.append((time.perf_counter() - t0) * 1000)
                report["history"] = {
                    "trades": rows, "write_seconds": round(written, 1),
                    "day_page_to_chart_ms": [round(measure_history(page, board.url, "1d"))
                                             for _ in range(3)],
                    "hour_zoom_to_chart_ms": [round(measure_history(page, board.url, "3600000"))
                                              for _ in range(3)],
                    "day_candles_api_ms": [round(v) for v in api],
                }
        browser.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
