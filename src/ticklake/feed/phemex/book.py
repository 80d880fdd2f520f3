"""Order books (reference §6.1): messages parsed exactly, and one book per symbol that is never
served wrong. Sans-I/O: messages in, events out.

What the exchange does, and what each rule here answers:

* A subscribe is answered by a snapshot; another snapshot comes every ~60 s "for client
  self-verification", sometimes with the same sequence as the incremental before it, and once
  in a while stale on arrival. A snapshot replaces the book; one with a sequence below what
  the book has applied describes the past and is ignored (applying it would undo later
  incrementals). A snapshot that arrives while the book is live is also a check: if it
  differs from the book built from incrementals, the book was wrong since it was last known
  good, and a :class:`~ticklake.feed.events.BookGap` says from when to when.
* Incrementals carry ``[price, qty]``; qty 0 deletes, and deletes of levels the book does not
  hold happen (ignored). With a limited depth the client trims each side to it: a level that
  leaves the top N is not updated until it returns.
* ``sequence`` is one counter per symbol shared with trades (it jumps; a jump is no loss),
  so the only checkable rule is that it never goes backwards; the same sequence again is a
  resent message (dropped). No checksum exists.
* A crossed book (best bid >= best ask) after a message is impossible on the exchange: the
  book is invalid. So is a sequence going backwards. An invalid book is not served until
  the next snapshot (:class:`~ticklake.feed.events.BookInvalid` asks the session for one).

Prices and quantities stay exact scaled integers at the product's scales: ``book`` rows
(COIN-M, spot) are integers on the wire already; ``orderbook_p`` rows (USDⓈ-M) are decimal
strings, scaled exactly (``normalize.scale_decimal``).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable
from operator import itemgetter
from typing import Literal

import msgspec

from ticklake.feed.events import (
    BookGap,
    BookInvalid,
    BookUpdated,
    BookWaiting,
    DuplicateMessage,
    Event,
    FrameRejected,
    Level,
)
from ticklake.feed.phemex.normalize import BadNumber, scale_decimal, timestamp_ns
from ticklake.feed.phemex.products import Product, ProductTable
from ticklake.feed.phemex.wire import Message, TextLevel, message_decoder
from ticklake.tables import DECIMAL_SCALE

_UNSCALED_LIMIT = 10**18  # decimal(18, 8)
_KINDS = {"snapshot": True, "incremental": False}
_QTY = itemgetter(1)


class BookLevels(msgspec.Struct, frozen=True, gc=False):
    """A message's levels, scaled: what :meth:`SymbolBook.apply` takes."""

    symbol: str
    snapshot: bool
    sequence: int
    ts_ns: int
    bids: list[Level]
    asks: list[Level]


def parse_book(message: Message, product: Product, recv_ns: int) -> BookLevels:
    """Scaled levels of a decoded book message (one of ``book``/``orderbook_p`` present);
    :class:`BadNumber` for a decimal that does not fit the product's scales, ValueError for
    a message that is no valid book message."""
    if message.book is not None and message.orderbook_p is not None:
        msg = "a book message needs exactly one of 'book' and 'orderbook_p'"
        raise ValueError(msg)
    snapshot = _KINDS.get(message.type) if message.type is not None else None
    if snapshot is None:
        msg = f"type must be 'snapshot' or 'incremental', not {message.type!r}"
        raise ValueError(msg)
    if message.symbol is None or message.sequence is None:
        msg = "a book message needs 'symbol' and 'sequence'"
        raise ValueError(msg)
    depth = message.depth
    if depth is not None and not (type(depth) is int and 0 <= depth < 2**63):
        msg = f"depth must be a non-negative integer, not {depth!r:.40}"
        raise ValueError(msg)
    if message.book is not None:
        bids: list[Level] = list(message.book.bids)
        asks: list[Level] = list(message.book.asks)
    elif message.orderbook_p is not None:
        bids = _scaled(message.orderbook_p.bids, product)
        asks = _scaled(message.orderbook_p.asks, product)
    else:
        msg = "a book message needs exactly one of 'book' and 'orderbook_p'"
        raise ValueError(msg)
    _check_fits(bids, product)
    _check_fits(asks, product)
    ts_ns = timestamp_ns(message.timestamp, recv_ns)
    return BookLevels(message.symbol, snapshot, message.sequence, ts_ns, bids, asks)


