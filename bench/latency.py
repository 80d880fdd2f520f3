"""Latency: frame sent by the emulator -> in the spool, -> fsynced, -> on the live bus, -> in SQL.

Usage: python bench/latency.py [--seconds 20] [--rates 50,500]

The regular emulator (one process, BTCUSDT: its ``trades_p`` messages carry ``dts``, the
emulator's wall clock when it encoded the frame, right before writing it) streams at each
rate; ticklake records in this process exactly as ``ticklake record`` composes it
(``build_recording`` + ``Recording.run``, default lake settings). Instrumentation only wraps:

* ``spool``: when ``SpoolWriter.append`` returned (queued; the session's flush at the end of
  that event-loop turn writes it, and it survives kill -9 from then on);
* ``fsync``: when the group commit advanced ``durable_offset`` past the frame (power loss);
* ``bus``: when a subscriber of ``Recording.bus`` (what the dashboard reads) got the trades;
* ``sql``: a separate process runs ``SELECT max(sequence) FROM trades`` through
  ``live_edge.query_lake`` (lake + unpublished spool tail) back to back; a frame is visible
  at the end of the first query that returns its sequence or a later one.

Same machine, same clock (``time.time_ns``). Printed as JSON: p50/p99/p999/max in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import subprocess
import sys
import tempfile
import time
from bisect import bisect_left
from pathlib import Path
from typing import Any

EMULATOR = """
import asyncio, sys
from ticklake.emulator import Emulator, EmulatorConfig
async def main():
    cfg = EmulatorConfig(symbols=("BTCUSDT",), rate=float(sys.argv[1]), history=0,
                         snapshot_size=200, port=0)
    async with Emulator(cfg) as emu:
        print(emu.url, flush=True)
        await asyncio.Event().wait()
asyncio.run(main())
"""

SQL_POLLER = """
import sys, time
from pathlib import Path
from ticklake.live_edge import query_lake
lake, spool, until = sys.argv[1], Path(sys.argv[2]), time.time() + float(sys.argv[3])
while time.time() < until:
    try:
        result = query_lake(lake, spool, "SELECT max(sequence) FROM trades")
        value = result.table.column(0)[0].as_py() if result.table.num_rows else None
    except Exception as exc:
        value = None
    print(time.time_ns(), value, flush=True)
"""

DTS = re.compile(rb'"dts":(\d+)')
SEQ = re.compile(rb'"sequence":(\d+)')


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "p50_ms": round(pct(values, 0.5), 3),
            "p99_ms": round(pct(values, 0.99), 3), "p999_ms": round(pct(values, 0.999), 3),
            "max_ms": round(max(values), 3)}


async def record(url: str, seconds: float, tmp: Path) -> dict[str, Any]:  # noqa: PLR0915
    from ticklake.config import FeedSettings, LakeSettings
    from ticklake.feed.events import TradesReceived
    from ticklake.pipeline import build_recording

    feed = FeedSettings(url=url, symbols=("BTCUSDT",), products_url="auto")
    lake = LakeSettings(root=str(tmp / "lake"), spool=str(tmp / "spool"))
    recording = await build_recording(feed, None, lake)
    writer = recording.spool_writer
    assert writer is not None
    session = recording.sessions.sessions[0]  # one symbol: one connection
    sinks = session._sinks  # instrumentation wraps the frame sink, nothing else
    append = sinks.frame
    assert append is not None
    sent: dict[int, int] = {}  # spool offset -> dts
    by_seq: dict[int, int] = {}  # sequence -> dts
    spool_lat: list[float] = []

    def on_frame(frame: Any) -> object:
        offset = append(frame)
        done = time.time_ns()
        dts = DTS.search(frame.payload)
        if dts is not None:
            sent_ns = int(dts.group(1))
            sent[offset] = sent_ns  # type: ignore[index]
            seq = SEQ.search(frame.payload)
            if seq is not None:
                by_seq[int(seq.group(1))] = sent_ns
            spool_lat.append((done - sent_ns) / 1e6)
        return offset

    session._sinks = dataclasses.replace(sinks, frame=on_frame)
    advances: list[tuple[int, int]] = []  # (durable offset, time)
    original_advance = writer._advance

    def advance(target: int) -> None:
        original_advance(target)
        advances.append((target, time.time_ns()))

    writer._advance = advance  # type: ignore[method-assign]
    bus_lat: list[float] = []
    sub = recording.bus.subscribe(maxsize=100_000)

    async def consume() -> None:
        while batch := await sub.get_batch():
            now = time.time_ns()
            for event in batch:
                if isinstance(event, TradesReceived) and not event.snapshot:
                    sent_ns = by_seq.get(event.sequence)
                    if sent_ns is not None:
                        bus_lat.append((now - sent_ns) / 1e6)

    consumer = asyncio.create_task(consume())
    poller = subprocess.Popen([sys.executable, "-c", SQL_POLLER, lake.root, lake.spool,
                               str(seconds)], stdout=subprocess.PIPE, text=True)
    await recording.run(duration=seconds)
    await asyncio.gather(consumer, return_exceptions=True)
    out, _ = poller.communicate(timeout=120)
    fsync_lat = []
    targets = [a[0] for a in advances]
    for offset, sent_ns in sent.items():
        i = bisect_left(targets, offset + 1)
        if i < len(advances):
            fsync_lat.append((advances[i][1] - sent_ns) / 1e6)
    polls = []
    for line in out.splitlines():
        at, value = line.split()
        if value != "None":
            polls.append((int(value), int(at)))
    sql_lat = []
    queries = len(out.splitlines())
    # Frames sent before the poller's first answer measure its start-up (imports, first
    # connection), not visibility: they are reported apart.
    first_answer = polls[0][1] if polls else 0
    warmup = sum(1 for sent_ns in by_seq.values() if sent_ns < first_answer)
    for seq, sent_ns in by_seq.items():
        if sent_ns < first_answer:
            continue
        seen = next((at for value, at in polls if value >= seq and at > sent_ns), None)
        if seen is not None:
            sql_lat.append((seen - sent_ns) / 1e6)
    return {"frames": len(sent), "trades": session.stats.trades,
            "to_spool": summary(spool_lat), "to_fsync": summary(fsync_lat),
            "to_bus": summary(bus_lat), "to_sql": summary(sql_lat), "sql_queries": queries,
            "sql_warmup_frames_excluded": warmup}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rates", default="50,500")
    args = parser.parse_args()
    results = []
    for rate in (float(r) for r in args.rates.split(",")):
        emu = subprocess.Popen([sys.executable, "-c", EMULATOR, str(rate)],
                               stdout=subprocess.PIPE, text=True)
        try:
            assert emu.stdout is not None
            url = emu.stdout.readline().strip()
            with tempfile.TemporaryDirectory() as tmp:
                result = asyncio.run(record(url, args.seconds, Path(tmp)))
        finally:
            emu.terminate()
            emu.wait()
        results.append({"rate_trades_per_s": rate, **result})
        print(json.dumps(results[-1]), file=sys.stderr)
    goals = {"to_spool_p99_ms": 5.0, "to_bus_p99_ms": 20.0, "to_sql_p99_ms": 1000.0}
    print(json.dumps({"bench": "latency", "seconds": args.seconds, "results": results,
                      "goals": goals, "goals_met": {
                          f"{r['rate_trades_per_s']:g}/s {k}": r[k.removesuffix("_p99_ms")]
                          .get("p99_ms", 1e9) < v for r in results for k, v in goals.items()}},
                     indent=1))


if __name__ == "__main__":
    main()
