"""The Live page's order books, server side: the dashboard's mirror is the feed's book after
every message (the feed's own ``SymbolBook`` is the oracle), a lost event or ``BookInvalid``
shows "resyncing" until the next snapshot, and a page gets at most one frame per batch and per
interval, with the latest state, for the symbol it watches."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import websockets
from hypothesis import given, settings
from hypothesis import strategies as st

from ticklake.bus import Bus
from ticklake.dashboard.books import BOOK_INTERVAL_S, BOOK_LEVELS, BookMirror, BookPush, LiveBooks
from ticklake.dashboard.live import HEARTBEAT_SECONDS, LiveFeed
from ticklake.feed.events import BookInvalid, BookUpdated, BookWaiting, Event, Level
from ticklake.feed.phemex import default_products
from ticklake.feed.phemex.book import BookLevels, SymbolBook
from ticklake.model import Anomaly, decimal_text
from ticklake.session.stats import SessionStats
from ticklake.status import ConnectionStatus, RecordingStatus

from ...integration.test_book_lake import true_book
from ...support import scaled, wait_until
from .stack import LiveStack

BTCUSD = default_products().require("BTCUSD")  # price scale 4, qty scale 0
EVERYTHING = 10**6  # levels: more than any book here holds


def updated(seq: int, bids: list[Level], asks: list[Level], snapshot: bool = False,
            symbol: str = "BTCUSD", trimmed_bids: list[int] | None = None) -> BookUpdated:
    return BookUpdated(symbol, seq, seq * 1_000_000, seq * 1_000_000, snapshot, bids, asks,
                       BTCUSD.price_scale, BTCUSD.qty_scale, trimmed_bids or [])


def texts(levels: list[Level]) -> list[list[str]]:
    return [[decimal_text(p, BTCUSD.price_scale), decimal_text(q, BTCUSD.qty_scale)]
            for p, q in levels]


def shown(mirror: BookMirror) -> tuple[list[list[str]], list[list[str]]] | None:
    frame = mirror.frame("BTCUSD", EVERYTHING)
    if frame is None or frame["state"] != "live":
        return None
    return frame["bids"], frame["asks"]


# -- the mirror against the feed's book ------------------------------------------------------

_PRICE = st.integers(1, 45)
_CHANGE = st.tuples(_PRICE, st.sampled_from([0, 0, 1, 2, 5, 40]))
_MESSAGE = st.tuples(
    st.sampled_from(["incremental"] * 8 + ["snapshot", "backwards", "crossing"]),
    st.lists(_CHANGE, max_size=6), st.lists(_CHANGE, max_size=6))


@settings(max_examples=150, deadline=None)
@given(first=st.tuples(st.lists(_CHANGE, max_size=45), st.lists(_CHANGE, max_size=45)),
       messages=st.lists(_MESSAGE, max_size=60), depth=st.sampled_from([3, 30, None]))
def test_the_mirror_shows_the_feeds_book_after_every_message(
        first: tuple[list[tuple[int, int]], list[tuple[int, int]]],
        messages: list[tuple[str, list[tuple[int, int]], list[tuple[int, int]]]],
        depth: int | None) -> None:
    """Bids at 1000-p, asks at 1000+p (a "crossing" message moves a bid above the asks).
    The mirror sees only the events the feed published, and serves what the feed's book does
    at any depth: its levels, or nothing while it is not live."""
    book = SymbolBook(BTCUSD, depth)
    mirror = BookMirror()
    bids = [(1000 - p, q or 1) for p, q in first[0]]
    seq = 1
    events = book.apply(BookLevels("BTCUSD", True, seq, seq, bids,
                                   [(1000 + p, q) for p, q in first[1]]), 0)
    for kind, b, a in messages:
        seq += 1
        levels = BookLevels("BTCUSD", kind == "snapshot", seq - 5 if kind == "backwards" else seq,
                            seq, [(1000 - p, q) for p, q in b], [(1000 + p, q) for p, q in a])
        if kind == "crossing":
            levels.bids.append((2000, 1))
        for event in events:
            mirror.apply(event)
        top = book.top()
        assert shown(mirror) == (None if top is None else (texts(top[0]), texts(top[1])))
        events = book.apply(levels, 0)


def test_a_snapshot_replaces_incrementals_update_and_qty_zero_deletes() -> None:
    mirror = BookMirror()
    assert mirror.frame("BTCUSD") is None and mirror.version("BTCUSD") is None
    mirror.apply(updated(1, [(900_000, 5), (899_000, 2)], [(901_000, 7)], snapshot=True))
    mirror.apply(updated(2, [(900_000, 0), (899_500, 1)], [(901_000, 4)]))
    frame = mirror.frame("BTCUSD")
    assert frame is not None
    assert (frame["state"], frame["seq"]) == ("live", 2)
    assert frame["bids"] == [["89.95", "1"], ["89.9", "2"]] and frame["asks"] == [["90.1", "4"]]
    mirror.apply(updated(3, [(800_000, 1)], [], snapshot=True))
    assert shown(mirror) == ([["80", "1"]], [])


def test_levels_the_feed_trimmed_leave_the_mirror() -> None:
    """At depth 30 the exchange stops updating a level pushed out of the top 30: kept, it
    would come back stale when the levels above it go."""
    mirror = BookMirror()
    mirror.apply(updated(1, [(100 + i, 1) for i in range(30)], [(500, 1)], snapshot=True))
    mirror.apply(updated(2, [(200, 9)], [], trimmed_bids=[100]))  # 100 left the top 30
    mirror.apply(updated(3, [(200, 0)], []))  # 100 would return here: the exchange resends it
    bids, _ = shown(mirror) or ([], [])
    assert len(bids) == 29 and ["0.01", "1"] not in bids


def test_invalid_lost_or_retaken_books_show_resyncing_until_the_next_snapshot() -> None:
    async def scenario() -> None:
        recording = FakeRecording(("BTCUSD",))
        books = LiveBooks(recording, backlog=3)  # not started: drained by catch_up only
        recording.bus.publish(updated(1, [(900_000, 5)], [(901_000, 7)], snapshot=True))
        await books.catch_up()
        assert shown(books.mirror) == ([["90", "5"]], [["90.1", "7"]])

        recording.bus.publish(BookInvalid("BTCUSD", 2, 2, "crossed book"))
        recording.bus.publish(updated(3, [(900_000, 6)], []))  # not applied: no snapshot yet
        await books.catch_up()
        frame = books.mirror.frame("BTCUSD")
        assert frame is not None and (frame["state"], frame["bids"]) == ("resyncing", [])
        assert "crossed book" in frame["reason"]

        recording.bus.publish(updated(4, [(900_000, 1)], [(901_000, 1)], snapshot=True))
        for seq in range(5, 10):  # more than the backlog holds: the oldest are lost
            recording.bus.publish(updated(seq, [(899_000 + seq, 1)], []))
        await books.catch_up()
        frame = books.mirror.frame("BTCUSD")
        assert frame is not None and frame["state"] == "resyncing"
        assert "fell behind" in frame["reason"]
        recording.bus.publish(updated(10, [(900_000, 2)], [(901_000, 3)], snapshot=True))
        await books.catch_up()
        assert shown(books.mirror) == ([["90", "2"]], [["90.1", "3"]])

        # The feed takes the book again (a new connection): nothing until its snapshot.
        recording.bus.publish(BookWaiting("BTCUSD", "a new connection"))
        recording.bus.publish(updated(11, [(900_000, 6)], []))  # not applied: no snapshot yet
        await books.catch_up()
        frame = books.mirror.frame("BTCUSD")
        assert frame is not None and (frame["state"], frame["bids"]) == ("resyncing", [])
        assert frame["reason"] == "a new connection"
        recording.bus.publish(updated(12, [(900_000, 4)], [(901_000, 3)], snapshot=True))
        await books.catch_up()
        assert shown(books.mirror) == ([["90", "4"]], [["90.1", "3"]])

    asyncio.run(scenario())


# -- what one page gets ----------------------------------------------------------------------


def test_a_page_gets_the_latest_book_at_most_once_per_interval() -> None:
    mirror = BookMirror()
    push = BookPush(mirror, "BTCUSD", interval=0.1)
    assert push.due_in(0.0) is None and push.take(0.0) == []  # no book yet
    mirror.apply(updated(1, [(900_000, 5)], [(901_000, 7)], snapshot=True))
    assert push.due_in(0.0) == 0
    (frame,) = push.take(0.0)
    assert frame["seq"] == 1 and push.due_in(0.01) is None  # sent, nothing new
    for seq in range(2, 50):  # a busy book: many messages within one interval
        mirror.apply(updated(seq, [(900_000, seq)], []))
    wait = push.due_in(0.04)
    assert wait is not None and abs(wait - 0.06) < 1e-9
    assert push.take(0.04) == []
    (frame,) = push.take(0.1)
    assert (frame["seq"], frame["bids"]) == (49, [["90", "49"]])  # one frame, the latest

    mirror.apply(updated(1, [(20_000_000, 1)], [(20_010_000, 1)], snapshot=True, symbol="ETHUSD"))
    push.watch("ETHUSD")  # another symbol goes out at once, whatever the interval
    (frame,) = push.take(0.11)
    assert frame["symbol"] == "ETHUSD"
    push.watch(None)
    assert push.due_in(0.5) is None and push.take(0.5) == []


class FakeRecording:
    """A recording's buses and status, without sessions: the test publishes the events."""

    def __init__(self, symbols: tuple[str, ...], book_symbols: tuple[str, ...] = ()) -> None:
        self._bus: Bus[Event] = Bus()
        self._anomalies: Bus[Anomaly] = Bus()
        self.symbols = symbols
        self.book_symbols = book_symbols

    @property
    def bus(self) -> Bus[Event]:
        return self._bus

    @property
    def anomalies(self) -> Bus[Anomaly]:
        return self._anomalies

    def status(self) -> RecordingStatus:
        stats = SessionStats()
        return RecordingStatus(
            (ConnectionStatus("phemex", self.symbols, stats, self.book_symbols),), 0, 0)


