"""Ground truth: every trade the simulated market produced, whether or not anyone listened.

JSONL (default): one object per trade, appended in production order and flushed after each
batch, so tests can read the file while the emulator runs::

    {"symbol":"BTCUSD","ts_ns":1764824672778886833,"side":"Buy","price":"90000.5","qty":"12"}

``price`` and ``qty`` are exact decimal strings of the real values (COIN-M qty in contracts,
spot and USDⓈ-M qty in base currency). A path ending in ``.parquet`` gets the same columns
(ts_ns int64, the rest strings) written once, on :meth:`TruthWriter.close`.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO

from ticklake.emulator.products import Product, lookup
from ticklake.emulator.simulator import Trade

__all__ = ["TruthWriter", "truth_record"]


def truth_record(trade: Trade, product: Product | None = None) -> dict[str, str | int]:
    """``product`` defaults to the basic catalog's (``lookup``)."""
    product = product or lookup(trade.symbol)
    assert product is not None  # the market trades known symbols only
    return {
        "symbol": trade.symbol,
        "ts_ns": trade.ts_ns,
        "side": trade.side,
        "price": product.price_str(trade.price),
        "qty": product.qty_str(trade.qty),
    }


class TruthWriter:
    """Appends trades to a JSONL file or collects them for one Parquet file."""

    def __init__(self, path: str | Path, products: Mapping[str, Product] | None = None) -> None:
        """``products`` resolves traded symbols (a catalog's); default: ``lookup``."""
        self.path = Path(path)
        self._products = products
        self._parquet = self.path.suffix == ".parquet"
        self._rows: list[dict[str, str | int]] = []
        self._file: IO[str] | None = None
        self._closed = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self._parquet:
            self._file = self.path.open("w", encoding="utf-8")

    def write(self, trades: Iterable[Trade]) -> None:
        if self._closed:
            return
        products = self._products
        records = [truth_record(t, products.get(t.symbol) if products is not None else None)
                   for t in trades]
        if not records:
            return
        if self._file is not None:
            self._file.write(
                "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
            )
            self._file.flush()
        else:
            self._rows.extend(records)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._file is not None:
            self._file.close()
            self._file = None
            return
        # Imported lazily and dynamically: only Parquet truth needs pyarrow (untyped).
        pa = importlib.import_module("pyarrow")
        pq = importlib.import_module("pyarrow.parquet")

        columns = {
            "symbol": pa.array([r["symbol"] for r in self._rows], pa.string()),
            "ts_ns": pa.array([r["ts_ns"] for r in self._rows], pa.int64()),
            "side": pa.array([r["side"] for r in self._rows], pa.string()),
            "price": pa.array([r["price"] for r in self._rows], pa.string()),
            "qty": pa.array([r["qty"] for r in self._rows], pa.string()),
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        pq.write_table(pa.table(columns), tmp)
        tmp.replace(self.path)