def _check_fits(levels: list[Level], product: Product) -> None:
    """Every level fits the lake's decimal(18, 8), or the message is refused (live and in a
    replay alike: the lake cannot hold it, and a book missing a level would be wrong)."""
    if not levels:
        return
    price_limit = _UNSCALED_LIMIT // 10 ** (DECIMAL_SCALE - product.price_scale)
    qty_limit = _UNSCALED_LIMIT // 10 ** (DECIMAL_SCALE - product.qty_scale)
    if max(levels)[0] < price_limit and max(map(_QTY, levels)) < qty_limit:
        return  # (two C loops: the common case costs no Python per level)
    for price, qty in levels:
        if price >= price_limit or qty >= qty_limit:
            msg = f"level {price}, {qty} beyond decimal(18, {DECIMAL_SCALE})"
            raise BadNumber(msg)


def _scaled(levels: Iterable[TextLevel], product: Product) -> list[Level]:
    return [(scale_decimal(price, product.price_scale), scale_decimal(qty, product.qty_scale))
            for price, qty in levels]


class BookSide:
    """One side's levels: quantities by price, and the prices kept sorted ascending (best is
    the last bid and the first ask).

    A dict and a plain list kept with ``bisect`` beat a sorted container here: a depth-30 side
    holds ~31 prices, so an insertion is one short memmove, and even a full-depth side of a few
    thousand levels moves a few KB; ``SortedDict`` with a key function for the bids cost a
    Python call per comparison (34% of the live path's CPU on book messages)."""

    __slots__ = ("_bids", "_prices", "_qty")

    def __init__(self, bids: bool) -> None:
        self._bids = bids
        self._qty: dict[int, int] = {}
        self._prices: list[int] = []

    def __len__(self) -> int:
        return len(self._prices)

    def replace(self, levels: Iterable[Level]) -> None:
        self._qty = {price: qty for price, qty in levels if qty}
        self._prices = sorted(self._qty)

    def update(self, levels: Iterable[Level]) -> None:
        book, prices = self._qty, self._prices
        for price, qty in levels:
            if qty:
                if price not in book:
                    insort(prices, price)
                book[price] = qty
            elif book.pop(price, None) is not None:  # a delete of an unknown level is normal
                del prices[bisect_left(prices, price)]

    def trim(self, depth: int) -> list[int]:
        """Drop the levels beyond ``depth``; their prices, worst last."""
        prices = self._prices
        extra = len(prices) - depth
        if extra <= 0:
            return []
        if self._bids:
            dropped = prices[extra - 1::-1]
            del prices[:extra]
        else:
            dropped = prices[depth:]
            del prices[depth:]
        book = self._qty
        for price in dropped:
            del book[price]
        return dropped

    def best(self) -> int | None:
        prices = self._prices
        if not prices:
            return None
        return prices[-1] if self._bids else prices[0]

    def top(self, n: int | None = None) -> list[Level]:
        prices, book = self._prices, self._qty
        if self._bids:
            chosen = prices[::-1] if n is None else prices[:-n - 1:-1] if n else []
        else:
            chosen = prices if n is None else prices[:n]
        return [(price, book[price]) for price in chosen]


BookStatus = Literal["waiting", "live", "invalid"]


class BookState(msgspec.Struct, array_like=True):
    """A :class:`SymbolBook` at rest (depth 0: the full book)."""

    symbol: str
    depth: int
    status: BookStatus
    sequence: int
    good_since_ns: int | None
    last_ts_ns: int | None
    gap_from: int | None
    gap_reason: str
    bids: list[Level]
    asks: list[Level]