def test_the_socket_coalesces_book_messages_into_few_frames_of_the_watched_symbol() -> None:
    async def scenario() -> None:
        # trades and book of each symbol (a symbol listed twice is shown once)
        recording = FakeRecording(("BTCUSD", "BTCUSD", "ETHUSD"), ("ETHUSD", "BTCUSD"))
        books = LiveBooks(recording)
        books.start()
        feed = LiveFeed(recording, books)
        hello = feed.hello()
        assert (hello["symbols"], hello["book_watch"]) == (["BTCUSD", "ETHUSD"], "BTCUSD")
        assert hello["book_symbols"] == ["BTCUSD", "ETHUSD"]
        sent: list[dict[str, Any]] = []

        async def send(text: str) -> None:
            sent.append(json.loads(text))

        def frames() -> list[dict[str, Any]]:
            return [f for message in sent for f in message["books"]]

        began = time.monotonic()
        pump = asyncio.create_task(feed.pump(send))
        # A burst in one event-loop step: one frame, with the last state.
        recording.bus.publish(updated(1, [(900_000, 5)], [(901_000, 7)], snapshot=True))
        for seq in range(2, 202):
            recording.bus.publish(updated(seq, [(900_000, seq)], []))
        await wait_until(lambda: bool(frames()), 10, "the first book frame")
        assert [(f["seq"], f["bids"]) for f in frames()] == [(201, [["90", "201"]])]

        # A busy book for a while: one frame per interval at most, none empty of news
        # but heartbeats, and the last frame is the last state.
        for seq in range(202, 402):
            recording.bus.publish(updated(seq, [(900_000, seq)], []))
            recording.bus.publish(updated(seq, [], [], symbol="ETHUSD", snapshot=True))
            await asyncio.sleep(0.002)  # the load: a message every ~2 ms
        await wait_until(lambda: frames()[-1]["seq"] == 401, 10, "the last state")
        elapsed = time.monotonic() - began
        assert all(len(message["books"]) <= 1 for message in sent)
        assert all(f["symbol"] == "BTCUSD" for f in frames())
        assert len(frames()) <= 2 + elapsed / BOOK_INTERVAL_S
        assert len(sent) <= len(frames()) + 1 + elapsed / HEARTBEAT_SECONDS

        # The page switches symbols: that book comes at once; unknown requests do nothing.
        feed.on_text('{"type": "book", "symbol": "ETHUSD"}')
        feed.on_text('{"type": "book", "symbol": "XRPUSD"}')
        feed.on_text("not json")
        await wait_until(lambda: frames()[-1]["symbol"] == "ETHUSD", 10, "the ETHUSD book")
        assert frames()[-1]["seq"] == 401 and feed.book is not None
        assert feed.book.symbol == "ETHUSD"
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump
        books.stop()
        feed.close()

    asyncio.run(scenario())


