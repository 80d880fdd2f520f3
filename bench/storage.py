"""Storage: bytes per trade in the lake's ``trades`` and ``raw`` tables vs the raw JSON.

Usage: python bench/storage.py [--trades 300000] [--rate 50] [--per-message 0]

The emulator's market model at a realistic ``--rate`` (trades/s) produces the stream; frames
are what the live emulator sends (``--per-message 0``: one message per 20 ms batch, as the
live emulator batches; N: N trades per message). They go through the spool and the lake
writer (default buffering, one batch per 5 minutes of stream time, i.e. the files a
recording leaves before compaction), then the same trades compacted to one file per day.
Printed as JSON: bytes/trade per table and the raw JSON bytes/trade.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from ticklake.emulator import Market
from ticklake.emulator.frames import trade_row, trades_message
from ticklake.emulator.products import PRODUCTS
from ticklake.feed.phemex import default_products
from ticklake.lake.compact import compact as compact_lake
from ticklake.lake.storage import LakeStorage
from ticklake.lake.writer import BufferingHints, LakeWriter
from ticklake.model import RawFrame
from ticklake.spool import FsyncPolicy, Spool


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trades", type=int, default=300_000)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--per-message", type=int, default=0)
    parser.add_argument("--symbol", default="BTCUSD")
    parser.add_argument("--keep", type=Path, default=None,
                        help="copy the lake (before compaction) here, for experiments")
    args = parser.parse_args()
    product = PRODUCTS[args.symbol]
    with tempfile.TemporaryDirectory() as tmp:
        spool = Spool(Path(tmp) / "spool", fsync=FsyncPolicy.NEVER)
        storage = LakeStorage(str(Path(tmp) / "lake"))
        clock = _Clock()
        writer = LakeWriter(spool, spool.cursors, storage, default_products(),
                            BufferingHints(size_mib=64, interval=300), clock=clock)
        start = time.time_ns() - 86_400 * 10**9
        market = Market((args.symbol,), seed=7, rate=args.rate, start_ns=start)
        append, flush = spool.writer().append, spool.writer().flush
        made, json_bytes, now = 0, 0, start
        step = 20_000_000
        while made < args.trades:
            now += step
            batch = market.advance(now)
            per = args.per_message or max(1, len(batch))
            for i in range(0, len(batch), per):
                chunk = batch[i:i + per]
                text = trades_message(product, "incremental", chunk[-1].seq,
                                      [trade_row(product, t) for t in chunk]).encode()
                append(RawFrame(1, now, text))
                json_bytes += len(text)
            flush()  # one write per market step, as the session flushes once per loop turn
            made += len(batch)
            if now // 10**9 != (now - step) // 10**9:
                clock.now = (now - start) / 1e9  # the writer's clock follows stream time
                writer.poll()
        spool.writer().sync()
        writer.drain()
        spool.close()

        def table_bytes(table: str) -> tuple[int, int, int]:
            files = storage.list_files(table)
            rows = sum(pq.read_metadata(Path(tmp) / "lake" / f.path).num_rows for f in files)
            return sum(f.size for f in files), rows, len(files)

        trades_b, rows, trades_files = table_bytes("trades")
        raw_b, frames, raw_files = table_bytes("raw")
        if args.keep is not None:
            shutil.copytree(Path(tmp) / "lake", args.keep, dirs_exist_ok=True)
        compact_lake(storage, spool.cursors)
        ctrades_b, crows, _ = table_bytes("trades")
        craw_b, _, _ = table_bytes("raw")
    print(json.dumps({
        "bench": "storage", "symbol": args.symbol, "rate_trades_per_s": args.rate,
        "trades": rows, "frames": frames, "trades_per_frame": round(rows / frames, 2),
        "json_bytes_per_trade": round(json_bytes / rows, 2),
        "batches": {"trades_files": trades_files, "raw_files": raw_files,
                    "trades_bytes_per_trade": round(trades_b / rows, 2),
                    "raw_bytes_per_trade": round(raw_b / rows, 2)},
        "compacted": {"trades_bytes_per_trade": round(ctrades_b / crows, 2),
                      "raw_bytes_per_trade": round(craw_b / crows, 2)},
        "ratio_raw_json_vs_trades": round(json_bytes / max(trades_b, 1), 1),
        "goal": "trades < 12 bytes/trade",
    }, indent=1))


if __name__ == "__main__":
    main()
