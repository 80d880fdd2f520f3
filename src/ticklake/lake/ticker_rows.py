"""Ticker and tick events → ``tickers`` and ``ticks`` rows (docs/lake-layout.md).

A few rows a second per symbol at most: row-wise lists, turned into Arrow arrays when the
batch's tables are built. (The feed refused any value beyond its column's decimal.)
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa

from ticklake.feed.events import KlinesReceived, TickerRow, TickRow
from ticklake.feed.phemex.tickers import TICKER_COLUMNS
from ticklake.feed.phemex.trades import EXCHANGE
from ticklake.lake.arrays import (
    bools,
    by_day,
    coded,
    int64,
    nullable_decimals,
    nullable_strings,
    strings,
    timestamps,
)
from ticklake.schemas import SCHEMAS

TICKER_CHANNELS = ("market24h", "spot_market24h", "market24h_p", "perp_market24h_pack_p")
TICK_CHANNELS = ("tick", "tick_p")
_TICKER_CODES = {name: i for i, name in enumerate(TICKER_CHANNELS)}
_TICK_CODES = {name: i for i, name in enumerate(TICK_CHANNELS)}
_extra = msgspec.json.Encoder()


class TickerRows:
    """Pending ``tickers`` and ``ticks`` rows of a batch, per symbol."""

    def __init__(self) -> None:
        self._tickers: dict[str, list[tuple[TickerRow, int, int]]] = defaultdict(list)
        self._ticks: dict[str, list[tuple[TickRow, int, int]]] = defaultdict(list)
        self._klines: dict[str, list[tuple[KlinesReceived, int]]] = defaultdict(list)

    def add_tickers(self, rows: list[TickerRow], recv_ns: int, offset: int) -> None:
        for row in rows:
            self._tickers[row.symbol].append((row, recv_ns, offset))

    def add_ticks(self, rows: list[TickRow], recv_ns: int, offset: int) -> None:
        for row in rows:
            self._ticks[row.symbol].append((row, recv_ns, offset))

    def add_klines(self, event: KlinesReceived, offset: int) -> None:
        if event.rows:
            self._klines[event.symbol].append((event, offset))

    def tables(self) -> dict[str, dict[tuple[str, ...], pa.Table]]:
        """{table: {(exchange, symbol, date): rows}}, split by the rows' exchange dates."""
        out: dict[str, dict[tuple[str, ...], pa.Table]] = {}
        if self._tickers:
            out["tickers"] = _by_partition({s: _tickers(r) for s, r in self._tickers.items()})
        if self._ticks:
            out["ticks"] = _by_partition({s: _ticks(r) for s, r in self._ticks.items()})
        if self._klines:
            out["klines"] = _by_partition({s: _klines(e) for s, e in self._klines.items()})
        return out


def _by_partition(by_symbol: dict[str, pa.Table]) -> dict[tuple[str, ...], pa.Table]:
    out: dict[tuple[str, ...], pa.Table] = {}
    for symbol, whole in by_symbol.items():
        for day, index in by_day(whole["ts_ns"].to_numpy()):
            out[(EXCHANGE, symbol, day)] = whole if index is None else whole.take(int64(index))
    return out


def _common(rows: list[tuple[Any, int, int]], codes: dict[str, int],
            channels: tuple[str, ...]) -> dict[str, pa.Array]:
    ts = np.fromiter((r.ts_ns for r, _, _ in rows), np.int64, len(rows))
    return {
        "ts": timestamps(ts), "ts_ns": int64(ts),
        "recv_ns": int64(np.fromiter((recv for _, recv, _ in rows), np.int64, len(rows))),
        "channel": coded(np.fromiter((codes[r.channel] for r, _, _ in rows), np.int8,
                                     len(rows)), strings(channels)),
        "spool_offset": int64(np.fromiter((off for _, _, off in rows), np.int64, len(rows))),
    }


def _tickers(rows: list[tuple[TickerRow, int, int]]) -> pa.Table:
    schema = SCHEMAS["tickers"]
    arrays = _common(rows, _TICKER_CODES, TICKER_CHANNELS)
    for column in TICKER_COLUMNS:
        arrays[column] = nullable_decimals([r.values.get(column) for r, _, _ in rows],
                                           schema.field(column).type)
    arrays["extra"] = nullable_strings(
        [_extra.encode(r.extra).decode() if r.extra else None for r, _, _ in rows])
    return pa.Table.from_arrays([arrays[n] for n in schema.names], schema=schema)


def _ticks(rows: list[tuple[TickRow, int, int]]) -> pa.Table:
    schema = SCHEMAS["ticks"]
    arrays = _common(rows, _TICK_CODES, TICK_CHANNELS)
    arrays["value"] = nullable_decimals([r.value for r, _, _ in rows],
                                        schema.field("value").type)
    return pa.Table.from_arrays([arrays[n] for n in schema.names], schema=schema)


def _klines(events: list[tuple[KlinesReceived, int]]) -> pa.Table:
    schema = SCHEMAS["klines"]
    bars = [(bar, event, offset) for event, offset in events for bar in event.rows]
    n = len(bars)

    def column(values: Any) -> np.ndarray:
        return np.fromiter(values, np.int64, n)

    ts = column(bar.ts_ns for bar, _, _ in bars)
    arrays = {
        "ts": timestamps(ts), "ts_ns": int64(ts),
        "interval_s": pa.Array.from_buffers(pa.int32(), n, [None, pa.py_buffer(
            column(bar.interval_s for bar, _, _ in bars).astype(np.int32))]),
        "sequence": int64(column(event.sequence for _, event, _ in bars)),
        "from_snapshot": bools(np.fromiter((event.snapshot for _, event, _ in bars), bool, n)),
        "recv_ns": int64(column(event.recv_ns for _, event, _ in bars)),
        "spool_offset": int64(column(offset for _, _, offset in bars)),
    }
    for name in ("last_close", "open", "high", "low", "close", "volume", "turnover"):
        arrays[name] = nullable_decimals([getattr(bar, name) for bar, _, _ in bars],
                                         schema.field(name).type)
    return pa.Table.from_arrays([arrays[n] for n in schema.names], schema=schema)