# -- against the exchange --------------------------------------------------------------------


def test_the_pushed_book_is_the_exchanges_once_the_market_halts(tmp_path: Path) -> None:
    """A full-depth recording of the emulator; the page watches the USDⓈ-M book (decimal
    strings on the wire). Once the market halts, the last frame is the exchange's top 30."""
    stack = LiveStack(tmp_path, symbols=("BTCUSD", "BTCUSDT"), rate=40.0, buffer_seconds=0.5,
                      feed={"channels": ("trades", "book"), "book_depth": "full"},
                      book_snapshot_interval=1.0).start()
    try:
        asyncio.run(_exchange_scenario(stack))
    finally:
        stack.stop()


async def _exchange_scenario(stack: LiveStack) -> None:
    emulator = stack.emulator
    assert emulator is not None
    url = stack.url.replace("http://", "ws://").rstrip("/") + "/api/live"
    async with websockets.connect(url, open_timeout=scaled(10)) as ws:
        hello = json.loads(await ws.recv())
        assert (hello["symbols"], hello["book_watch"]) == (["BTCUSD", "BTCUSDT"], "BTCUSD")
        await ws.send(json.dumps({"type": "book", "symbol": "BTCUSDT"}))
        frames: list[dict[str, Any]] = []

        async def until(condition: Callable[[], bool], what: str) -> None:
            deadline = time.monotonic() + scaled(20)
            while not condition():
                assert time.monotonic() < deadline, f"timed out waiting for {what}"
                with contextlib.suppress(TimeoutError):
                    frames.extend(json.loads(await asyncio.wait_for(ws.recv(), 0.5))["books"])

        def live_changes() -> int:
            return len({f["seq"] for f in frames if f["symbol"] == "BTCUSDT"
                        and f["state"] == "live"})

        await until(lambda: live_changes() >= 5, "the BTCUSDT book changing live")
        stack.call(emulator.halt)
        truth = stack.call(true_book, emulator, "BTCUSDT", BOOK_LEVELS)

        def levels(side: list[list[str]]) -> dict[Decimal, Decimal]:
            return {Decimal(price): Decimal(qty) for price, qty in side}

        await until(lambda: (levels(frames[-1]["bids"]), levels(frames[-1]["asks"])) == truth,
                    "the exchange's book in the last frame")
        # the default (BTCUSD) may go out before the request is read; none after it
        first = next(i for i, f in enumerate(frames) if f["symbol"] == "BTCUSDT")
        assert all(f["symbol"] == "BTCUSDT" for f in frames[first:])
        assert len(truth[0]) == len(truth[1]) == BOOK_LEVELS  # a full top 30 was compared
