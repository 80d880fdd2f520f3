"""Tickers, ticks and klines (issue 18): the lake writer's decode rate and bytes per row.

Usage: python bench/tickers.py [--quick] [--repeat 3] [--out bench/results/tickers.json]

Streams (one day of one symbol at the exchange's 1 s cadence; ``--quick``: a quarter day),
every frame in the reference's wire format (phemex-protocol.md §6.2-6.4), values walking:

* ``market24h``: BTCUSD's COIN-M 24 h ticker, one row per frame;
* ``pack``: ``perp_market24h_pack_p`` with 200 USDⓈ-M rows per frame (the 2024 columns), of
  which the recording follows one (BTCUSDT): what every USDⓈ-M recording receives;
* ``tick``: ``.BTC``'s index tick;
* ``kline``: BTCUSD's 1-minute bar, the current bar once a second (each version a row).

Decode: the frames as spool records through the lake writer's own replay decoder and
:class:`~ticklake.lake.batch.Batch` (parse, exact decimals, Arrow tables per partition), the
median of ``--repeat`` runs, as frames/s and rows/s. Baselines in the same run: a bare
``msgspec.json.decode`` of every frame (the floor any exact reader pays), and the same number
of one-trade ``trades`` frames through the same Batch (the path every recording runs).

Storage: the day's rows in zstd Parquet with the writer's ``parquet_options``, as one file
(a compacted day) and as 288 five-minute files (what the writer publishes before compaction),
in bytes per row.

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ticklake.feed.phemex.control import CONTROL_CONN_ID, DecodeParams, encode_control
from ticklake.feed.phemex.products import default_products
from ticklake.feed.phemex.trades import replay_decoder
from ticklake.lake.batch import Batch
from ticklake.lake.storage import parquet_options

DAY_S = 86_400
T0_S = 1_795_564_800  # 2026-11-25 00:00 UTC
S = 10**9
PACK_FIELDS = ["symbol", "openRp", "highRp", "lowRp", "lastRp", "volumeRq", "turnoverRv",
               "openInterestRv", "indexRp", "markRp", "fundingRateRr", "predFundingRateRr",
               "bidRp", "askRp"]
PACK_SYMBOLS = 200
FOLLOWED = ("BTCUSD", "BTCUSDT")


class Walk:
    """A price in ticks walking one tick at a time, with a 24 h-ish range around it."""

    def __init__(self, seed: int, start: int) -> None:
        self.rng = random.Random(seed)
        self.price = start

    def step(self) -> int:
        self.price += self.rng.choice((-1, 0, 0, 1))
        return self.price


def market24h(seconds: int) -> Iterator[tuple[int, bytes]]:
    walk = Walk(1, 900_000_000)  # BTCUSD at priceScale 4: 90,000.0000
    volume = 0
    for k in range(seconds):
        ts = (T0_S + k) * S
        last = walk.step()
        volume += walk.rng.randrange(0, 5_000)
        body = {"open": 899_500_000, "high": max(last, 900_500_000), "low": min(last, 899_000_000),
                "close": last, "indexPrice": last - 1_500, "markPrice": last - 900,
                "openInterest": 2_400_000_000 + k, "fundingRate": 10_000 - k % 700,
                "predFundingRate": 9_000 + k % 500, "symbol": "BTCUSD",
                "turnover": volume * 1_111, "volume": volume}
        yield ts + 2_000_000, msgspec.json.encode({"market24h": body, "timestamp": ts})


def pack(seconds: int) -> Iterator[tuple[int, bytes]]:
    walk = Walk(2, 900_000)  # 90,000.0 at a 0.1 tick
    symbols = ["BTCUSDT", *(f"X{i:03d}USDT" for i in range(PACK_SYMBOLS - 1))]
    for k in range(seconds):
        ts = (T0_S + k) * S
        rows = []
        for i, symbol in enumerate(symbols):
            last = walk.step() + i * 10
            p = f"{last / 10:.1f}"
            rows.append([symbol, "89950.1", f"{(last + 40) / 10:.1f}", f"{(last - 40) / 10:.1f}",
                         p, f"{1234.5 + k:.3f}", f"{111_000_000.25 + k:.2f}", "4321.123",
                         f"{(last - 15) / 10:.1f}", f"{(last - 9) / 10:.1f}", "0.0001",
                         "0.00008", f"{(last - 1) / 10:.1f}", f"{(last + 1) / 10:.1f}"])
        frame = {"data": rows, "fields": PACK_FIELDS, "method": "perp_market24h_pack_p.update",
                 "timestamp": ts, "type": "incremental" if k else "snapshot"}
        yield ts + 3_000_000, msgspec.json.encode(frame)


def tick(seconds: int) -> Iterator[tuple[int, bytes]]:
    walk = Walk(3, 900_000_000)
    for k in range(seconds):
        ts = (T0_S + k) * S
        body = {"last": walk.step(), "scale": 4, "symbol": ".BTC", "timestamp": ts}
        yield ts + 1_000_000, msgspec.json.encode({"tick": body})


def kline(seconds: int) -> Iterator[tuple[int, bytes]]:
    walk = Walk(4, 900_000_000)
    bar: list[int] = []
    for k in range(seconds):
        price = walk.step()
        start = (T0_S + k) // 60 * 60
        if not bar or bar[0] != start:
            last_close = bar[6] if bar else price
            bar = [start, 60, last_close, price, price, price, price, 0, 0]
        bar[4], bar[5], bar[6] = max(bar[4], price), min(bar[5], price), price
        bar[7] += 7
        bar[8] += 7_777
        frame = {"kline": [bar], "sequence": 10_000 + k, "symbol": "BTCUSD",
                 "type": "incremental", "priceScale": 4, "valueScale": 8}
        yield (T0_S + k) * S + 1_000_000, msgspec.json.encode(frame)


def trades(seconds: int) -> Iterator[tuple[int, bytes]]:
    walk = Walk(5, 900_000_000)
    for k in range(seconds):
        ts = (T0_S + k) * S
        frame = {"trades": [[ts, "Buy" if k % 2 else "Sell", walk.step(), 1 + k % 50]],
                 "sequence": 20_000 + k, "symbol": "BTCUSD",
                 "type": "incremental" if k else "snapshot"}
        yield ts + 1_000_000, msgspec.json.encode(frame)


STREAMS: dict[str, tuple[Callable[[int], Iterator[tuple[int, bytes]]], str]] = {
    "market24h": (market24h, "tickers"), "pack": (pack, "tickers"),
    "tick": (tick, "ticks"), "kline": (kline, "klines"), "trades": (trades, "trades"),
}


def spool(name: str, seconds: int) -> list[tuple[int, int, bytes]]:
    """(conn_id, recv_ns, payload) records: the control record, an ack, the stream."""
    control = encode_control(DecodeParams.of(default_products(), None,
                                             ticker_symbols=FOLLOWED))
    records = [(CONTROL_CONN_ID, T0_S * S - S, control),
               (1, T0_S * S - S // 2, b'{"error":null,"id":1,"result":{"status":"success"}}')]
    records += [(1, recv, payload) for recv, payload in STREAMS[name][0](seconds)]
    return records


def decode(records: list[tuple[int, int, bytes]]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    decoder = replay_decoder(b"", default_products())
    batch = Batch(0, 0)
    for offset, (conn_id, recv_ns, payload) in enumerate(records):
        batch.add_record(decoder, offset, conn_id, recv_ns, payload)
    tables = batch.tables()
    return time.perf_counter() - started, tables


def bare_parse(records: list[tuple[int, int, bytes]]) -> float:
    started = time.perf_counter()
    parse = msgspec.json.decode
    for _, _, payload in records:
        parse(payload)
    return time.perf_counter() - started


def storage(table: pa.Table, seconds: int) -> dict[str, Any]:
    """Bytes per row as one file and as five-minute files."""
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "day.parquet"
        pq.write_table(table, one, **parquet_options(table.schema))
        day_bytes = one.stat().st_size
        files_bytes = files = 0
        ts = table["ts_ns"]
        for start in range(T0_S, T0_S + seconds, 300):
            part = table.filter(pc.and_(pc.greater_equal(ts, start * S),
                                        pc.less(ts, (start + 300) * S)))
            if part.num_rows:
                path = Path(tmp) / f"{start}.parquet"
                pq.write_table(part, path, **parquet_options(part.schema))
                files_bytes += path.stat().st_size
                files += 1
    rows = table.num_rows
    return {"rows": rows, "day_file_bytes_per_row": round(day_bytes / rows, 2),
            "five_minute_files": files,
            "five_minute_bytes_per_row": round(files_bytes / rows, 2)}


def run(seconds: int, repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {"seconds": seconds, "repeat": repeat, "streams": {}}
    for name, (_, table_name) in STREAMS.items():
        records = spool(name, seconds)
        frames = len(records) - 2
        times, floors = [], []
        tables: dict[str, Any] = {}
        for _ in range(repeat):
            floors.append(bare_parse(records))
            elapsed, tables = decode(records)
            times.append(elapsed)
        assert set(tables) <= {"raw", table_name}, set(tables)
        assert "rejected" not in tables
        parts = tables[table_name]
        table = pa.concat_tables(parts.values())
        elapsed, floor = statistics.median(times), statistics.median(floors)
        out["streams"][name] = {
            "table": table_name, "frames": frames, "rows": table.num_rows,
            "frames_per_s": round(frames / elapsed), "rows_per_s": round(table.num_rows / elapsed),
            "vs_bare_json_parse": round(elapsed / floor, 2),
            "payload_bytes_per_frame": round(sum(len(r[2]) for r in records[2:]) / frames),
            "storage": storage(table, seconds),
        }
    base = out["streams"]["trades"]["frames_per_s"]
    for figures in out["streams"].values():
        figures["frames_per_s_vs_trades"] = round(figures["frames_per_s"] / base, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a quarter day instead of a day")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = run(DAY_S // 4 if args.quick else DAY_S, args.repeat)
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
