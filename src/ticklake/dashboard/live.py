"""``/api/live``: the recording's feed pushed to the page over a WebSocket.

Each connection subscribes to the recording's buses (trades and gaps from ``bus``, detector
episodes from ``anomalies``). Subscribers are bounded and drop their oldest items when the
page falls behind (``ticklake.bus``): a slow browser never slows the recorder. Nothing waits
on a timer: what the buses hold goes out as soon as the pump runs, and whatever arrives while
a message is being encoded or written goes into the next one (``get_batch`` returns everything
queued), so a busy feed coalesces by itself and a quiet one costs one message per frame. The
page throttles its redraws on its own side; the socket is never held back for them.

The hello message carries ``seam``, the spool offset at the instant of subscribing (read in
the same synchronous step, and the session appends each frame to the spool before it
publishes the frame's events): the page seeds its chart from the lake with
``before_offset=seam`` and then adds pushed trades, each counted exactly once. It also carries
the dashboard's recent detector episodes (``recent.py``); the page adds the lake's ended ones
(``/api/anomalies``) and keeps the latest phase per ``anomaly_id``.

Order books (``books.py``): the page says which symbol's book it shows (``{"type": "book",
"symbol": ...}``; the recording's first symbol until it does) and gets that book's top levels
in ``books`` when it changed, at most every ``BOOK_INTERVAL_S``; book events alone never make
a message that would carry nothing new.

24 h tickers (``--channels …,tickers``): each message carries the newest update of every
symbol that had one (``tickers``: last, mark, index, funding and predicted funding as exact
decimal text); the page shows the chosen symbol's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.websockets import WebSocket, WebSocketDisconnect

from ticklake.bus import Subscriber
from ticklake.dashboard.books import BookPush, LiveBooks, recorded_books
from ticklake.dashboard.context import context, live_symbols
from ticklake.feed.events import Event, GapDetected, TickersReceived, TradesReceived
from ticklake.model import Anomaly, decimal_text
from ticklake.status import LiveRecording
from ticklake.tables import DECIMAL_SCALE

HEARTBEAT_SECONDS = 1.0  # status refresh while no trade arrives
RATE_WINDOW_SECONDS = 3.0
_encoder = msgspec.json.Encoder()

Send = Callable[[str], Awaitable[None]]


async def live(websocket: WebSocket) -> None:
    ctx = context(websocket)
    recording = ctx.live
    await websocket.accept()
    if recording is None:
        await websocket.send_text(_encode({"type": "hello", "recording": False}))
        await _until_disconnect(websocket, lambda _: None)
        return
    if ctx.books is not None:
        ctx.books.start()  # normally already running (DashboardServer.serve starts it)
    feed = LiveFeed(recording, ctx.books)
    recent: list[dict[str, Any]] = []
    if ctx.recent is not None:  # right after subscribing: see dashboard/anomalies.py
        await ctx.recent.drain()
        recent = ctx.recent.snapshot()
    try:
        await websocket.send_text(_encode(feed.hello(recent)))
        async with asyncio.TaskGroup() as group:
            pump = group.create_task(feed.pump(websocket.send_text))
            await _until_disconnect(websocket, feed.on_text)
            pump.cancel()
    finally:
        feed.close()


async def _until_disconnect(websocket: WebSocket, on_text: Callable[[str], None]) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while (message := await websocket.receive())["type"] != "websocket.disconnect":
            if message.get("text"):
                on_text(message["text"])


class _Request(msgspec.Struct):
    """What a page may ask: ``{"type": "book", "symbol": "BTCUSD"}`` (null: no book)."""

    type: str
    symbol: str | None = None


_request_decoder = msgspec.json.Decoder(_Request)


class LiveFeed:
    """One page's view of a recording: its subscriptions, seam and status numbers."""

    def __init__(self, recording: LiveRecording, books: LiveBooks | None = None) -> None:
        self.recording = recording
        # No await between subscribing and reading the seam (see the module docstring).
        self.events = recording.bus.subscribe(maxsize=50_000)
        self.anomalies = recording.anomalies.subscribe(maxsize=2_000)
        self.seam = recording.status().spool_end
        self.symbols = live_symbols(recording)
        self.books = books
        self.book = (BookPush(books.mirror, self.symbols[0] if self.symbols else None)
                     if books is not None else None)
        self._wake = asyncio.Event()  # the page asked for another book
        self._samples: deque[tuple[float, int]] = deque()
        self._ended = False

    def close(self) -> None:
        with contextlib.suppress(ValueError):  # already gone: nothing to undo
            self.recording.bus.unsubscribe(self.events)
        with contextlib.suppress(ValueError):
            self.recording.anomalies.unsubscribe(self.anomalies)

    def hello(self, anomalies: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {
            "type": "hello", "recording": True,
            "symbols": self.symbols,
            "seam": self.seam, "server_ms": time.time_ns() / 1e6,
            "anomalies": anomalies or [],
            "book_symbols": recorded_books(self.recording) if self.books is not None else [],
            "book_watch": self.book.symbol if self.book is not None else None,
            "status": self.status(),
        }

    def on_text(self, text: str) -> None:
        """A page's request; anything else (or an unknown symbol) is ignored."""
        try:
            request = _request_decoder.decode(text)
        except msgspec.DecodeError:
            return
        if (request.type == "book" and self.book is not None
                and (request.symbol is None or request.symbol in self.symbols)):
            self.book.watch(request.symbol)
            self._wake.set()

    def status(self) -> dict[str, Any]:
        status = self.recording.status()
        stats = status.totals
        now = time.monotonic()
        self._samples.append((now, stats.trades))
        while len(self._samples) > 2 and now - self._samples[1][0] >= RATE_WINDOW_SECONDS:
            self._samples.popleft()
        then, count = self._samples[0]
        rate = (stats.trades - count) / (now - then) if now - then > 0.2 else None
        last = stats.last_frame_wall_ns
        return {
            "state": "stopped" if self._ended else stats.state,
            "connects": stats.connects, "reconnects": stats.reconnects,
            "trades": stats.trades, "trades_per_s": rate, "gaps": stats.gaps,
            "rejected": stats.rejected, "spool_backlog": status.backlog,
            "last_frame_age_s": (time.time_ns() - last) / 1e9 if last else None,
            "rtt_ms": stats.last_rtt_ns / 1e6 if stats.last_rtt_ns else None,
            "dropped": self.events.dropped + self.anomalies.dropped,
        }

    async def pump(self, send: Send) -> None:
        """Forward until cancelled (the page left) or the page cannot be written to."""
        subs: dict[str, Subscriber[Any]] = {"events": self.events, "anomalies": self.anomalies}
        waiting: dict[str, asyncio.Task[list[Any]]] = {}
        last_sent = time.monotonic()  # the hello
        try:
            while True:
                for name, sub in subs.items():
                    if name not in waiting:
                        waiting[name] = asyncio.ensure_future(sub.get_batch())
                await self._wait(waiting, self._timeout(last_sent))
                ended = self._ended
                items = await self._collect(subs, waiting)
                message = tick_message(items["events"], items["anomalies"], await self._books())
                now = time.monotonic()
                if not (_news(message) or self._ended != ended
                        or now - last_sent >= HEARTBEAT_SECONDS):
                    continue  # only book messages, coalesced into a later frame
                message["status"] = self.status()
                last_sent = now
                try:
                    await send(_encode(message))
                except (WebSocketDisconnect, RuntimeError, OSError):
                    return  # the page went away mid-send; the receiver sees the disconnect
        finally:
            for task in waiting.values():
                task.cancel()

    def _timeout(self, last_sent: float) -> float:
        """Until the heartbeat, or until a throttled book may go out if that is sooner."""
        now = time.monotonic()
        timeout = max(0.0, last_sent + HEARTBEAT_SECONDS - now)
        book_due = self.book.due_in(now) if self.book is not None else None
        return timeout if book_due is None else min(timeout, book_due)

    async def _wait(self, waiting: dict[str, asyncio.Task[list[Any]]], timeout: float) -> None:
        """Until a batch is ready, the page asks for a book, or ``timeout`` passes."""
        wake = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait([*waiting.values(), wake], timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            wake.cancel()
        self._wake.clear()

    async def _collect(self, subs: dict[str, Subscriber[Any]],
                       waiting: dict[str, asyncio.Task[list[Any]]]) -> dict[str, list[Any]]:
        """The batches that are ready (a closed bus leaves ``subs``: the recording ended)."""
        items: dict[str, list[Any]] = {"events": [], "anomalies": []}
        for name in [n for n, task in waiting.items() if task.done()]:
            batch = waiting.pop(name).result()
            if not batch:  # [] means the bus was closed: the recording ended
                del subs[name]
                self._ended = True
                continue
            if len(subs[name]):
                batch += await subs[name].get_batch()  # returns at once
            items[name] = batch
        return items

    async def _books(self) -> list[dict[str, Any]]:
        if self.books is None or self.book is None:
            return []
        await self.books.catch_up()  # at least as new as the events this batch saw
        return self.book.take(time.monotonic())


def tick_message(events: list[Event], anomalies: list[Anomaly],
                 books: list[dict[str, Any]]) -> dict[str, Any]:
    """What the page gets for a batch of the buses' items (``status`` added by the pump)."""
    trades: list[list[Any]] = []
    gaps: list[list[Any]] = []
    tickers: dict[str, list[Any]] = {}  # the newest per symbol
    for event in events:
        if isinstance(event, TradesReceived):
            trades.extend(
                [t.symbol, t.ts_exchange_ns / 1e6, t.price_text, t.qty_text,
                 "b" if t.side == "buy" else "s"]
                for t in event.trades
            )
        elif isinstance(event, GapDetected):
            g = event.gap
            gaps.append([g.symbol, g.from_ns / 1e6, g.to_ns / 1e6, g.reason])
        elif isinstance(event, TickersReceived):
            for row in event.rows:
                tickers[row.symbol] = [row.symbol, row.ts_ns / 1e6,
                                       *(_text(row.values.get(c)) for c in _TICKER_SHOWN)]
    return {
        "type": "tick", "trades": trades, "gaps": gaps,
        "anomalies": [msgspec.to_builtins(a) for a in anomalies], "books": books,
        "tickers": list(tickers.values()),
    }


# A ticker on the page: [symbol, ts ms, then these as exact decimal text (null: not sent)]
_TICKER_SHOWN = ("last", "mark_price", "index_price", "funding_rate", "pred_funding_rate")


def _text(value: int | None) -> str | None:
    return None if value is None else decimal_text(value, DECIMAL_SCALE)


def _news(message: dict[str, Any]) -> bool:
    return any(message[key] for key in ("trades", "gaps", "anomalies", "books", "tickers"))


def _encode(message: dict[str, Any]) -> str:
    return _encoder.encode(message).decode()