class SymbolBook:
    """The book of one symbol at one subscribed depth (None: full depth)."""

    def __init__(self, product: Product, depth: int | None = 30) -> None:
        self.product = product
        self.depth = depth
        self.bids = BookSide(bids=True)
        self.asks = BookSide(bids=False)
        self.status: BookStatus = "waiting"
        self.sequence = -1  # the last message applied (or, while invalid, seen)
        self.good_since_ns: int | None = None  # the last instant the book was verified
        self.last_ts_ns: int | None = None  # the last message applied
        self.stale_snapshots = 0
        self._gap: tuple[int, str] | None = None  # (from ns, reason) until the next snapshot

    @property
    def live(self) -> bool:
        """Whether the book may be served: built from a snapshot and never found wrong since."""
        return self.status == "live"

    def reconnected(self) -> None:
        """A new connection (or a resubscribe): the book waits for the snapshot that answers
        the subscribe; what happened meanwhile is unknown, so that snapshot closes a gap."""
        if self.status == "live" and self.last_ts_ns is not None and self._gap is None:
            self._gap = (self.last_ts_ns, "resubscribed: the book was not followed meanwhile")
        self.status = "waiting"
        self.sequence = -1

    def apply(self, levels: BookLevels, recv_ns: int) -> list[Event]:
        """Apply one message; the events say what was recorded, found or is needed."""
        if levels.snapshot:
            return self._snapshot(levels, recv_ns)
        if self.status != "live":
            self.sequence = max(self.sequence, levels.sequence)
            return []  # nothing to apply it to: the next snapshot starts the book
        if levels.sequence == self.sequence:
            return [DuplicateMessage(levels.symbol, levels.sequence,
                                     len(levels.bids) + len(levels.asks))]
        if levels.sequence < self.sequence:
            return self._invalidate(levels, f"sequence went backwards: {levels.sequence} "
                                            f"after {self.sequence}")
        self.bids.update(levels.bids)
        self.asks.update(levels.asks)
        trimmed = self._trim()
        self.sequence, self.last_ts_ns = levels.sequence, levels.ts_ns
        events: list[Event] = [self._updated(levels, recv_ns, trimmed)]
        bid, ask = self.bids.best(), self.asks.best()
        if bid is not None and ask is not None and bid >= ask:
            events += self._invalidate(levels, f"crossed book: bid {bid} >= ask {ask}")
        return events

    def _snapshot(self, levels: BookLevels, recv_ns: int) -> list[Event]:
        if levels.sequence < self.sequence:
            # It describes the past (it was stale on arrival): applying it would undo later
            # incrementals, and an invalid book cannot start from it either.
            self.stale_snapshots += 1
            return []
        events: list[Event] = []
        if self.status == "live" and self.good_since_ns is not None:
            differ = self._differences(levels)
            if differ:
                events.append(BookGap(levels.symbol, self.good_since_ns, levels.ts_ns,
                                      f"snapshot {levels.sequence} differs from the book "
                                      f"built from incrementals in {differ} levels"))
        elif self._gap is not None:
            since, reason = self._gap
            events.append(BookGap(levels.symbol, since, levels.ts_ns, reason))
        self._gap = None
        self.bids.replace(levels.bids)
        self.asks.replace(levels.asks)
        trimmed = self._trim()
        self.sequence, self.last_ts_ns = levels.sequence, levels.ts_ns
        self.status = "live"
        self.good_since_ns = levels.ts_ns
        events.append(self._updated(levels, recv_ns, trimmed))
        return events

    def _trim(self) -> tuple[list[int], list[int]]:
        if self.depth is None:
            return [], []
        return self.bids.trim(self.depth), self.asks.trim(self.depth)

    def _differences(self, levels: BookLevels) -> int:
        """Levels in which a snapshot and the book differ (within the subscribed depth)."""
        count = 0
        for side, given in ((self.bids, levels.bids), (self.asks, levels.asks)):
            have = dict(side.top(self.depth))
            want = {price: qty for price, qty in given[:self.depth] if qty}
            count += sum(1 for price in have.keys() | want.keys()
                         if have.get(price) != want.get(price))
        return count

    def _invalidate(self, levels: BookLevels, reason: str) -> list[Event]:
        if self._gap is None and self.good_since_ns is not None:
            # Whatever broke it may have happened any time since it was last verified.
            self._gap = (self.good_since_ns, reason)
        self.status = "invalid"
        self.sequence = max(self.sequence, levels.sequence)
        return [BookInvalid(levels.symbol, levels.sequence, levels.ts_ns, reason)]

    def _updated(self, levels: BookLevels, recv_ns: int,
                 trimmed: tuple[list[int], list[int]]) -> BookUpdated:
        return BookUpdated(levels.symbol, levels.sequence, levels.ts_ns, recv_ns,
                           levels.snapshot, levels.bids, levels.asks,
                           self.product.price_scale, self.product.qty_scale, *trimmed)

    def export(self) -> BookState:
        """Everything the book knows, to persist beside a reader's offset."""
        gap_from, gap_reason = self._gap if self._gap is not None else (None, "")
        return BookState(self.product.symbol, 0 if self.depth is None else self.depth,
                         self.status, self.sequence, self.good_since_ns, self.last_ts_ns,
                         gap_from, gap_reason, self.bids.top(), self.asks.top())

    @classmethod
    def restore(cls, state: BookState, product: Product) -> SymbolBook:
        book = cls(product, state.depth or None)
        book.status = state.status
        book.sequence, book.good_since_ns, book.last_ts_ns = (
            state.sequence, state.good_since_ns, state.last_ts_ns)
        if state.gap_from is not None:
            book._gap = (state.gap_from, state.gap_reason)
        book.bids.replace(state.bids)
        book.asks.replace(state.asks)
        return book

    def top(self, n: int | None = None) -> tuple[list[Level], list[Level]] | None:
        """The best ``n`` levels of each side (bids, asks), or None while not servable."""
        if not self.live:
            return None
        return self.bids.top(n), self.asks.top(n)


