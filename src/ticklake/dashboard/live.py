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
from ticklake.dashboard.context import context
from ticklake.feed.events import Event, GapDetected, TradesReceived
from ticklake.model import Anomaly
from ticklake.status import LiveRecording

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
        await _until_disconnect(websocket)
        return
    feed = LiveFeed(recording)
    recent: list[dict[str, Any]] = []
    if ctx.recent is not None:  # right after subscribing: see dashboard/anomalies.py
        await ctx.recent.drain()
        recent = ctx.recent.snapshot()
    try:
        await websocket.send_text(_encode(feed.hello(recent)))
        async with asyncio.TaskGroup() as group:
            pump = group.create_task(feed.pump(websocket.send_text))
            await _until_disconnect(websocket)
            pump.cancel()
    finally:
        feed.close()


async def _until_disconnect(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect):
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass  # the page sends nothing we act on


class LiveFeed:
    """One page's view of a recording: its subscriptions, seam and status numbers."""

    def __init__(self, recording: LiveRecording) -> None:
        self.recording = recording
        # No await between subscribing and reading the seam (see the module docstring).
        self.events = recording.bus.subscribe(maxsize=50_000)
        self.anomalies = recording.anomalies.subscribe(maxsize=2_000)
        self.seam = recording.status().spool_end
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
            "symbols": self.recording.status().symbols,
            "seam": self.seam, "server_ms": time.time_ns() / 1e6,
            "anomalies": anomalies or [],
            "status": self.status(),
        }

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
        try:
            while True:
                for name, sub in subs.items():
                    if name not in waiting:
                        waiting[name] = asyncio.ensure_future(sub.get_batch())
                if waiting:  # the first batch, or the heartbeat's timeout
                    await asyncio.wait(waiting.values(), timeout=HEARTBEAT_SECONDS,
                                       return_when=asyncio.FIRST_COMPLETED)
                else:  # the recording ended: keep the status fresh, nothing else comes
                    await asyncio.sleep(HEARTBEAT_SECONDS)
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
                try:
                    await send(_encode(self._message(items["events"], items["anomalies"])))
                except (WebSocketDisconnect, RuntimeError, OSError):
                    return  # the page went away mid-send; the receiver sees the disconnect
        finally:
            for task in waiting.values():
                task.cancel()

    def _message(self, events: list[Event], anomalies: list[Anomaly]) -> dict[str, Any]:
        trades: list[list[Any]] = []
        gaps: list[list[Any]] = []
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
        return {
            "type": "tick", "trades": trades, "gaps": gaps,
            "anomalies": [msgspec.to_builtins(a) for a in anomalies],
            "status": self.status(),
        }


def _encode(message: dict[str, Any]) -> str:
    return _encoder.encode(message).decode()
