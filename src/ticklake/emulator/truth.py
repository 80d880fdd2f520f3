"""Ground truth: every trade the simulated market produced, whether or not anyone listened,
and the true order books.

Trades, JSONL (default): one object per trade, appended in production order and flushed after
each batch, so tests can read the file while the emulator runs::

    {"symbol":"BTCUSD","ts_ns":1764824672778886833,"side":"Buy","price":"90000.5","qty":"12"}

``price`` and ``qty`` are exact decimal strings of the real values (COIN-M qty in contracts,
spot and USDⓈ-M qty in base currency). A path ending in ``.parquet`` gets the same columns
(ts_ns int64, the rest strings) written once, on :meth:`TruthWriter.close`.

Books go beside a JSONL trade truth, in ``<name>.books.jsonl`` (:func:`book_truth_path`;
``truth.jsonl`` → ``truth.books.jsonl``), so that every reader of the trade lines stays as it
was. A Parquet trade truth has no book truth. A symbol's book is written from the first time
somebody subscribes to it (a full ``snapshot`` record, the book as of that instant), then one
``update`` record per book step that changed it: the levels of the FULL book that changed,
qty ``"0"`` = gone. Prices and sizes are exact decimal strings as for trades; ``ts_ns`` and
``sequence`` are the ones that step's wire messages carry, so the true book at instant T is
every record of the symbol with ``ts_ns <= T`` applied in file order::

    {"book":"BTCUSD","type":"snapshot","ts_ns":1764824672778886833,"sequence":20254182950,
     "bids":[["90000.4","1200"],...],"asks":[["90000.5","310"],...]}
    {"book":"BTCUSD","type":"update","ts_ns":1764824672798886833,"sequence":20254182951,
     "bids":[["89999.9","0"]],"asks":[["90000.5","280"]]}

Bids descending, asks ascending. Deletes of levels that do not exist are not changes to the
book: they are ``fault`` records, like every fault that makes what a client is told differ
from the true book (``conn`` null: the exchange's own, sent to every view of the symbol)::

    {"fault":"book_drop","symbol":"BTCUSD","conn":3,"ts_ns":...,"sequence":...}

See :mod:`~ticklake.emulator.book_faults` for each kind's extra keys.

Tickers and ticks go beside it too (:func:`ticker_truth_path`, :func:`tick_truth_path`:
``truth.jsonl`` → ``truth.tickers.jsonl``, ``truth.ticks.jsonl``), one line per *publication*:
a (channel, symbol, ts_ns) value set that was written to at least one connection (every
connection of a channel gets the same values at the same ts; the message sent right after a
subscribe has its own ts, so it is its own publication). Every value is an exact decimal
string in natural units (price 9000.5, not 90005000; COIN-M volume and open interest in
contracts, USDⓈ-M and spot in base qty; turnover in the settle currency (COIN-M), the quote
currency (spot, USDⓈ-M); rates as ratios, possibly negative), null where the channel does not
carry it (COIN-M and ``market24h_p``: no bid/ask; spot: no index, mark, open interest,
funding; the legacy pack: no bid/ask); ``extra`` holds the pack's appended unknown columns by
name (else ``{}``); ``last`` is ``close``/``lastRp``/``lastEp``::

    {"channel":"market24h","symbol":"BTCUSD","ts_ns":1764824672778886833,"open":"90000.5",
     "high":"90410","low":"89800.1","last":"90101.2","bid":null,"ask":null,
     "index_price":"90090.1","mark_price":"90095.3","volume":"1234567",
     "turnover":"13.71234567","open_interest":"3000150","funding_rate":"-0.0000123",
     "pred_funding_rate":"0.0001","extra":{}}
    {"channel":"tick","symbol":".BTC","ts_ns":1764824672778886833,"value":"90090.1"}

A ``ticker_malformed`` fault is a line of the tickers file: that connection's frame of that
publication is broken, and the whole frame must be rejected (for the pack: every row)::

    {"fault":"ticker_malformed","channel":"perp_market24h_pack_p","symbol":"BTCUSDT",
     "conn":3,"ts_ns":1764824672778886833}

Klines go beside it too (:func:`kline_truth_path`: ``truth.jsonl`` → ``truth.klines.jsonl``),
one line per *bar version published*: each bar of a message written to at least one
connection (a snapshot's bars each, an incremental's changed bars), oldest first. ``ts`` is
the bar's start in epoch seconds; ``ts_ns`` the instant of the publication and ``sequence``
its messages' (every connection of a push gets the same message); ``type`` ``snapshot`` or
``incremental``; ``final`` whether the bar had closed (every bar but the current one at the
market clock: its values will not change). The seven values are exact decimal strings in
natural units (prices 8673.5; volume in contracts (COIN-M) or base qty (spot, USDⓈ-M);
turnover in the settle (COIN-M) or quote currency (spot, USDⓈ-M)); a flat bar (no trade in
the interval) has volume and turnover "0" and every price = ``last_close``. A bar's final
values are those of any of its lines with ``final`` true (they agree), else of its last line::

    {"channel":"kline","symbol":"BTCUSD","interval":60,"ts":1764824640,"type":"incremental",
     "final":true,"sequence":20254182950,"ts_ns":1764824700012345678,"last_close":"90000.5",
     "open":"90001","high":"90012.5","low":"89998","close":"90010","volume":"12345",
     "turnover":"0.13716123"}

A ``kline_malformed`` fault is a line of the klines file: that connection's frame of that
publication (channel, symbol, interval, sequence) is broken and must be rejected whole::

    {"fault":"kline_malformed","channel":"kline_p","symbol":"BTCUSDT","interval":60,"conn":3,
     "ts_ns":1764824672778886833,"sequence":54193715981}
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO

from ticklake.emulator.products import Product, lookup
from ticklake.emulator.simulator import Trade

__all__ = [
    "BookTruthWriter",
    "JsonlWriter",
    "TruthWriter",
    "book_truth_path",
    "kline_truth_path",
    "tick_truth_path",
    "ticker_truth_path",
    "truth_record",
]

Levels = Mapping[int, int]  # price ticks -> qty units (as in book.py)


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


def _beside(truth_path: str | Path, what: str) -> Path | None:
    path = Path(truth_path)
    if path.suffix == ".parquet":
        return None
    stem = path.stem if path.suffix == ".jsonl" else path.name
    return path.with_name(f"{stem}.{what}.jsonl")


def book_truth_path(truth_path: str | Path) -> Path | None:
    """Where the books of a trade truth go: ``x.jsonl`` → ``x.books.jsonl``; None for
    Parquet (books are not kept there)."""
    return _beside(truth_path, "books")


def ticker_truth_path(truth_path: str | Path) -> Path | None:
    """``x.jsonl`` → ``x.tickers.jsonl`` (None for Parquet, as for books)."""
    return _beside(truth_path, "tickers")


def tick_truth_path(truth_path: str | Path) -> Path | None:
    """``x.jsonl`` → ``x.ticks.jsonl`` (None for Parquet, as for books)."""
    return _beside(truth_path, "ticks")


def kline_truth_path(truth_path: str | Path) -> Path | None:
    """``x.jsonl`` → ``x.klines.jsonl`` (None for Parquet, as for books)."""
    return _beside(truth_path, "klines")


class JsonlWriter:
    """Appends JSON records, one per line, flushed per line (tests read while it runs)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Created (truncated) now: a file left by an earlier run must not pass for this one's.
        self._file: IO[str] | None = self.path.open("w", encoding="utf-8")

    def write(self, record: Mapping[str, object]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class BookTruthWriter(JsonlWriter):
    """Appends true-book records and fault records to a JSONL file (flushed per record)."""

    def __init__(self, path: str | Path, products: Mapping[str, Product]) -> None:
        super().__init__(path)
        self._products = products
        self._started: set[str] = set()

    def started(self, symbol: str) -> bool:
        return symbol in self._started

    def snapshot(self, symbol: str, ts_ns: int, sequence: int, bids: Levels,
                 asks: Levels) -> None:
        """The whole book of ``symbol``: where its truth starts."""
        self._started.add(symbol)
        self._book("snapshot", symbol, ts_ns, sequence, bids, asks)

    def update(self, symbol: str, ts_ns: int, sequence: int, bids: Levels,
               asks: Levels) -> None:
        """Levels of the full book that changed (qty 0: gone)."""
        if symbol in self._started:
            self._book("update", symbol, ts_ns, sequence, bids, asks)

    def fault(self, kind: str, symbol: str, conn: int | None, ts_ns: int, sequence: int,
              **extra: str | int) -> None:
        self.write({"fault": kind, "symbol": symbol, "conn": conn, "ts_ns": ts_ns,
                     "sequence": sequence, **extra})

    def price(self, symbol: str, px: int) -> str:
        """A level's price (in ticks) as the exact decimal string of the records."""
        product = self._products[symbol]
        return product.price_str(px * product.tick_units)

    def _book(self, kind: str, symbol: str, ts_ns: int, sequence: int, bids: Levels,
              asks: Levels) -> None:
        product = self._products[symbol]

        def rows(levels: Levels, descending: bool) -> list[list[str]]:
            return [[product.price_str(px * product.tick_units), product.qty_str(qty)]
                    for px, qty in sorted(levels.items(), reverse=descending)]

        self.write({"book": symbol, "type": kind, "ts_ns": ts_ns, "sequence": sequence,
                     "bids": rows(bids, True), "asks": rows(asks, False)})