def decode_book(data: str | bytes, product: Product, recv_ns: int) -> BookLevels | FrameRejected:
    """One book frame's scaled levels, or why it cannot be read (kept with its reason)."""
    try:
        message = message_decoder.decode(data)
    except (msgspec.DecodeError, UnicodeError) as exc:
        return _rejected(exc, data)
    return levels_of(message, data, product, recv_ns)


def levels_of(message: Message, data: str | bytes, product: Product,
              recv_ns: int) -> BookLevels | FrameRejected:
    """:func:`parse_book` of a frame already decoded, or why it cannot be read."""
    try:
        return parse_book(message, product, recv_ns)
    except (BadNumber, ValueError) as exc:
        return _rejected(exc, data)


def _rejected(exc: Exception, data: str | bytes) -> FrameRejected:
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    return FrameRejected(f"order book message: {exc}", text)


class BookFeed:
    """The books one protocol follows, one per subscribed symbol (``PhemexProtocol.books``)."""

    def __init__(self, products: ProductTable) -> None:
        self.products = products
        self.books: dict[str, SymbolBook] = {}

    def follow(self, product: Product, depth: int | None) -> None:
        self.books[product.symbol] = SymbolBook(product, depth)

    def forget(self, symbol: str) -> None:
        self.books.pop(symbol, None)

    def resubscribed(self, symbols: Iterable[str] | None, reason: str) -> list[Event]:
        """The books of ``symbols`` (all: None) wait for the snapshot of a new subscribe;
        those that were being served say so."""
        chosen = None if symbols is None else set(symbols)
        events: list[Event] = []
        for symbol, book in self.books.items():
            if chosen is None or symbol in chosen:
                if book.live:
                    events.append(BookWaiting(symbol, reason))
                book.reconnected()
        return events

    def on_message(self, message: Message, data: str | bytes, recv_ns: int) -> list[Event]:
        """A ``book``/``orderbook_p`` frame: its events (a ``BookInvalid`` among them means
        the caller must resubscribe that symbol's channel). A frame of a symbol not followed
        is checked all the same, so that the live path rejects exactly what a replay of the
        spool rejects (the lake's ``rejected`` equals the live count)."""
        symbol = message.symbol
        book = self.books.get(symbol) if symbol is not None else None
        product = book.product if book is not None else (
            self.products.get(symbol) if symbol is not None else None)
        if product is None:
            text = data if isinstance(data, str) else data.decode("utf-8", "replace")
            return [FrameRejected(f"order book for unknown symbol {symbol!r}", text)]
        levels = levels_of(message, data, product, recv_ns)
        if isinstance(levels, FrameRejected):
            return [levels]
        return book.apply(levels, recv_ns) if book is not None else []
