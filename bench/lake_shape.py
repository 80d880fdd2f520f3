"""Large lakes with exactly the file layout ticklake's lake writer leaves, for query benchmarks.

Usage::

    python bench/lake_shape.py ROOT --symbols 100 --days 60 --trades 100000000 --layout recorder
    python bench/lake_shape.py ROOT ... --verify --plain     # check it, time plain DuckDB

For "Queries that cost what they read, not what the lake holds": what a query costs depends on
how many files the lake holds and how they are cut, so the generated lake has the writer's
cut, file for file (docs/lake-layout.md, ``ticklake.lake.writer``, ``ticklake.lake.compact``):

* Time: ``days`` UTC days ending on :data:`LAST_DAY` ("today"), of which only the first
  ``today_hours`` exist (the recorder is running now). Fixed dates, fixed seed: the same
  arguments give the same lake, and the trades depend neither on ``publish_seconds`` nor on
  ``layout`` (the same trades, cut differently).
* Trades: ``trades`` schema exactly, for symbols named like Phemex's (BTCUSDT, BTCUSD, ...)
  then synthetic ones (``S025USDT`` ...). Arrivals are a Poisson process per symbol and hour
  (Zipf weights: a few heavy symbols, a long tail; an intraday cycle; day-to-day noise), so
  ``ts_ns`` is strictly increasing per symbol; prices a per-symbol log random walk (a
  realistic volatility) rounded to the symbol's tick; the taker side follows the tick move;
  quantities lognormal in lot steps. ``recv_ns`` = ``ts_ns`` + a latency (increasing per
  symbol); ``spool_offset`` one global counter in receive order, across symbols, as one
  spool numbers its records: offset 0 is the recorder's decode-params control record, then
  one record per trade.
* Publishes: one every ``publish_seconds`` of receive time (the windows start at a phase,
  so one window a day straddles midnight). A publish covers the spool range ``[first, end)``
  of every record of its window and writes, as ``LakeWriter.publish`` does, one ``trades``
  file per symbol and UTC date (of ``ts``) that had trades, one ``raw`` file per date (of
  ``recv``) and, now and then, one ``gaps`` file (a handful in total), all named
  ``part-<first:020d>-<end:020d>.parquet`` (``ticklake.lake.layout.file_path``). A window
  crossing midnight writes files in both dates.
* ``layout="uncompacted"``: every publish file stays (a lake never compacted).
  ``layout="recorder"``: what the recorder leaves once it compacts on its own. Every
  partition of a past date is one ``compact-<first>-<end>.parquet`` (first/end: the union of
  its inputs' ranges; rows sorted by ``spool_offset``; the columns as ``compact._merge``
  builds them); today, the files of closed hours (whose window ended before the current hour
  began) are merged the same way, and the files of the current hour stay publish files. A
  partition with a single input stays as it is (``compact``'s ``min_files=2``). The inputs
  are not written, unless ``leftover_inputs`` (then a plain glob counts their rows twice:
  readers must skip ``tables.superseded`` files). Checked: ``ticklake.lake.compact.compact``
  run on the "uncompacted" lake of the same arguments leaves past dates byte-identical to
  the "recorder" lake's. (Today's closed hours: ``compact`` itself skips today's partitions
  so far; this is the layout the recorder's own compaction is to leave.)

The one deviation: ``raw`` holds one row per (publish, symbol, receive date) — the first trade
record of that symbol in the window, with a short JSON payload — plus the control record,
not one row per spool record (that would be tens of GB). Its files are the writer's: same
partitions, names and count, fewer bytes. No ``rejected`` or ``anomalies`` files, and no
manifest (``--manifest`` builds one with ``ticklake.manifest.build``, as ``ticklake
manifest`` does for a lake written before manifests).

Files are written with ``pyarrow.parquet.write_table(table, path, **parquet_options(schema))``
straight into their final paths: the same call, hence the same bytes, as
``LakeStorage.publish``, without its temp file and two fsyncs per file (``--publish`` goes
through ``LakeStorage.publish``: a byte-identical lake, ~0.6 ms more per file here, so about
a minute more for 100k files). The Arrow
tables are built as the writer builds them (``lake/batch.py``: decimals from int64 buffers, the
``side`` dictionary). Writes run on ``workers`` threads while the next hour is generated;
memory stays well under 2 GB (one hour of trades, plus the current day's partitions in the
recorder layout). ``ROOT/_bench_meta.json`` (written last: a lake without it is unfinished)
holds the parameters, the file counts, rows and bytes per table, the dates, the symbols by
trade count, and the exact answer of a sanity query (trades and sum of qty of a mid-sized
symbol on a past day) computed from the generated arrays.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import math
import os
import shutil
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ticklake.lake.layout import file_path
from ticklake.lake.storage import LakeStorage, parquet_options
from ticklake.schemas import DECIMAL, GAPS, RAW, TRADES, UTC_US
from ticklake.tables import parse_file_name, superseded

LAST_DAY = dt.date(2026, 11, 30)  # "today"
EXCHANGE = "phemex"
DAY_NS = 86_400 * 10**9
HOUR_NS = 3_600 * 10**9
SCALE_DIGITS = 8  # decimal128(18, 8)
SCALE = 10**SCALE_DIGITS
CONN_ID = 7  # the spool's connection id of the (one) recorder run
CONTROL_CONN = 4_294_967_295  # conn_id of the recorder's control records
META = "_bench_meta.json"
_U42 = (1 << 42) - 1  # an hour in ns fits in 42 bits
_YEAR_S = 365 * 86_400

# symbol, start price, tick, lot step: the heaviest first (Zipf weights follow this order).
REAL_SYMBOLS = (
    ("BTCUSDT", "95000", "0.1", "0.001"),
    ("BTCUSD", "95000", "0.5", "1"),
    ("ETHUSDT", "3400", "0.01", "0.01"),
    ("SOLUSDT", "180", "0.01", "0.1"),
    ("ETHUSD", "3400", "0.05", "1"),
    ("XRPUSDT", "2.2", "0.0001", "1"),
    ("DOGEUSDT", "0.35", "0.00001", "1"),
    ("BNBUSDT", "650", "0.01", "0.01"),
    ("SUIUSDT", "4.1", "0.0001", "0.1"),
    ("ADAUSDT", "0.9", "0.0001", "1"),
    ("LINKUSDT", "20", "0.001", "0.1"),
    ("AVAXUSDT", "38", "0.001", "0.1"),
    ("u1000PEPEUSDT", "0.018", "0.0000001", "1"),
    ("LTCUSDT", "100", "0.01", "0.01"),
    ("DOTUSDT", "7", "0.001", "0.1"),
    ("TRXUSDT", "0.25", "0.00001", "1"),
    ("XRPUSD", "2.2", "0.0001", "1"),
    ("LINKUSD", "20", "0.001", "1"),
    ("BCHUSDT", "450", "0.01", "0.01"),
    ("NEARUSDT", "5.5", "0.001", "0.1"),
    ("APTUSDT", "10", "0.001", "0.01"),
    ("ARBUSDT", "0.8", "0.0001", "1"),
    ("OPUSDT", "2.1", "0.0001", "0.1"),
    ("LTCUSD", "100", "0.01", "1"),
    ("ADAUSD", "0.9", "0.0001", "1"),
)


# -- Arrow columns as lake/batch.py builds them ----------------------------------------------


def _fixed(kind: pa.DataType, values: np.ndarray) -> pa.Array:
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def _int64(values: np.ndarray) -> pa.Array:
    return _fixed(pa.int64(), np.ascontiguousarray(values, dtype=np.int64))


def _timestamps(ns: np.ndarray) -> pa.Array:
    return _fixed(UTC_US, np.ascontiguousarray(ns, dtype=np.int64) // 1000)


def _bools(values: np.ndarray) -> pa.Array:
    bits = np.packbits(np.asarray(values, dtype=bool), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])


def _decimals(unscaled: np.ndarray) -> pa.Array:
    """Exact decimal128(18, 8) from integers already scaled by 10**8."""
    values = np.asarray(unscaled, dtype=np.int64)
    words = np.empty((len(values), 2), dtype=np.int64)
    words[:, 0] = values
    words[:, 1] = values >> 63
    return pa.Array.from_buffers(DECIMAL, len(values), [None, pa.py_buffer(words.tobytes())])


_SIDES = pa.Array.from_buffers(
    pa.string(), 2, [None, pa.py_buffer(np.array([0, 3, 7], np.int32)), pa.py_buffer(b"buysell")])


def trades_table(c: dict[str, np.ndarray]) -> pa.Table:
    """A publish file's ``trades`` table (``lake.batch._trades_table``)."""
    side = pa.DictionaryArray.from_arrays(
        _fixed(pa.int8(), np.where(c["buy"], 0, 1).astype(np.int8)), _SIDES)
    n = len(c["ts"])
    arrays = [
        _timestamps(c["ts"]), _int64(c["ts"]), _int64(c["recv"]), side,
        _decimals(c["price"]), _decimals(c["qty"]), _int64(c["seq"]),
        _bools(np.zeros(n, dtype=bool)), _int64(c["off"]),
        _fixed(pa.int16(), np.zeros(n, dtype=np.int16)),  # one trade per message
    ]
    return pa.Table.from_arrays(arrays, schema=TRADES)


