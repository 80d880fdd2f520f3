"""Queries at the live edge: the incremental tail (``live_edge.LiveEdge``) against re-decoding
the whole unpublished tail on every query (what ``query_lake`` did before), same run.

Usage: python bench/live_edge.py [--seconds 300] [--rate 1000] [--symbols 100] [--queries 200]

A spool holds ``--seconds`` of trades at ``--rate`` trades/s spread over ``--symbols``
symbols (COIN-M frames, one trade each, as Phemex batches a quiet symbol), none published
(the default 300 s publish interval: a whole interval of tail); the lake holds one earlier
published batch. Then, for each query, the frames of the time since the last one (rate x
0.1 s) are appended and fsynced, and two queries run over lake + tail:

* ``count``: ``SELECT symbol, count(*) FROM trades GROUP BY symbol`` (``ticklake sql``);
* ``candles``: the dashboard's 1-minute candles of one symbol over the last hour
  (``dashboard.candles.candles_sql``, what ``/api/candles`` runs).

Both paths answer the same rows (checked on every query). Printed as JSON: p50/p99 in ms per
query and path, and the ratio (re-decode / incremental).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from ticklake.catalog import Lake, run_query
from ticklake.dashboard.candles import Window, candles_sql
from ticklake.feed.phemex import Family, Product, ProductTable, default_products
from ticklake.feed.phemex.control import CONTROL_CONN_ID, DecodeParams, encode_control
from ticklake.lake.storage import LakeStorage
from ticklake.lake.tail import read_tail
from ticklake.lake.writer import BufferingHints, LakeWriter
from ticklake.live_edge import LiveEdge
from ticklake.model import RawFrame
from ticklake.spool import Spool, SpoolWriter

S = 1_000_000_000
MINUTE = 60 * S
COUNT_SQL = "SELECT symbol, count(*) AS n FROM trades GROUP BY symbol ORDER BY symbol"


class Market:
    """Deterministic one-trade frames, round-robin over the symbols."""

    def __init__(self, symbols: list[str], rate: float, start_ns: int) -> None:
        self.symbols = symbols
        self.step_ns = int(S / rate)
        self.ts = start_ns
        self.n = 0

    def frames(self, count: int) -> list[RawFrame]:
        out = []
        for _ in range(count):
            self.n += 1
            self.ts += self.step_ns
            symbol = self.symbols[self.n % len(self.symbols)]
            price = 1_000_000 + (self.n * 7919) % 5_000
            body = (f'{{"sequence":{self.n},"symbol":"{symbol}","type":"incremental",'
                    f'"trades":[[{self.ts},"{"Buy" if self.n % 3 else "Sell"}",{price},'
                    f'{1 + self.n % 50}]]}}')
            out.append(RawFrame(7, self.ts + 3_000_000, body.encode()))
        return out


def redecode_query(lake_root: str, spool_dir: Path, sql: str) -> list[tuple[object, ...]]:
    """The path before: the whole tail decoded, the lake connected, per query."""
    spool = Spool(spool_dir)
    tails, _ = read_tail(spool, spool.cursors, default_products())
    conn = Lake(lake_root).connect(tails or None)
    try:
        return run_query(conn, sql).rows()
    finally:
        conn.close()


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p99_ms": round(p99 * 1000, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--baseline-queries", type=int, default=10)
    args = parser.parse_args()
    symbols = [f"Z{i:03d}USD" for i in range(1, args.symbols + 1)]
    products = ProductTable([Product(s, Family.COIN_M, 4, 0) for s in symbols])
    tmp = Path(tempfile.mkdtemp(prefix="bench-live-edge-"))
    spool_dir, lake_root = tmp / "spool", str(tmp / "lake")
    spool = Spool(spool_dir)
    start = 1_800_000_000 * S
    market = Market(symbols, args.rate, start)
    writer: SpoolWriter = spool.writer()
    writer.append(RawFrame(CONTROL_CONN_ID, start, encode_control(DecodeParams.of(products, None))))
    for frame in market.frames(int(args.rate * 60)):  # one published minute before the tail
        writer.append(frame)
    writer.sync()
    lake = LakeWriter(spool, spool.cursors, LakeStorage(lake_root), default_products(),
                      BufferingHints(size_mib=512, interval=3600))
    lake.drain()
    for frame in market.frames(int(args.rate * args.seconds)):
        writer.append(frame)
    writer.sync()
    tail_frames = int(args.rate * args.seconds)

    edge = LiveEdge(lake_root, spool_dir)
    per_step = max(1, int(args.rate * 0.1))
    timings: dict[str, dict[str, list[float]]] = {
        name: {"incremental": [], "redecode": []} for name in ("count", "candles")}
    # The first incremental query decodes the whole tail once (a dashboard's first request).
    began = time.perf_counter()
    edge.query(COUNT_SQL)
    first_query = time.perf_counter() - began
    for i in range(args.queries):
        for frame in market.frames(per_step):
            writer.append(frame)
        writer.sync()
        window = Window(symbols[i % len(symbols)], market.ts - 60 * MINUTE, market.ts + 1,
                        MINUTE)
        for name, sql in (("count", COUNT_SQL), ("candles", candles_sql(window))):
            began = time.perf_counter()
            rows = edge.query(sql).rows()
            timings[name]["incremental"].append(time.perf_counter() - began)
            if i < args.baseline_queries:  # the old path is slow: a few samples suffice
                began = time.perf_counter()
                expected = redecode_query(lake_root, spool_dir, sql)
                timings[name]["redecode"].append(time.perf_counter() - began)
                assert rows == expected, f"{name}: the two paths disagree"
    writer.close()
    result: dict[str, object] = {
        "tail_seconds": args.seconds, "rate": args.rate, "symbols": args.symbols,
        "tail_frames": tail_frames, "frames_per_query": per_step,
        "first_query_ms": round(first_query * 1000, 1),
    }
    for name, paths in timings.items():
        inc, old = percentiles(paths["incremental"]), percentiles(paths["redecode"])
        result[name] = {"incremental": inc, "redecode": old,
                        "ratio_p50": round(old["p50_ms"] / inc["p50_ms"], 1)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
