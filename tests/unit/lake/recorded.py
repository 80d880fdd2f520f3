"""A lake written by the real LakeWriter from a hand-made spool spanning several UTC days.

Frames of three days: trades of BTCUSD (scaled integers) and BTCUSDT (decimal strings), often
several fills of one order at one instant; BTCUSD's order book (a snapshot, then
incrementals); a reconnect in the middle of the second day (a trade snapshot that overlaps
what was seen, and a new book snapshot); garbage now and then. The writer publishes every
~120 records, so each day is many batches and the writer saves its decoder checkpoints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ticklake.feed.phemex import default_products
from ticklake.feed.phemex.control import CONTROL_CONN_ID, DecodeParams, encode_control
from ticklake.lake.storage import LakeStorage
from ticklake.lake.writer import BufferingHints, LakeWriter
from ticklake.model import RawFrame
from ticklake.spool import CursorStore

from .test_writer import Clock, FrameLog

DAY0 = 1_795_478_400 * 10**9  # 2026-11-24 00:00 UTC
DAY = 86_400 * 10**9
MS = 10**6
DAYS = ("2026-11-24", "2026-11-25", "2026-11-26")
AFTER = "2026-11-27"  # "today" for the rebuild: every recorded day is closed


@dataclass
class Recorded:
    root: Path
    storage: LakeStorage
    frames: int


def _trades(symbol: str, sequence: int, rows: list[list[object]], kind: str) -> bytes:
    key = "trades_p" if symbol.endswith("USDT") else "trades"
    return json.dumps({"sequence": sequence, "symbol": symbol, "type": kind, key: rows},
                      separators=(",", ":")).encode()


def _book(sequence: int, ts: int, bids: list[list[int]], asks: list[list[int]],
          kind: str) -> bytes:
    return json.dumps({"book": {"asks": asks, "bids": bids}, "depth": 30, "sequence": sequence,
                       "symbol": "BTCUSD", "timestamp": ts, "type": kind},
                      separators=(",", ":")).encode()


def frames(steps: int = 2_400) -> list[RawFrame]:
    """``steps`` moments spread over the three days (and a few before and after)."""
    out = [RawFrame(CONTROL_CONN_ID, DAY0 - 60 * 10**9,
                    encode_control(DecodeParams.of(default_products(), None)))]
    conn, seq = 1, {"BTCUSD": 100, "BTCUSDT": 500}
    book_seq = 10
    out.append(RawFrame(conn, DAY0 - 50 * 10**9, _book(
        book_seq, DAY0 - 50 * 10**9, [[870000000, 5], [869990000, 9]], [[870010000, 3]],
        "snapshot")))
    history: list[list[object]] = []  # BTCUSD rows sent, for the reconnect's snapshot
    step_ns = (3 * DAY + 40 * 10**9) // steps
    for i in range(steps):
        ts = DAY0 - 40 * 10**9 + i * step_ns
        symbol = "BTCUSD" if i % 3 else "BTCUSDT"
        fills = 1 + i % 3  # one taker order: fills at one instant, prices walking the book
        if symbol == "BTCUSD":
            rows: list[list[object]] = [[ts, "Buy" if i % 2 else "Sell",
                                         870000000 + (i % 50) * 5000 + f * 5000, 1 + f]
                                        for f in range(fills)]
            history += rows
        else:
            rows = [[ts, "Sell", f"{87000 + i % 40}.{f}", f"0.00{1 + f}"] for f in range(fills)]
        seq[symbol] += 1
        out.append(RawFrame(conn, ts + 3 * MS, _trades(symbol, seq[symbol], rows,
                                                        "incremental")))
        if i % 7 == 0:
            book_seq += 1
            price = 869990000 - (i % 11) * 10000
            out.append(RawFrame(conn, ts + 4 * MS, _book(
                book_seq, ts + MS, [[price, i % 5]], [], "incremental")))
        if i % 97 == 0:
            out.append(RawFrame(conn, ts + 5 * MS, b"\xff not a message"))
        if i == steps // 2:  # a reconnect: the snapshots of the new connection
            conn = 2
            out.append(RawFrame(conn, ts + 20 * MS, _trades(
                "BTCUSD", seq["BTCUSD"], list(reversed(history[-5:])), "snapshot")))
            book_seq += 1
            out.append(RawFrame(conn, ts + 21 * MS, _book(
                book_seq, ts + 21 * MS, [[870000000, 4]], [[870020000, 2]], "snapshot")))
    return out


def record(tmp_path: Path, steps: int = 2_400, every: int = 120) -> Recorded:
    log = FrameLog()
    for frame in frames(steps):
        log.append(frame)
    root = tmp_path / "lake"
    storage = LakeStorage(str(root))
    clock = Clock()
    writer = LakeWriter(log, CursorStore(tmp_path / "cursors"), storage, default_products(),
                        BufferingHints(64.0, 10.0, 0), clock=clock)
    # Publish every ``every`` records: a source that shows the log a slice at a time.
    shown = FrameLog()
    writer.source = shown
    for start in range(0, len(log), every):
        for frame in log.frames[start:start + every]:
            shown.append(frame)
        writer.poll()
        clock.now += 10.0
        writer.poll()
    assert writer.committed_offset == len(log)
    return Recorded(root, storage, len(log))
