"""Delivery into Parquet: trades/s from a filled spool to published lake files, and bytes/trade.

Usage: python bench/lake_delivery.py [--trades 1000000] [--per-message 1]

The spool is filled with frames the emulator's market and encoder produce (BTCUSD, 1 or N
trades per incremental message), then a LakeWriter drains it into a local lake. Baseline in
the same run: ``pyarrow.parquet.write_table`` of the same trades already in columnar form
(the floor: no decoding, no de-duplication). Printed as JSON: raw numbers and ratios.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ticklake.emulator import Market
from ticklake.emulator.frames import trade_row, trades_message
from ticklake.emulator.products import PRODUCTS
from ticklake.feed.phemex import default_products
from ticklake.lake.storage import LakeStorage
from ticklake.lake.writer import BufferingHints, LakeWriter
from ticklake.model import RawFrame
from ticklake.spool import FsyncPolicy, Spool


def fill(spool: Spool, trades: int, per_message: int) -> tuple[int, int, list[int]]:
    product = PRODUCTS["BTCUSD"]
    start = time.time_ns() - 3600 * 10**9
    market = Market(("BTCUSD",), seed=7, rate=2000.0, start_ns=start)
    writer = spool.writer()
    made, frames, raw_bytes, sequence, now = 0, 0, 0, 1, start
    ts_column: list[int] = []
    while made < trades:
        now += 100_000_000
        batch = market.advance(now)
        for i in range(0, len(batch), per_message):
            chunk = batch[i:i + per_message]
            sequence += 1
            text = trades_message(product, "incremental", sequence,
                                  [trade_row(product, t) for t in chunk]).encode()
            writer.append(RawFrame(1, now, text))
            frames += 1
            raw_bytes += len(text)
            ts_column.extend(t.ts_ns for t in chunk)
        writer.flush()  # one write per market step, as the session flushes once per loop turn
        made += len(batch)
    writer.close()
    return frames, raw_bytes, ts_column


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--per-message", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spool = Spool(Path(tmp) / "spool", fsync=FsyncPolicy.NEVER)
        frames, raw_bytes, ts_column = fill(spool, args.trades, args.per_message)
        storage = LakeStorage(str(Path(tmp) / "lake"))
        writer = LakeWriter(spool, spool.cursors, storage, default_products(),
                            BufferingHints(size_mib=64, interval=3600))
        started = time.perf_counter()
        writer.drain()
        elapsed = time.perf_counter() - started
        trades_files = storage.list_files("trades")
        raw_files = storage.list_files("raw")
        rows = sum(pq.read_metadata(Path(tmp) / "lake" / f.path).num_rows for f in trades_files)
        trades_bytes = sum(f.size for f in trades_files)
        raw_lake_bytes = sum(f.size for f in raw_files)
        table = pq.read_table(Path(tmp) / "lake" / "trades")
        started = time.perf_counter()
        pq.write_table(table, Path(tmp) / "floor.parquet", compression="zstd")
        floor = time.perf_counter() - started
        del ts_column
    print(json.dumps({
        "trades_per_message": args.per_message, "frames": frames, "trades": rows,
        "seconds": round(elapsed, 2), "trades_per_s": round(rows / elapsed),
        "bytes_per_trade_trades": round(trades_bytes / rows, 2),
        "bytes_per_trade_raw": round(raw_lake_bytes / rows, 2),
        "json_bytes_per_trade": round(raw_bytes / rows, 2),
        "files": {"trades": len(trades_files), "raw": len(raw_files)},
        "baseline_write_table_seconds": round(floor, 3),
        "ratio_vs_write_table_floor": round(elapsed / floor, 1),
        "arrow_version": pa.__version__,
    }, indent=1))


if __name__ == "__main__":
    main()
