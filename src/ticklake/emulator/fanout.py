"""Market data out: the simulated market's trades and books to the subscribed connections
(tickers and ticks: :mod:`~ticklake.emulator.ticker_fanout`, klines:
:mod:`~ticklake.emulator.kline_fanout`, both fed every trade from here).

Every batch period the server asks :class:`Fanout` to *produce* (advance the market to now),
which *records* the new trades (ground truth, the per-symbol snapshot ring) and fans them out
as ``incremental`` messages to every connection subscribed to the symbol's channel, cut at
``max_trades_per_message``; then to *step the books* and push each book view its snapshot
(every ``book_snapshot_interval``) or its incremental (:mod:`~ticklake.emulator.book_faults`,
which also applies the book faults). A subscribe's snapshot (the newest trades of the ring,
or the book) is sent from here too.

The book truth (``<truth>.books.jsonl``) of a symbol starts the first time somebody subscribes
to its book; every step that changes it afterwards is recorded with the timestamp and sequence
of that step's messages.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ticklake.emulator.book import BookSim, BookView
from ticklake.emulator.book_faults import SIDES, BookSender
from ticklake.emulator.faults import FaultKind
from ticklake.emulator.frames import trade_row, trades_message
from ticklake.emulator.simulator import Trade
from ticklake.emulator.truth import BookTruthWriter, TruthWriter, book_truth_path

if TYPE_CHECKING:
    from ticklake.emulator.connection import Client
    from ticklake.emulator.market import Market
    from ticklake.emulator.server import Emulator

__all__ = ["Fanout"]


class Fanout:
    """The market-data side of one emulator: snapshot rings, order books, truth log."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        config = emu.config
        self.rings: dict[str, deque[str]] = {
            s: deque(maxlen=max(1, config.snapshot_trades)) for s in config.symbols
        }
        self.books: dict[str, BookSim] = {}
        # Exchange catalogs serve hundreds of symbols: only books somebody watches move (a
        # newly watched one catches up to the touch first). ``basic`` steps every book every
        # period, as it always did, so its sequence numbers stay byte-for-byte the same.
        self._lazy_books = config.catalog != "basic"
        self._jitter = random.Random(f"ticklake-emulator-mts:{config.seed}")
        self._truth: TruthWriter | None = None
        self._book_truth: BookTruthWriter | None = None
        self.sender = BookSender(emu, lambda: self._extra(None))

    def open(self, market: Market, history: list[Trade]) -> None:
        """Books at the market's touch, the truth log opened, ``history`` in the rings."""
        config, products = self.emu.config, self.emu.products
        self.books = {s: BookSim(products[s], config.seed, market.touch(s))
                      for s in config.symbols}
        if config.truth_path is not None:
            self._truth = TruthWriter(config.truth_path, products)
            books_path = book_truth_path(config.truth_path)
            if books_path is not None:
                self._book_truth = BookTruthWriter(books_path, products)
                self.sender.truth = self._book_truth
        self._record(history)

    def close(self) -> None:
        if self._truth is not None:
            self._truth.close()
            self._truth = None
        if self._book_truth is not None:
            self._book_truth.close()
            self._book_truth = None
            self.sender.truth = None

    # ---------------------------------------------------------------- on subscribe

    def send_snapshot(self, client: Client, symbol: str) -> None:
        product = self.emu.products[symbol]
        ring = self.rings.get(symbol)
        n = self.emu.config.snapshot_trades
        rows = list(ring)[-n:][::-1] if ring is not None and n > 0 else []
        text = trades_message(product, "snapshot", self._sequence(symbol), rows,
                              self._extra(None))
        self.emu.send(client, text, data=True)

    def send_book_snapshot(self, client: Client, view: BookView) -> None:
        symbol = view.product.symbol
        book = self.books.get(symbol) or BookSim.empty(view.product)
        now_ns = self.emu.now_ns()  # the snapshot's timestamp, and the truth's for this instant
        if self._lazy_books and symbol in self.books:
            self._step_book(symbol, book, now_ns)
        sequence = self._sequence(symbol)
        truth = self._book_truth
        if truth is not None and symbol in self.books and not truth.started(symbol):
            truth.snapshot(symbol, now_ns, sequence, book.bids, book.asks)
        # monotonic: the periodic snapshot's pacing (book_snapshot_interval) is real time
        text = view.snapshot(book, sequence, now_ns, time.monotonic(), self._extra(None))
        self.sender.send(client, view, text, sequence)

    def _sequence(self, symbol: str) -> int:
        market = self.emu.market
        if market is not None and symbol in self.rings:
            return market.sequence(symbol)
        # listed but not traded: a constant counter
        return self.emu.products[symbol].sequence_base

    def _extra(self, last_ts: int | None) -> tuple[int, int] | None:
        if not self.emu.config.extra_keys:
            return None
        dts = self.emu.now_ns()  # the exchange's own send time: exchange time
        mts = dts - 700_000 - self._jitter.randrange(300_000)
        if last_ts is not None:
            mts = max(mts, last_ts)
        return dts, max(mts, 0)

    # ---------------------------------------------------------------- every period

    def produce(self, now_ns: int) -> None:
        """Advance the market to ``now_ns``; record and fan out what it traded."""
        market = self.emu.market
        assert market is not None
        trades = market.advance(now_ns)
        if trades:
            self._record(trades)
            self._fan_out(trades)

    def _record(self, trades: list[Trade]) -> None:
        if self._truth is not None:
            self._truth.write(trades)
        self.emu.tickers.record(trades)  # the 24 h windows (ticker_fanout.py)
        self.emu.klines.record(trades)  # the bars (kline_fanout.py)
        products = self.emu.products
        for trade in trades:
            self.rings[trade.symbol].append(trade_row(products[trade.symbol], trade))

    def _fan_out(self, trades: list[Trade]) -> None:
        by_symbol: dict[str, list[Trade]] = {}
        for trade in trades:
            by_symbol.setdefault(trade.symbol, []).append(trade)
        emu = self.emu
        cap = emu.config.max_trades_per_message
        for symbol, batch in by_symbol.items():
            product = emu.products[symbol]
            slot = (product.channel, symbol)
            listeners = [c for c in emu.clients.values() if slot in c.subscriptions]
            if not listeners:
                continue
            step = cap if cap > 0 else len(batch)
            for i in range(0, len(batch), step):
                chunk = batch[i : i + step]
                rows = [trade_row(product, t) for t in chunk]
                text = trades_message(
                    product, "incremental", chunk[-1].seq, rows, self._extra(chunk[-1].ts_ns)
                )
                for client in listeners:
                    if slot in client.subscriptions:  # a send can drop a slow listener
                        emu.send(client, text, data=True)

    def step_books(self) -> None:
        """Move the books and push each watching view its snapshot or incremental."""
        emu = self.emu
        market = emu.market
        assert market is not None
        if market.halted:
            return
        now, now_ns = time.monotonic(), self.emu.now_ns()  # pacing real, stamps exchange
        books: Iterable[tuple[str, BookSim]] = self.books.items()
        if self._lazy_books:
            watched = {slot[1] for client in emu.clients.values() for slot in client.books}
            books = [(s, b) for s, b in self.books.items() if s in watched]
        for symbol, book in books:
            changed = self._step_book(symbol, book, now_ns)
            sequence = market.sequence(symbol)
            slot = (emu.products[symbol].book_channel, symbol)
            for client in list(emu.clients.values()):
                view = client.books.get(slot)
                if view is not None:
                    self.sender.step(client, view, book, sequence, now_ns, now, changed)

    def _step_book(self, symbol: str, book: BookSim, now_ns: int) -> bool:
        market = self.emu.market
        assert market is not None
        if market.halted:
            return False
        changed = book.step(market.touch(symbol))
        if changed:
            market.jump_sequence(symbol, 1)  # a book update consumes a sequence number
            self._write_step(symbol, book, now_ns, market.sequence(symbol))
        return changed

    def _write_step(self, symbol: str, book: BookSim, now_ns: int, sequence: int) -> None:
        """The step's true changes; its spurious deletes are the exchange's own faults."""
        truth = self._book_truth
        if truth is None or not truth.started(symbol):
            return
        if book.changes[0] or book.changes[1]:
            truth.update(symbol, now_ns, sequence, *book.changes)
        for side, absent in enumerate(book.absent):
            for px in absent:
                if px in book.changes[side]:
                    continue  # deleted by this very step: a real delete, not an unknown one
                truth.fault(FaultKind.BOOK_UNKNOWN_DELETE.value, symbol, None, now_ns, sequence,
                            side=SIDES[side], price=truth.price(symbol, px))