def raw_table(c: dict[str, Any]) -> pa.Table:
    """A publish file's ``raw`` table (``Batch.tables``)."""
    recv = c["recv"]
    return pa.Table.from_arrays(
        [_timestamps(recv), _int64(recv), _int64(c["conn"]), _int64(c["off"]),
         pa.array(c["payload"], pa.string())], schema=RAW)


def gaps_table(rows: list[dict[str, Any]]) -> pa.Table:
    """A ``gaps`` table (``batch._to_table``)."""
    cols: dict[str, Any] = {name: [row[name] for row in rows] for name in rows[0]}
    arrays: dict[str, pa.Array] = {
        "from_ts": _timestamps(np.asarray(cols["from_ns"], dtype=np.int64)),
        "to_ts": _timestamps(np.asarray(cols["to_ns"], dtype=np.int64)),
    }
    for name in GAPS.names:
        if name not in arrays:
            arrays[name] = pa.array(cols[name], type=GAPS.field(name).type)
    return pa.Table.from_arrays([arrays[n] for n in GAPS.names], schema=GAPS)


def compacted(table: pa.Table) -> pa.Table:
    """``compact._merge``'s form of merged rows: sorted by ``spool_offset``, dictionary
    columns encoded afresh (their dictionary in order of first appearance)."""
    schema = table.schema
    plain = pa.schema([
        pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type) else f
        for f in schema
    ])
    merged = table.cast(plain).sort_by([("spool_offset", "ascending")])
    columns = [
        pc.dictionary_encode(merged[f.name]).cast(f.type)
        if pa.types.is_dictionary(f.type) else merged[f.name]
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


# -- symbols and the market ------------------------------------------------------------------


def _unscaled(text: str) -> int:
    return int(Decimal(text) * SCALE)


def _scale(unscaled: int) -> int:
    """Decimal places of a step given in 10**-8 units (0.001 -> 3)."""
    text = str(unscaled)
    return max(0, SCALE_DIGITS - (len(text) - len(text.rstrip("0"))))


def _decimal_text(unscaled: int) -> str:
    whole, frac = divmod(unscaled, SCALE)
    return f"{whole}.{frac:08d}".rstrip("0").rstrip(".")


@dataclass
class Market:
    """Per-symbol parameters and the state carried from one hour to the next."""

    names: list[str]
    tick: np.ndarray  # unscaled (10**-8)
    lot: np.ndarray  # unscaled
    sigma: np.ndarray  # log-price sd per sqrt(second)
    qty_mu: np.ndarray  # log of the median quantity, in lots
    weight: np.ndarray  # share of all trades
    logp: np.ndarray  # log(price / tick), the random walk's state
    last_tick: np.ndarray
    last_ts: np.ndarray
    last_recv: np.ndarray
    seq: np.ndarray

    @classmethod
    def make(cls, symbols: int, start_ns: int, rng: np.random.Generator) -> Market:
        names, tick, lot, price = [], [], [], []
        for i in range(symbols):
            if i < len(REAL_SYMBOLS):
                name, p, t, q = REAL_SYMBOLS[i]
                names.append(name)
                price.append(float(p))
                tick.append(_unscaled(t))
                lot.append(_unscaled(q))
                continue
            p10 = rng.uniform(-2.0, 3.0)
            names.append(f"S{i:03d}USDT")
            price.append(10**p10)
            tick.append(10 ** (math.floor(p10) - 4 + 8))
            lot.append(10 ** (min(2, max(-3, -math.floor(p10) - 1)) + 8))
        ticks = np.array(tick, dtype=np.int64)
        zipf = 1.0 / np.arange(1, symbols + 1) ** 1.1
        vol = np.where(np.arange(symbols) < 2, 0.5, rng.uniform(0.6, 1.4, symbols))
        return cls(
            names=names, tick=ticks, lot=np.array(lot, dtype=np.int64),
            sigma=vol / math.sqrt(_YEAR_S),
            qty_mu=np.log(rng.uniform(2.0, 200.0, symbols)),
            weight=zipf / zipf.sum(),
            logp=np.log(np.array(price) * SCALE / ticks),
            last_tick=np.rint(np.array(price) * SCALE / ticks).astype(np.int64),
            last_ts=np.full(symbols, start_ns - 10**9, dtype=np.int64),
            last_recv=np.full(symbols, start_ns - 10**9, dtype=np.int64),
            seq=(10**9 + rng.integers(0, 10**8, symbols)).astype(np.int64),
        )

    def hour(self, rng: np.random.Generator, c0: int, c1: int,
             lam: np.ndarray) -> dict[str, np.ndarray] | None:
        """Trades of ``[c0, c1)`` (at most an hour), ``lam`` expected per symbol; sorted by
        symbol, then time."""
        n = rng.poisson(lam).astype(np.int64)
        total = int(n.sum())
        if total == 0:
            return None
        nsym = len(n)
        sym = np.repeat(np.arange(nsym, dtype=np.int64), n)
        starts = np.cumsum(n) - n
        active = np.flatnonzero(n)
        ends = starts[active] + n[active] - 1
        # strictly increasing times: n sorted draws in [0, span - n), plus 0, 1, ..., n-1
        span = c1 - c0
        key = (sym << 42) | (rng.random(total) * (span - n)[sym]).astype(np.int64)
        key.sort()
        rank = np.arange(total, dtype=np.int64) - starts[sym]
        ts = c0 + (key & _U42) + rank
        # receive time: a latency per symbol and hour, never before the symbol's last one
        lat = (2_000_000 + rng.exponential(4_000_000, nsym)).astype(np.int64)
        first_ts = np.zeros(nsym, dtype=np.int64)
        first_ts[active] = ts[starts[active]]
        lat[active] = np.maximum(lat[active], self.last_recv[active] - first_ts[active] + 1)
        recv = ts + lat[sym]
        # price: log random walk, sd sigma * sqrt(dt), rounded to the tick
        prev_ts = np.empty_like(ts)
        prev_ts[1:] = ts[:-1]
        prev_ts[starts[active]] = self.last_ts[active]
        step = rng.standard_normal(total) * self.sigma[sym] * np.sqrt((ts - prev_ts) * 1e-9)
        walk = np.cumsum(step)
        before = np.zeros(nsym)
        before[active] = walk[starts[active]] - step[starts[active]]
        logp = self.logp[sym] + walk - before[sym]
        ticks = np.maximum(np.rint(np.exp(logp)), 1).astype(np.int64)
        prev_tick = np.empty_like(ticks)
        prev_tick[1:] = ticks[:-1]
        prev_tick[starts[active]] = self.last_tick[active]
        coin = rng.random(total) < 0.5
        buy = (ticks > prev_tick) | ((ticks == prev_tick) & coin)
        lots = np.minimum(np.ceil(rng.lognormal(self.qty_mu[sym], 1.1)), 10**6).astype(np.int64)
        seq = self.seq[sym] + rank + 1
        self.logp[active] = logp[ends]
        self.last_tick[active] = ticks[ends]
        self.last_ts[active] = ts[ends]
        self.last_recv[active] = recv[ends]
        self.seq[active] = seq[ends]
        return {"sym": sym, "ts": ts, "recv": recv, "price": ticks * self.tick[sym],
                "qty": lots * self.lot[sym], "buy": buy, "seq": seq}


# -- writing ---------------------------------------------------------------------------------


@dataclass
class Held:
    """A partition's publish files waiting to be compacted: their rows and ranges."""

    first: int
    end: int
    files: int = 0
    pieces: list[Any] = field(default_factory=list)


class Sink:
    """Writes files on a thread pool; keeps per-table counts of files, rows and bytes."""

    def __init__(self, root: Path, workers: int, via_storage: bool) -> None:
        self.root = root
        self.storage = LakeStorage(str(root))
        self.via_storage = via_storage
        self.pool = ThreadPoolExecutor(max(1, workers))
        self.limit = 8 * max(1, workers)
        self.pending: list[Future[tuple[str, int]]] = []
        self.files: dict[str, int] = defaultdict(int)
        self.kinds: dict[str, int] = defaultdict(int)
        self.rows: dict[str, int] = defaultdict(int)
        self.bytes: dict[str, int] = defaultdict(int)
        self._dirs: set[str] = set()

    def write(self, relpath: str, table: pa.Table) -> None:
        name = relpath.split("/", 1)[0]
        self.files[name] += 1
        self.kinds[f"{name}/{relpath.rsplit('/', 1)[1].split('-', 1)[0]}"] += 1
        self.rows[name] += table.num_rows
        if len(self.pending) >= self.limit:
            self._collect(self.limit // 2)
        self.pending.append(self.pool.submit(self._write, relpath, name, table))

    def _write(self, relpath: str, name: str, table: pa.Table) -> tuple[str, int]:
        if self.via_storage:
            size = self.storage.publish(relpath, table)
        else:
            full = f"{self.root}/{relpath}"
            directory = full.rsplit("/", 1)[0]
            if directory not in self._dirs:
                os.makedirs(directory, exist_ok=True)
                self._dirs.add(directory)
            pq.write_table(table, full, **parquet_options(table.schema))
            size = os.path.getsize(full)
        return name, size

    def _collect(self, keep: int) -> None:
        while len(self.pending) > keep:
            name, size = self.pending.pop(0).result()
            self.bytes[name] += size

    def close(self) -> None:
        self._collect(0)
        self.pool.shutdown()


@dataclass
class Clock:
    """The lake's calendar: days, windows (publishes), the current hour."""

    days: int
    publish_ns: int
    today_hours: float
    first_day: dt.date = field(init=False)
    start_ns: int = field(init=False)
    end_ns: int = field(init=False)
    hour_start_ns: int = field(init=False)  # the current hour: its files stay publish files
    w0: int = field(init=False)  # windows: [w0 + k * publish_ns, ...), the last one cut at end

    def __post_init__(self) -> None:
        self.first_day = LAST_DAY - dt.timedelta(days=self.days - 1)
        epoch_day = (self.first_day - dt.date(1970, 1, 1)).days
        self.start_ns = epoch_day * DAY_NS
        today_ns = self.start_ns + (self.days - 1) * DAY_NS
        self.end_ns = today_ns + round(self.today_hours * HOUR_NS)
        self.hour_start_ns = today_ns + math.floor(self.today_hours) * HOUR_NS
        # a phase, so that one window a day straddles midnight (the writer's batches keep no
        # calendar): 37% of a window
        self.w0 = self.start_ns - (self.publish_ns * 37 // 100) // 10**9 * 10**9
        self.last_window = (self.end_ns - 1 - self.w0) // self.publish_ns

    @property
    def day0(self) -> int:
        return self.start_ns // DAY_NS

    def date(self, day_index: int) -> str:
        return (self.first_day + dt.timedelta(days=day_index)).isoformat()

    def window_end_ns(self, w: np.ndarray) -> np.ndarray:
        ends: np.ndarray = np.minimum(self.w0 + (w + 1) * self.publish_ns, self.end_ns)
        return ends


class Builder:
    """Streams the market hour by hour into publishes, and publishes into files."""

    def __init__(self, root: Path, *, symbols: int, days: int, trades: int,
                 publish_seconds: int, layout: str, seed: int, today_hours: float,
                 leftover_inputs: bool, workers: int, via_storage: bool) -> None:
        if layout not in ("recorder", "uncompacted"):
            msg = f"layout must be 'recorder' or 'uncompacted', not {layout!r}"
            raise ValueError(msg)
        if not 0 < today_hours <= 24 or days < 1 or symbols < 1 or publish_seconds < 1:
            msg = "need days >= 1, symbols >= 1, publish_seconds >= 1, 0 < today_hours <= 24"
            raise ValueError(msg)
        self.root = root
        self.trades = trades
        self.recorder = layout == "recorder"
        self.leftover = leftover_inputs and self.recorder
        self.clock = Clock(days, publish_seconds * 10**9, today_hours)
        self.rng = np.random.default_rng(seed)
        self.market = Market.make(symbols, self.clock.start_ns, self.rng)
        self.nsym = symbols
        self.ndays = days + 1  # a receive time may fall on the day after the last one
        self.sink = Sink(root, workers, via_storage)
        self.held: dict[tuple[str, tuple[str, ...]], Held] = {}
        self.next_offset = 1  # offset 0: the control record
        self.counts = np.zeros(symbols * self.ndays, dtype=np.int64)
        self.qty_sums = np.zeros(symbols * self.ndays, dtype=np.int64)
        self.gaps = self._gap_plan()
        self.pending: dict[str, np.ndarray] | None = None

    # -- the plan --------------------------------------------------------------------------

    def _hours(self) -> list[tuple[int, int]]:
        c = self.clock
        return [(t, min(t + HOUR_NS, c.end_ns)) for t in range(c.start_ns, c.end_ns, HOUR_NS)]

    def _rates(self, hours: list[tuple[int, int]]) -> np.ndarray:
        """Expected trades per (hour, symbol), summing to ``trades``."""
        c = self.clock
        starts = np.array([h[0] for h in hours], dtype=np.int64)
        lengths = np.array([h[1] - h[0] for h in hours], dtype=np.float64)
        day = (starts - c.start_ns) // DAY_NS
        hour_of_day = ((starts - c.start_ns) % DAY_NS) // HOUR_NS
        cycle = 1 + 0.4 * np.cos(2 * np.pi * (hour_of_day - 15) / 24)  # busiest ~15:00 UTC
        day_noise = self.rng.lognormal(0.0, 0.15, c.days)[day]
        symbol_day = self.rng.lognormal(0.0, 0.3, (c.days, self.nsym))[day]
        lam = (lengths * cycle * day_noise)[:, None] * symbol_day * self.market.weight[None, :]
        scaled: np.ndarray = lam * (self.trades / lam.sum())
        return scaled

    def _gap_plan(self) -> list[dict[str, Any]]:
        """A handful of gaps (one ``snapshot`` gap about every two weeks, 2 to 5)."""
        c = self.clock
        if c.end_ns - c.start_ns < 4 * HOUR_NS:
            return []
        count = min(5, max(2, c.days // 14))
        at = np.sort(self.rng.integers(c.start_ns + HOUR_NS, c.end_ns - HOUR_NS, count))
        heavy = min(self.nsym, 20)
        return [{"symbol": self.market.names[int(self.rng.integers(0, heavy))],
                 "detected_ns": int(t), "from_ns": int(t) - 3 * 10**9,
                 "to_ns": int(t) - 10**9 // 2} for t in at]

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> None:
        c = self.clock
        hours = self._hours()
        lam = self._rates(hours)
        for i, (h0, h1) in enumerate(hours):
            chunk = self.market.hour(self.rng, h0, h1, lam[i])
            if chunk is not None:
                self.pending = chunk if self.pending is None else {
                    k: np.concatenate([self.pending[k], chunk[k]]) for k in chunk}
            last = i == len(hours) - 1
            boundary = None if last else c.w0 + (h1 - c.w0) // c.publish_ns * c.publish_ns
            self._flush(boundary)
            if self.recorder:
                # every record of a day before min(boundary, the oldest unflushed trade) is
                # out: its partitions are complete
                upto = h1 if boundary is None else boundary
                if self.pending is not None and len(self.pending["ts"]):
                    upto = min(upto, int(self.pending["ts"].min()))
                if self.gaps:  # a gap detected before the boundary, not flushed yet
                    upto = min(upto, self.gaps[0]["detected_ns"])
                self._compact_before(upto // DAY_NS - c.day0)
        if self.recorder:
            self._compact_before(self.ndays + 1)
        self.sink.close()

    def _flush(self, boundary: int | None) -> None:
        """Publish every window that ends at or before ``boundary`` (None: all of them)."""
        p = self.pending
        if p is None or not len(p["recv"]):
            return
        if boundary is None:
            out, self.pending = p, None
        else:
            mask = p["recv"] < boundary
            if not mask.any():
                return
            out = {k: v[mask] for k, v in p.items()}
            self.pending = {k: v[~mask] for k, v in p.items()}
        order = np.argsort(out["recv"], kind="stable")
        f = {k: v[order] for k, v in out.items()}
        n = len(f["recv"])
        f["off"] = self.next_offset + np.arange(n, dtype=np.int64)
        self.next_offset += n
        c = self.clock
        w = np.minimum((f["recv"] - c.w0) // c.publish_ns, c.last_window)
        windows, starts, wi = np.unique(w, return_index=True, return_inverse=True)
        wfirst = f["off"][starts].copy()
        wend = np.append(f["off"][starts[1:]], f["off"][-1] + 1)
        control = wfirst[0] == 1
        if control:
            wfirst[0] = 0
        wend_ns = c.window_end_ns(windows)
        f["wi"] = wi
        day = f["ts"] // DAY_NS - c.day0
        key = f["sym"] * self.ndays + day
        np.add.at(self.counts, key, 1)
        np.add.at(self.qty_sums, key, f["qty"])
        self._trades(f, day, wfirst, wend, wend_ns)
        self._raw(f, wfirst, wend, wend_ns, control)
        self._gaps(f, wfirst, wend, wend_ns)

    def _held_mask(self, day: np.ndarray, window_end_ns: np.ndarray) -> np.ndarray:
        """Which rows go to a compacted file: a past date, or today before the current hour."""
        if not self.recorder:
            return np.zeros(len(day), dtype=bool)
        today = self.clock.days - 1
        held: np.ndarray = (day < today) | (
            (day == today) & (window_end_ns <= self.clock.hour_start_ns))
        return held

    def _trades(self, f: dict[str, np.ndarray], day: np.ndarray, wfirst: np.ndarray,
                wend: np.ndarray, wend_ns: np.ndarray) -> None:
        held = self._held_mask(day, wend_ns[f["wi"]])
        cols = ("ts", "recv", "price", "qty", "buy", "seq", "off")
        part = ~held | self.leftover
        if part.any():
            idx = np.flatnonzero(part)
            key = (f["wi"][idx] * self.nsym + f["sym"][idx]) * self.ndays + day[idx]
            for rows in _groups(idx, key):
                r0 = rows[0]
                wi = int(f["wi"][r0])
                partition = (EXCHANGE, self.market.names[int(f["sym"][r0])],
                             self.clock.date(int(day[r0])))
                self.sink.write(file_path("trades", partition, int(wfirst[wi]), int(wend[wi])),
                                trades_table({k: f[k][rows] for k in cols}))
        if held.any():
            idx = np.flatnonzero(held)
            for rows in _groups(idx, f["sym"][idx] * self.ndays + day[idx]):
                r0 = rows[0]
                partition = (EXCHANGE, self.market.names[int(f["sym"][r0])],
                             self.clock.date(int(day[r0])))
                self._hold("trades", partition, f["wi"][rows], wfirst, wend,
                           {k: f[k][rows] for k in cols})

    def _raw(self, f: dict[str, np.ndarray], wfirst: np.ndarray, wend: np.ndarray,
             wend_ns: np.ndarray, control: bool) -> None:
        rday = f["recv"] // DAY_NS - self.clock.day0
        key = (f["wi"] * self.nsym + f["sym"]) * self.ndays + rday
        _, pick = np.unique(key, return_index=True)
        pick.sort()  # the first record of each (window, symbol, receive date), offset order
        rows = {k: f[k][pick] for k in ("sym", "ts", "recv", "price", "qty", "buy", "seq",
                                        "off", "wi")}
        names = self.market.names
        sides = ("Sell", "Buy")
        payload = [
            f'{{"sequence":{s},"symbol":"{names[y]}","trades_p":[[{t},"{sides[b]}",'
            f'"{_decimal_text(p)}","{_decimal_text(q)}"]],"type":"incremental"}}'
            for y, t, p, q, b, s in zip(rows["sym"].tolist(), rows["ts"].tolist(),
                                        rows["price"].tolist(), rows["qty"].tolist(),
                                        rows["buy"].tolist(), rows["seq"].tolist(), strict=True)
        ]
        conn = np.full(len(pick), CONN_ID, dtype=np.int64)
        recv, off, wi = rows["recv"], rows["off"], rows["wi"]
        if control:
            payload.insert(0, self._control_payload())
            recv = np.insert(recv, 0, recv[0] - 1000)
            off = np.insert(off, 0, 0)
            conn = np.insert(conn, 0, CONTROL_CONN)
            wi = np.insert(wi, 0, 0)
        rday = recv // DAY_NS - self.clock.day0
        held = self._held_mask(rday, wend_ns[wi])
        part = ~held | self.leftover
        idx_all = np.arange(len(recv))
        text = np.array(payload, dtype=object)
        if part.any():
            idx = idx_all[part]
            for g in _groups(idx, wi[idx] * self.ndays + rday[idx]):
                w = int(wi[g[0]])
                partition = (EXCHANGE, self.clock.date(int(rday[g[0]])))
                self.sink.write(file_path("raw", partition, int(wfirst[w]), int(wend[w])),
                                raw_table({"recv": recv[g], "conn": conn[g], "off": off[g],
                                           "payload": text[g].tolist()}))
        if held.any():
            idx = idx_all[held]
            for g in _groups(idx, rday[idx]):
                partition = (EXCHANGE, self.clock.date(int(rday[g[0]])))
                self._hold("raw", partition, wi[g], wfirst, wend,
                           {"recv": recv[g], "conn": conn[g], "off": off[g],
                            "payload": text[g].tolist()})

    def _control_payload(self) -> str:
        m = self.market
        products = [{"symbol": name, "family": "coin-m" if name.endswith("USD") else "usdt-m",
                     "price_scale": _scale(int(t)), "qty_scale": _scale(int(q)),
                     "listed": True} for name, t, q in zip(m.names, m.tick, m.lot, strict=True)]
        return json.dumps({"products": products, "snapshot_size": None,
                           "source": "https://api.phemex.com/public/products",
                           "ticklake": "decode-params", "version": 1}, sort_keys=True)

    def _gaps(self, f: dict[str, np.ndarray], wfirst: np.ndarray, wend: np.ndarray,
              wend_ns: np.ndarray) -> None:
        recv = f["recv"]
        due = [g for g in self.gaps if g["detected_ns"] <= recv[-1]]
        if not due:
            return
        self.gaps = [g for g in self.gaps if g["detected_ns"] > recv[-1]]
        files: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
        for gap in due:
            i = min(int(np.searchsorted(recv, gap["detected_ns"])), len(recv) - 1)
            gday = gap["detected_ns"] // DAY_NS - self.clock.day0
            files[(int(f["wi"][i]), gday)].append({**gap, "reason": "snapshot",
                                                   "spool_offset": int(f["off"][i]),
                                                   "channel": "trades"})
        for (w, gday), rows in sorted(files.items()):
            partition = (EXCHANGE, self.clock.date(gday))
            held = bool(self._held_mask(np.array([gday]), wend_ns[[w]])[0])
            if not held or self.leftover:
                self.sink.write(file_path("gaps", partition, int(wfirst[w]), int(wend[w])),
                                gaps_table(rows))
            if held:
                self._hold("gaps", partition, np.array([w]), wfirst, wend, rows)

    def _hold(self, table: str, partition: tuple[str, ...], wi: np.ndarray, wfirst: np.ndarray,
              wend: np.ndarray, piece: Any) -> None:
        first, end = int(wfirst[int(wi[0])]), int(wend[int(wi[-1])])
        held = self.held.get((table, partition))
        if held is None:
            held = self.held[(table, partition)] = Held(first, end)
        held.first, held.end = min(held.first, first), max(held.end, end)
        held.files += 1 + int(np.count_nonzero(np.diff(wi)))
        held.pieces.append(piece)

    def _compact_before(self, day_index: int) -> None:
        """Write the compacted files of every held partition dated before ``day_index``."""
        limit = self.clock.date(day_index) if day_index < self.ndays + 1 else "9999-12-31"
        for key in sorted(k for k in self.held if k[1][-1] < limit):
            table, partition = key
            held = self.held.pop(key)
            merged = _merge(table, held.pieces)
            if held.files >= 2:
                self.sink.write(file_path(table, partition, held.first, held.end, "compact"),
                                compacted(merged))
            elif not self.leftover:  # one input: compaction leaves it as it is
                self.sink.write(file_path(table, partition, held.first, held.end), merged)

    def meta(self) -> dict[str, Any]:
        c = self.clock
        counts = self.counts.reshape(self.nsym, self.ndays)
        sums = self.qty_sums.reshape(self.nsym, self.ndays)
        per_symbol = counts.sum(axis=1)
        ranked = sorted(range(self.nsym), key=lambda s: (-int(per_symbol[s]), s))
        dates = [c.date(d) for d in range(c.days)]
        mid = ranked[len(ranked) // 2]
        past = dates[:-1] or dates
        day = len(past) // 2
        return {
            "dates": dates,
            "symbols": [{"symbol": self.market.names[s], "trades": int(per_symbol[s])}
                        for s in ranked],
            "trades_per_date": {dates[d]: int(counts[:, d].sum()) for d in range(c.days)},
            "sanity": {
                "symbol": self.market.names[mid], "date": past[day],
                "date_is_past": past[day] != dates[-1],
                "trades": int(counts[mid, day]),
                "sum_qty": str(Decimal(int(sums[mid, day])) / SCALE),
                "sum_qty_unscaled": int(sums[mid, day]),
            },
            "spool_end": self.next_offset,
            "current_hour_start": dt.datetime.fromtimestamp(
                c.hour_start_ns / 1e9, dt.UTC).isoformat(),
            "now": dt.datetime.fromtimestamp(c.end_ns / 1e9, dt.UTC).isoformat(),
        }


def _groups(idx: np.ndarray, key: np.ndarray) -> list[np.ndarray]:
    """``idx`` split by ``key`` (rows keep their order inside a group), groups by key."""
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    cuts = np.flatnonzero(np.diff(sorted_key)) + 1
    return np.split(idx[order], cuts)


def _merge(table: str, pieces: list[Any]) -> pa.Table:
    """The writer's table of a held partition's rows (one input), before ``compacted``."""
    if table == "trades":
        return trades_table({k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]})
    if table == "raw":
        return raw_table({"recv": np.concatenate([p["recv"] for p in pieces]),
                          "conn": np.concatenate([p["conn"] for p in pieces]),
                          "off": np.concatenate([p["off"] for p in pieces]),
                          "payload": [t for p in pieces for t in p["payload"]]})
    return gaps_table([row for p in pieces for row in p])


def build_lake(root: Path, *, symbols: int, days: int, trades: int, publish_seconds: int = 300,
               layout: str, seed: int = 7, today_hours: float = 12.5,
               leftover_inputs: bool = False, workers: int = 2, via_storage: bool = False,
               overwrite: bool = False) -> dict[str, Any]:
    """Generate the lake at ``root`` (new or empty; ``overwrite`` removes an earlier
    generated lake there) and return what ``_bench_meta.json`` holds."""
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        generated = (root / META).exists() or (root / "_ticklake").exists()
        if not (overwrite and generated):
            msg = f"{root} is not empty (overwrite=True replaces a generated lake)"
            raise FileExistsError(msg)
        shutil.rmtree(root)
    started = time.perf_counter()
    LakeStorage(str(root)).ensure_marker()
    builder = Builder(root, symbols=symbols, days=days, trades=trades,
                      publish_seconds=publish_seconds, layout=layout, seed=seed,
                      today_hours=today_hours, leftover_inputs=leftover_inputs,
                      workers=workers, via_storage=via_storage)
    builder.run()
    sink = builder.sink
    seconds = time.perf_counter() - started
    meta = {
        "generator": "bench/lake_shape.py",
        "params": {"symbols": symbols, "days": days, "trades": trades,
                   "publish_seconds": publish_seconds, "layout": layout, "seed": seed,
                   "today_hours": today_hours, "leftover_inputs": leftover_inputs,
                   "written_with": "LakeStorage.publish" if via_storage else
                   "pq.write_table(**parquet_options)"},
        "files": dict(sorted(sink.files.items())),
        "files_by_kind": dict(sorted(sink.kinds.items())),
        "rows": dict(sorted(sink.rows.items())),
        "bytes": dict(sorted(sink.bytes.items())),
        "trades_total": int(builder.counts.sum()),
        "generate_seconds": round(seconds, 1),
        **builder.meta(),
    }
    temp = root / f".{META}.tmp"
    temp.write_text(json.dumps(meta, indent=1))
    temp.replace(root / META)
    return meta


# -- plain DuckDB over the same files --------------------------------------------------------

_HIVE = "hive_partitioning=true, hive_types={'exchange':'VARCHAR','symbol':'VARCHAR','date':'DATE'}"


def _source(root: Path) -> str:
    return f"read_parquet('{Path(root).resolve()}/trades/*/*/*/*.parquet', {_HIVE})"


def _median_of_3(run: Callable[[], Any]) -> tuple[float, Any]:
    result = run()  # warm-up
    times = []
    for _ in range(3):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def _duckdb() -> Any:
    import duckdb

    conn = duckdb.connect()
    conn.execute("SET TimeZone='UTC'")
    return conn


def plain_duckdb_candles(root: Path, symbol: str, day: str) -> tuple[float, int]:
    """Plain DuckDB, a Hive glob and partition filters: 1-minute candles of one symbol-day.
    (Wall seconds, median of 3 after a warm-up; candles returned.)"""
    conn = _duckdb()
    sql = (f"SELECT time_bucket(INTERVAL 1 MINUTE, ts) AS bucket, arg_min(price, ts_ns), "
           f"max(price), min(price), arg_max(price, ts_ns), sum(qty), count(*) "
           f"FROM {_source(root)} WHERE symbol = ? AND date = ? GROUP BY ALL ORDER BY 1")
    params = [symbol, dt.date.fromisoformat(day)]
    seconds, rows = _median_of_3(lambda: conn.execute(sql, params).fetchall())
    return seconds, len(rows)


def plain_duckdb_count(root: Path) -> tuple[float, int]:
    """Plain DuckDB: ``count(*)`` over every trades file. (Wall seconds, the count.)"""
    conn = _duckdb()
    sql = f"SELECT count(*) FROM {_source(root)}"
    seconds, rows = _median_of_3(lambda: conn.execute(sql).fetchall())
    return seconds, int(rows[0][0])


# -- checks ----------------------------------------------------------------------------------


def verify(root: Path) -> dict[str, Any]:
    """Check a generated lake against its meta: the trades count and the sanity answer
    (plain DuckDB, live files only), file counts, every file's offsets inside its name's
    range, and per partition live files with disjoint offset ranges (and, for trades, time
    ranges). Raises AssertionError; returns what it saw."""
    root = Path(root).resolve()
    meta = json.loads((root / META).read_text())
    conn = _duckdb()
    leftovers = meta["params"]["leftover_inputs"]
    checked: dict[str, Any] = {}
    live_files: list[str] = []
    for table, time_col in (("trades", "ts_ns"), ("raw", "recv_ns"), ("gaps", "detected_ns")):
        if not (root / table).exists():
            continue
        rows = conn.execute(
            f"SELECT filename, count(*), min({time_col}), max({time_col}), min(spool_offset), "
            f"max(spool_offset) FROM read_parquet('{root}/{table}/**/*.parquet', "
            f"filename=true, hive_partitioning=false) GROUP BY filename").fetchall()
        by_partition: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for name, n, t0, t1, o0, o1 in rows:
            directory, base = name.rsplit("/", 1)
            parsed = parse_file_name(base)
            assert parsed is not None, name
            kind, first, end = parsed
            assert first <= o0 and o1 < end, (name, o0, o1)
            by_partition[directory].append((first, end, t0, t1, kind, base, n))
        assert len(rows) == meta["files"][table], (table, len(rows), meta["files"][table])
        live_rows = hidden_files = 0
        for directory, files in by_partition.items():
            hidden = superseded([f[5] for f in files])
            assert leftovers or not hidden, (directory, hidden)
            hidden_files += len(hidden)
            live = sorted(f for f in files if f[5] not in hidden)
            live_rows += sum(f[6] for f in live)
            if table == "trades":
                live_files += [f"{directory}/{f[5]}" for f in live]
            for a, b in itertools.pairwise(live):
                assert a[1] <= b[0], (directory, a, b)  # offset ranges disjoint
                if table == "trades":
                    assert a[3] < b[2], (directory, a, b)  # and time ranges
        checked[table] = {"files": len(rows), "superseded": hidden_files,
                          "partitions": len(by_partition), "live_rows": live_rows}
    assert checked["trades"]["live_rows"] == meta["trades_total"], checked
    sanity = meta["sanity"]
    source = (f"read_parquet({live_files!r}, {_HIVE})" if leftovers else _source(root))
    got = conn.execute(
        f"SELECT count(*), sum(qty) FROM {source} WHERE symbol = ? AND date = ?",
        [sanity["symbol"], dt.date.fromisoformat(sanity["date"])]).fetchone()
    assert got[0] == sanity["trades"], (got, sanity)
    assert got[1] == Decimal(sanity["sum_qty"]), (got, sanity)
    total = conn.execute(f"SELECT count(*) FROM {_source(root)}").fetchone()[0]
    assert leftovers or total == meta["trades_total"], (total, meta["trades_total"])
    checked["plain_glob_count"] = total
    checked["sanity"] = [got[0], str(got[1])]
    return checked


def _print_summary(meta: dict[str, Any]) -> None:
    mib = {k: round(v / 2**20, 1) for k, v in meta["bytes"].items()}
    print(f"generated in {meta['generate_seconds']} s: files {meta['files']} "
          f"({meta['files_by_kind']}), rows {meta['rows']}, MiB {mib}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--trades", type=int, default=100_000_000)
    parser.add_argument("--publish-seconds", type=int, default=300)
    parser.add_argument("--layout", choices=("recorder", "uncompacted"), default="recorder")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--today-hours", type=float, default=12.5)
    parser.add_argument("--leftover-inputs", action="store_true",
                        help="also write the compacted inputs (superseded files)")
    parser.add_argument("--workers", type=int, default=2, help="writer threads")
    parser.add_argument("--publish", action="store_true",
                        help="write through LakeStorage.publish (temp + fsync + rename)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a lake this script generated at ROOT")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the lake at ROOT if its meta has the same parameters")
    parser.add_argument("--verify", action="store_true", help="check the lake against its meta")
    parser.add_argument("--plain", action="store_true", help="time plain DuckDB over it")
    parser.add_argument("--manifest", action="store_true",
                        help="build the lake's manifest (ticklake.manifest.build)")
    args = parser.parse_args()
    params = {"symbols": args.symbols, "days": args.days, "trades": args.trades,
              "publish_seconds": args.publish_seconds, "layout": args.layout, "seed": args.seed,
              "today_hours": args.today_hours, "leftover_inputs": args.leftover_inputs}
    meta_path = args.root / META
    meta = json.loads(meta_path.read_text()) if args.reuse and meta_path.exists() else None
    if meta is None or {k: meta["params"].get(k) for k in params} != params:
        meta = build_lake(args.root, **params, workers=args.workers,
                          via_storage=args.publish, overwrite=args.overwrite)
    _print_summary(meta)
    report: dict[str, Any] = {"root": str(args.root.resolve()), "files": meta["files"],
                              "rows": meta["rows"], "bytes": meta["bytes"],
                              "generate_seconds": meta["generate_seconds"]}
    if args.manifest:
        from ticklake.manifest import build

        started = time.perf_counter()
        stats = build(LakeStorage(str(args.root)).manifest_store())
        report["manifest"] = {"files": stats.files, "seconds":
                              round(time.perf_counter() - started, 2)}
    if args.verify:
        started = time.perf_counter()
        report["verify"] = verify(args.root)
        report["verify"]["seconds"] = round(time.perf_counter() - started, 1)
    if args.plain:
        sanity = meta["sanity"]
        seconds, candles = plain_duckdb_candles(args.root, sanity["symbol"], sanity["date"])
        count_s, count = plain_duckdb_count(args.root)
        report["plain_duckdb"] = {
            "candles_1m": {"symbol": sanity["symbol"], "date": sanity["date"],
                           "seconds": round(seconds, 3), "rows": candles},
            "count": {"seconds": round(count_s, 3), "rows": count},
        }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
