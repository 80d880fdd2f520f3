"""Order books on the Live page: one mirror of every recorded book, pushed to pages coalesced.

The recording publishes each book message it applied as ``BookUpdated`` (a snapshot's levels
replace the book, an incremental's update it, qty 0 deletes) and the levels the feed trimmed
after it (at depth 30 a level pushed out of the top 30 is no longer updated by the exchange:
kept, it would come back stale). The dashboard keeps one mirror of every symbol's book for its
whole life (:class:`LiveBooks`, one bus subscription drained by its own task), so a page
opening mid-stream sees the book at once instead of waiting for the exchange's next snapshot
(up to a minute on Phemex). Applying the same events in order, the mirror is the feed's book
exactly, at any depth, without knowing the depth. ``BookInvalid`` empties the book until the
next snapshot: a page shows "resyncing", never a wrong book. So do ``BookWaiting`` (the feed
took the book again: a new connection, or its channel resubscribed) and a backlog overflow
(events lost: the mirror cannot know the book).

Pages never get the messages themselves: each page watches one symbol (:class:`BookPush`) and
gets that book's top ``BOOK_LEVELS`` levels per side when it changed, at most once per pump
batch and once per ``BOOK_INTERVAL_S``: a busy book costs a page twenty small frames a second,
however many messages the exchange sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass, field
from typing import Any

from ticklake.bus import Subscriber
from ticklake.feed.events import BookInvalid, BookUpdated, BookWaiting, Event
from ticklake.feed.phemex.book import BookSide
from ticklake.model import decimal_text
from ticklake.status import LiveRecording

BOOK_LEVELS = 30  # per side in a frame: the ladder shows the top of it, the depth chart all
# The least time between two frames of one page: at 100 ms the wait for the next frame put the
# ladder's p99 frame-to-screen ~40 ms above the trades'; at 50 ms they match
# (bench/dashboard_latency.py, docs/dashboard.md).
BOOK_INTERVAL_S = 0.05
MIRROR_BACKLOG = 10_000  # events queued for the mirror before the oldest are dropped


def recorded_books(recording: LiveRecording) -> list[str]:
    """The symbols whose books the recording follows (its status says, per connection)."""
    return sorted(set(recording.status().book_symbols))


@dataclass
class _Book:
    bids: BookSide = field(default_factory=lambda: BookSide(bids=True))
    asks: BookSide = field(default_factory=lambda: BookSide(bids=False))
    live: bool = False  # from a snapshot on; False: resyncing until the next snapshot
    version: int = 0  # bumped on every change a page may have to see
    sequence: int = -1
    ts_ns: int = 0
    price_scale: int = 0
    qty_scale: int = 0
    reason: str = "waiting for a snapshot"

    def clear(self, reason: str) -> None:
        self.bids.replace(())
        self.asks.replace(())
        self.live = False
        self.reason = reason
        self.version += 1


class BookMirror:
    """Every symbol's book rebuilt from the feed's book events (sans-I/O)."""

    def __init__(self) -> None:
        self.books: dict[str, _Book] = {}

    def apply(self, event: Event) -> None:
        if isinstance(event, BookUpdated):
            self._updated(event)
        elif isinstance(event, (BookInvalid, BookWaiting)):
            self._book(event.symbol).clear(event.reason)

    def resync_all(self, reason: str) -> None:
        """Events were lost: no book can be trusted until its next snapshot."""
        for book in self.books.values():
            book.clear(reason)

    def version(self, symbol: str) -> int | None:
        """Changes so far of ``symbol``'s book; None while no book event of it was seen."""
        book = self.books.get(symbol)
        return None if book is None else book.version

    def frame(self, symbol: str, levels: int = BOOK_LEVELS) -> dict[str, Any] | None:
        """What a page gets: the best ``levels`` per side as exact decimal text."""
        book = self.books.get(symbol)
        if book is None:
            return None

        def text(side: BookSide) -> list[list[str]]:
            if not book.live:
                return []
            return [[decimal_text(price, book.price_scale), decimal_text(qty, book.qty_scale)]
                    for price, qty in side.top(levels)]

        return {
            "symbol": symbol, "state": "live" if book.live else "resyncing",
            "reason": "" if book.live else book.reason, "seq": book.sequence,
            "ts_ms": book.ts_ns / 1e6,
            "bids": text(book.bids), "asks": text(book.asks),
        }

    def _book(self, symbol: str) -> _Book:
        book = self.books.get(symbol)
        if book is None:
            book = self.books[symbol] = _Book()
        return book

    def _updated(self, event: BookUpdated) -> None:
        book = self._book(event.symbol)
        if event.snapshot:
            book.bids.replace(event.bids)
            book.asks.replace(event.asks)
            book.live = True
        elif not book.live:
            return  # nothing to apply it to (the feed's book waits for a snapshot too)
        else:
            book.bids.update(event.bids)
            book.asks.update(event.asks)
        # what the feed trimmed after this message (nothing at full depth)
        book.bids.update((price, 0) for price in event.trimmed_bids)
        book.asks.update((price, 0) for price in event.trimmed_asks)
        book.sequence, book.ts_ns = event.sequence, event.ts_ns
        book.price_scale, book.qty_scale = event.price_scale, event.qty_scale
        book.version += 1


