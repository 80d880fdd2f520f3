"""Offline use: run the detector over a table of recorded trades (rows: ticklake.lake)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ticklake.detect.detector import SwingDetector
from ticklake.detect.params import DetectorParams
from ticklake.model import Anomaly

__all__ = ["GapFeed", "detect_table", "feed_table"]
_NEVER = 2**63


def detect_table(trades: pa.Table, params: DetectorParams | None = None,
                 exchange: str = "phemex") -> list[Anomaly]:
    """Every Anomaly record (all phases) of a trades table, as the live detector would emit.

    Columns: symbol, ts_ns, price (decimal or float), qty, side ("buy"/"sell"). Rows are
    sorted by (symbol, ts_ns), stably (equal timestamps keep their recorded order).
    """
    if trades.num_rows == 0:
        return []
    keys = pa.table({"symbol": _plain(trades.column("symbol"), pa.string()),
                     "ts_ns": trades.column("ts_ns").cast(pa.int64())})
    # Arrow's sort_indices is stable: equal (symbol, ts_ns) keep their recorded order.
    order = pc.sort_indices(keys, sort_keys=[("symbol", "ascending"), ("ts_ns", "ascending")])
    detector = SwingDetector(params, exchange)
    out = feed_table(detector, trades.take(order))
    out.extend(detector.finish())
    return out


@dataclass
class GapFeed:
    """Recorded trade gaps, fed to the detector where the live one met them.

    The recorder reports a gap while decoding the frame that revealed it (a resubscribe
    snapshot at spool offset X whose oldest trade is at T), just before that frame's trades;
    in the exchange order of a lake's trades, that is before the first trade at or after
    (T, X). ``gaps``: (to_ns, spool_offset, symbol, from_ns), sorted.
    """

    gaps: list[tuple[int, int, str, int]]
    next: int = 0

    def key(self) -> tuple[int, int]:
        return self.gaps[self.next][:2] if self.next < len(self.gaps) else (_NEVER, 0)

    def due(self, detector: SwingDetector, ts_ns: int, offset: int) -> list[Anomaly]:
        """Feed the gaps due before a trade at (``ts_ns``, ``offset``); what they end."""
        out: list[Anomaly] = []
        while self.next < len(self.gaps) and self.gaps[self.next][:2] <= (ts_ns, offset):
            to_ns, _, symbol, from_ns = self.gaps[self.next]
            out.extend(detector.on_gap(symbol, from_ns, to_ns) or ())
            self.next += 1
        return out


def feed_table(detector: SwingDetector, t: pa.Table | pa.RecordBatch,
               gaps: GapFeed | None = None) -> list[Anomaly]:
    """Feed rows (already in time order per symbol) to a running ``detector``: the records it
    emits. Streaming a large lake batch by batch through one detector equals ``detect_table``.
    ``gaps`` (with a ``spool_offset`` column): the lake's trade gaps, in their place. A row
    with a null is counted in ``detector.quarantined`` and left out, as the detector leaves
    out a price or quantity that is not a finite number > 0."""
    t = _complete_rows(detector, t)
    symbols = _plain(t.column("symbol"), pa.string()).to_pylist()
    ts = t.column("ts_ns").cast(pa.int64()).to_pylist()
    prices = _floats(t.column("price"))
    qtys = _plain(t.column("qty"), pa.float64()).to_pylist()
    buys = pc.equal(_plain(t.column("side"), pa.string()), "buy").to_pylist()
    on_trade = detector.on_trade
    out: list[Anomaly] = []
    if gaps is None:
        for row in zip(symbols, ts, prices, qtys, buys, strict=True):
            found = on_trade(*row)
            if found:
                out.extend(found)
        return out
    offsets = t.column("spool_offset").to_pylist()
    gap_ts, gap_offset = gaps.key()
    for symbol, ts_ns, price, qty, buy, offset in zip(symbols, ts, prices, qtys, buys, offsets,
                                                      strict=True):
        if ts_ns >= gap_ts and (ts_ns > gap_ts or offset >= gap_offset):
            out.extend(gaps.due(detector, ts_ns, offset))
            gap_ts, gap_offset = gaps.key()
        found = on_trade(symbol, ts_ns, price, qty, buy)
        if found:
            out.extend(found)
    return out


def _complete_rows(detector: SwingDetector,
                   t: pa.Table | pa.RecordBatch) -> pa.Table | pa.RecordBatch:
    names = ("symbol", "ts_ns", "price", "qty", "side")
    if not any(t.column(name).null_count for name in names):
        return t
    keep = functools.reduce(pc.and_, (pc.is_valid(t.column(name)) for name in names))
    kept = t.filter(keep)
    detector.quarantined += t.num_rows - kept.num_rows
    return kept


def _floats(column: pa.ChunkedArray | pa.Array) -> list[float]:
    """Prices as the live path sees them: ``price_e / 10**scale``, correctly rounded.

    Arrow's decimal → float64 cast is not always the nearest double, so decimals whose
    unscaled value fits 53 bits are divided in numpy from their integer words.
    """
    if not pa.types.is_decimal128(column.type):
        floats: list[float] = _plain(column, pa.float64()).to_pylist()
        return floats
    scale = column.type.scale
    out: list[float] = []
    for chunk in column.chunks if isinstance(column, pa.ChunkedArray) else [column]:
        if chunk.null_count:
            msg = "price has nulls"
            raise ValueError(msg)
        words = np.frombuffer(chunk.buffers()[1], dtype=np.int64)
        low = words[2 * chunk.offset: 2 * (chunk.offset + len(chunk)): 2]
        high = words[2 * chunk.offset + 1: 2 * (chunk.offset + len(chunk)): 2]
        if not np.array_equal(high, low >> 63) or np.abs(low).max(initial=0) >= 2**53:
            out.extend(chunk.cast(pa.float64()).to_pylist())  # beyond 53 bits: Arrow's cast
            continue
        out.extend((low.astype(np.float64) / 10.0**scale).tolist())
    return out


def _plain(column: pa.ChunkedArray | pa.Array, to: pa.DataType) -> pa.ChunkedArray | pa.Array:
    """Decode dictionaries and cast to ``to``."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column if column.type == to else column.cast(to)
