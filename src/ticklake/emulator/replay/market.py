"""The market at the replay's position: what a subscription's snapshot is made of.

Every item passes here when the replay reaches it (:meth:`Market.reach`), which also decides
whether it is served: an archived book snapshot is served unless it describes an instant the
book is already past (applying it would undo later incrementals). One that changes the book
(the recorder was away, or the book was wrong) is what puts a client right; one that repeats
it is the exchange's periodic check (§6.1), which lets a client verify its book.

Snapshots, built at the position (:meth:`Market.snapshot`), in the exchange's formats:

* trades: the newest ``TRADE_SNAPSHOT`` (200, §4) trades served, newest first;
* books: the book rebuilt from the archived snapshot and incrementals before the position
  (:mod:`~ticklake.emulator.replay.books`), at the depth asked for (never deeper than the
  recording's); nothing while no archived snapshot has started the book (its first archived
  snapshot then goes out, as it changes a book the client does not have);
* klines: the newest version of each of the newest 1,000 bars (§6.2), newest first, in the
  form of the symbol's last archived kline message (its scale keys);
* tickers and ticks: the last archived message of each symbol of the subscription (the
  exchange sends the current values right after the ack, as the emulator does).
"""

from __future__ import annotations

from collections import deque

import msgspec

from ticklake.emulator.replay.books import Book
from ticklake.emulator.replay.wire import (
    BOOK,
    BOOK_SNAPSHOT,
    KLINE,
    KLINE_SNAPSHOT,
    PACK,
    TRADES,
    Item,
)

__all__ = ["KLINE_BARS", "TRADE_SNAPSHOT", "Market"]

TRADE_SNAPSHOT = 200
KLINE_BARS = 1_000
_encode = msgspec.json.Encoder()
_head = msgspec.json.Decoder(dict[str, msgspec.Raw])


class _Bars:
    """The newest version of each bar of one (symbol, interval)."""

    __slots__ = ("bars", "template")

    def __init__(self) -> None:
        self.bars: dict[int, bytes] = {}
        self.template = ""  # the last archived message: its keys and scales

    def update(self, bars: list[tuple[int, bytes]], template: str) -> None:
        for start, raw in bars:
            self.bars[start] = raw
        self.template = template
        if len(self.bars) > KLINE_BARS:
            for start in sorted(self.bars)[:len(self.bars) - KLINE_BARS]:
                del self.bars[start]


class Market:
    """State at the position (module doc); fed every item in timeline order."""

    def __init__(self) -> None:
        self.trades: dict[str, deque[tuple[int, str, int | str, int | str]]] = {}
        self.books: dict[str, Book] = {}
        self.bars: dict[tuple[str, str], _Bars] = {}  # (channel, "SYMBOL@interval")
        self.last: dict[tuple[str, str], str] = {}  # tickers and ticks: (channel, symbol)
        self.sequence: dict[str, int] = {}  # each symbol's newest sequence
        self.ts = 0  # the position: the newest exchange time reached

    def reach(self, item: Item) -> bool:
        """Move the state past ``item``; whether it is served."""
        kind = item.kind
        self.ts = max(self.ts, item.ts)
        if kind == TRADES:
            ring = self.trades.get(item.symbol)
            if ring is None:
                ring = self.trades[item.symbol] = deque(maxlen=TRADE_SNAPSHOT)
            ring.extend(item.body)
            self._sequence(item.symbol, item.seq)
            return True
        if kind in (BOOK, BOOK_SNAPSHOT):
            return self._book(item)
        if kind in (KLINE, KLINE_SNAPSHOT):
            key = (item.channel, item.symbol)
            bars = self.bars.get(key)
            if bars is None:
                bars = self.bars[key] = _Bars()
            bars.update(*item.body)
            self._sequence(item.symbol.rpartition("@")[0], item.seq)
            return kind == KLINE
        self.last[(item.channel, item.symbol)] = item.text or ""  # TICKER, TICK
        return True

    def _sequence(self, symbol: str, seq: int) -> None:
        if seq > self.sequence.get(symbol, 0):
            self.sequence[symbol] = seq

    def _book(self, item: Item) -> bool:
        book = self.books.get(item.symbol)
        if book is None:
            key = "orderbook_p" if item.channel == "orderbook_p" else "book"
            book = self.books[item.symbol] = Book(item.symbol, key)
        levels, depth = item.body
        self._sequence(item.symbol, item.seq)
        if item.kind == BOOK:
            if not book.known:
                return False  # no snapshot yet: nobody can apply it
            book.apply(levels, depth, item.seq, item.ts)
            return True
        if book.known and item.seq < book.sequence:
            return False  # the past: applying it would undo later incrementals
        book.replace(levels, depth, item.seq, item.ts)
        return True  # a change puts clients right; a repeat lets them check their book

    # ---------------------------------------------------------------- snapshots

    def trade_snapshot(self, channel: str, symbol: str) -> str:
        ring = self.trades.get(symbol, ())
        rows = sorted(ring, key=lambda r: r[0], reverse=True)  # stable: ties keep their order
        key = "trades_p" if channel == "trade_p" else "trades"
        return (f'{{"sequence":{self.sequence.get(symbol, 0)},'
                f'"symbol":{_encode.encode(symbol).decode()},"type":"snapshot",'
                f'"{key}":{_encode.encode(rows).decode()}}}')

    def book_snapshot(self, symbol: str, depth: int) -> str | None:
        book = self.books.get(symbol)
        if book is None or not book.known:
            return None
        if book.depth and (depth == 0 or depth > book.depth):
            depth = book.depth  # the archive holds no deeper levels than it subscribed
        return book.snapshot(depth)

    def kline_snapshot(self, channel: str, symbol: str, interval: int) -> str:
        bars = self.bars.get((channel, f"{symbol}@{interval}"))
        newest_first = sorted(bars.bars, reverse=True) if bars is not None else []
        rows = b"[" + b",".join(bars.bars[s] for s in newest_first) + b"]" if bars else b"[]"
        seq = str(self.sequence.get(symbol, 0)).encode()
        if bars is None or not bars.template:
            return (f'{{"{channel}":{rows.decode()},"sequence":{seq.decode()},'
                    f'"symbol":{_encode.encode(symbol).decode()},"type":"snapshot"}}')
        message = _head.decode(bars.template)
        key = "kline_p" if "kline_p" in message else "kline"
        message[key] = msgspec.Raw(rows)
        message["sequence"] = msgspec.Raw(seq)
        message["type"] = msgspec.Raw(b'"snapshot"')
        return _encode.encode(message).decode()

    def ticker_snapshot(self, channel: str, symbol: str) -> list[str]:
        """The last message of ``symbol`` on ``channel`` (``*``: of every symbol)."""
        if channel == PACK or symbol != "*":
            text = self.last.get((channel, "*" if channel == PACK else symbol))
            return [text] if text else []
        return [t for (ch, _), t in sorted(self.last.items()) if ch == channel and t]

