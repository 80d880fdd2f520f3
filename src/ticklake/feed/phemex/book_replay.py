"""Order books rebuilt from a recording, as the live path kept them: every reader of the spool
runs the same :class:`~ticklake.feed.phemex.book.SymbolBook` over the frames, so the lake's
book rows, gaps and rejections are what the recorder saw, and survive a restart of the reader.

A replay has no subscribe requests to go by, so it reads the live path's moves off the frames:

* A symbol's book follows one connection. A book frame from another connection means the
  recorder reconnected (or re-sharded): the book waits for that connection's snapshot and the
  time between is a gap, as it was live.
* A book found invalid made the live session unsubscribe its channel on that connection,
  which drops every book of the channel there (§6.1): they all wait for their next snapshot.

It also takes the ``book_snapshots``: the whole (trimmed) book at every multiple of the
cadence that a message of the symbol crosses, and when a subscribe's snapshot starts it.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from ticklake.feed.events import (
    BookSnapshot,
    Event,
    FrameRejected,
)
from ticklake.feed.phemex.book import BookLevels, BookState, SymbolBook, levels_of
from ticklake.feed.phemex.products import Family, Product
from ticklake.feed.phemex.wire import Message

_NONE = -1


class ReplayBookState(msgspec.Struct, array_like=True):
    """One book at rest in a reader's state: the book, its connection, its next cadence."""

    book: BookState
    conn_id: int
    next_cut_ns: int


class ReplayBooks:
    """Every book of one spool (decoded by :class:`~ticklake.feed.phemex.trades.ReplayDecoder`)."""

    def __init__(self, depth: int | None, snapshot_every_ns: int | None) -> None:
        self.depth = depth  # the recorder's subscribed depth (None: full)
        self.every = snapshot_every_ns  # None: no cadence snapshots
        self._books: dict[str, SymbolBook] = {}
        self._conns: dict[str, int] = {}
        self._cuts: dict[str, int] = {}

    def configure(self, depth: int | None, snapshot_every_ns: int | None) -> None:
        """A control record's settings; books already followed keep the depth they had."""
        self.depth, self.every = depth, snapshot_every_ns

    def on_message(self, message: Message, data: bytes, product: Product, conn_id: int,
                   recv_ns: int) -> list[Event]:
        levels = levels_of(message, data, product, recv_ns)
        if isinstance(levels, FrameRejected):
            return [levels]
        book = self._book(product, conn_id)
        events: list[Event] = []
        cadence = self._cadence(book, levels)
        if cadence is not None:
            events.append(cadence)
        starting = levels.snapshot and not book.live
        was_invalid = book.status == "invalid"
        applied = book.apply(levels, recv_ns)
        events += applied
        if self.every and book.live and book.last_ts_ns is not None:
            if starting:
                events.append(_snapshot(book, "subscribe", book.last_ts_ns, True))
            # The next instant not yet held: a message stamped on one is its own instant.
            self._cuts[product.symbol] = -(-book.last_ts_ns // self.every) * self.every
        if book.status == "invalid" and not was_invalid:  # (found invalid by this message)
            self._drop_channel(product, conn_id)
        return events

    def _book(self, product: Product, conn_id: int) -> SymbolBook:
        symbol = product.symbol
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = SymbolBook(product, self.depth)
            self._conns[symbol] = conn_id
        elif self._conns[symbol] != conn_id:
            book.reconnected()
            self._conns[symbol] = conn_id
        return book

    def _cadence(self, book: SymbolBook, levels: BookLevels) -> BookSnapshot | None:
        """The book as it stood at the last cadence instant before this message, if the
        message is the first past it (a quiet book gets one, not one per instant missed)."""
        if not self.every or not book.live:
            return None
        cut = self._cuts.get(book.product.symbol, _NONE)
        if cut == _NONE or levels.ts_ns <= cut:
            return None
        instant = (levels.ts_ns - 1) // self.every * self.every
        return _snapshot(book, "cadence", instant, False)

    def _drop_channel(self, product: Product, conn_id: int) -> None:
        usd_m = product.family is Family.USD_M
        for symbol, book in self._books.items():
            if self._conns[symbol] == conn_id and (book.product.family is Family.USD_M) == usd_m:
                book.reconnected()

    def export(self) -> list[ReplayBookState]:
        return [ReplayBookState(book.export(), self._conns[symbol], self._cuts.get(symbol, _NONE))
                for symbol, book in self._books.items()]

    def restore(self, saved: list[ReplayBookState],
                product_of: Callable[[str], Product | None]) -> None:
        for state in saved:
            product = product_of(state.book.symbol)
            if product is None:
                continue  # (a product no control record states any more cannot be decoded)
            symbol = product.symbol
            self._books[symbol] = SymbolBook.restore(state.book, product)
            self._conns[symbol] = state.conn_id
            if state.next_cut_ns != _NONE:
                self._cuts[symbol] = state.next_cut_ns


def _snapshot(book: SymbolBook, reason: str, ts_ns: int, after: bool) -> BookSnapshot:
    return BookSnapshot(book.product.symbol, book.sequence, ts_ns, reason, book.bids.top(),
                        book.asks.top(), book.product.price_scale, book.product.qty_scale,
                        after)
