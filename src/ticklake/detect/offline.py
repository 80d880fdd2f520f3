"""Offline use: run the detector over a table of recorded trades (rows: ticklake.lake)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ticklake.detect.detector import SwingDetector
from ticklake.detect.params import DetectorParams
from ticklake.model import Anomaly

__all__ = ["detect_table", "feed_table"]


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


def feed_table(detector: SwingDetector, t: pa.Table | pa.RecordBatch) -> list[Anomaly]:
    """Feed rows (already in time order per symbol) to a running ``detector``: the records it
    emits. Streaming a large lake batch by batch through one detector equals ``detect_table``."""
    symbols = _plain(t.column("symbol"), pa.string()).to_pylist()
    ts = t.column("ts_ns").cast(pa.int64()).to_pylist()
    prices = _floats(t.column("price"))
    qtys = _plain(t.column("qty"), pa.float64()).to_pylist()
    buys = pc.equal(_plain(t.column("side"), pa.string()), "buy").to_pylist()
    on_trade = detector.on_trade
    out: list[Anomaly] = []
    for row in zip(symbols, ts, prices, qtys, buys, strict=True):
        found = on_trade(*row)
        if found:
            out.extend(found)
    return out


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