class LiveBooks:
    """The dashboard's one mirror, fed from its own bounded subscription to the feed bus."""

    def __init__(self, recording: LiveRecording, backlog: int = MIRROR_BACKLOG) -> None:
        self.recording = recording
        self.mirror = BookMirror()
        self._sub: Subscriber[Event] = recording.bus.subscribe(maxsize=backlog)
        self._dropped = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Drain the subscription in the background (idempotent; needs a running loop)."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        with contextlib.suppress(ValueError):  # already gone
            self.recording.bus.unsubscribe(self._sub)

    async def catch_up(self) -> None:
        """Apply what is queued (a reader's view is then at least as new as its own events);
        returns without suspending when something is queued."""
        if len(self._sub):
            self._absorb(await self._sub.get_batch())

    async def _run(self) -> None:
        while batch := await self._sub.get_batch():  # [] once the recording's bus closed
            self._absorb(batch)

    def _absorb(self, events: list[Event]) -> None:
        if self._sub.dropped != self._dropped:  # the lost events came before these
            self._dropped = self._sub.dropped
            self.mirror.resync_all("the dashboard fell behind the feed")
        for event in events:
            self.mirror.apply(event)


class BookPush:
    """Which book one page watches, and when it may have its next frame."""

    def __init__(self, mirror: BookMirror, symbol: str | None,
                 interval: float = BOOK_INTERVAL_S, levels: int = BOOK_LEVELS) -> None:
        self.mirror = mirror
        self.symbol = symbol
        self.interval = interval
        self.levels = levels
        self._sent: int | None = None  # the version last sent
        self._sent_at = -math.inf

    def watch(self, symbol: str | None) -> None:
        """Another symbol: its book goes out at once."""
        self.symbol = symbol
        self._sent, self._sent_at = None, -math.inf

    def due_in(self, now: float) -> float | None:
        """Seconds until a changed book may go out (0: now); None when nothing changed."""
        if self.symbol is None:
            return None
        version = self.mirror.version(self.symbol)
        if version is None or version == self._sent:
            return None
        return max(0.0, self._sent_at + self.interval - now)

    def take(self, now: float) -> list[dict[str, Any]]:
        """The watched book's frame if it changed and the interval has passed, else []."""
        if self.due_in(now) != 0 or self.symbol is None:
            return []
        frame = self.mirror.frame(self.symbol, self.levels)
        if frame is None:
            return []
        self._sent, self._sent_at = self.mirror.version(self.symbol), now
        return [frame]
