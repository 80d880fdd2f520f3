"""The replay server: the archive served over Phemex's WebSocket protocol, with the REST
products on the same port.

One position for every connection: a player task walks the timeline
(:mod:`~ticklake.emulator.replay.timeline`, read in a worker thread, a batch ahead), moves
the market state (:mod:`~ticklake.emulator.replay.market`) and queues each served item to
the connections subscribed to it. Pacing:

* ``speed`` N: the replay clock starts ``start_delay`` after the first subscription at the
  first frame's exchange time, and an item goes out when the clock reaches its time (the
  archive's spacing divided by N), on every connection at once;
* ``--speed max``: no clock; the player goes as fast as the subscribed connections read: it
  waits while any of their queues is full (and while nobody is subscribed at all).

After the last item the connections stay open: requests and pings are still answered, and a
new subscription gets the archive's final state as its snapshot.

Every method must be called from the event loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ticklake.emulator.replay import requests
from ticklake.emulator.replay.config import ReplayConfig, ReplayError
from ticklake.emulator.replay.connection import Client, ReplayConnection, Slot
from ticklake.emulator.replay.market import Market
from ticklake.emulator.replay.products import Products
from ticklake.emulator.replay.source import Archive
from ticklake.emulator.replay.timeline import Timeline
from ticklake.emulator.replay.wire import TICKER, Item
from ticklake.emulator.rest import respond
from ticklake.emulator.served import Served

__all__ = ["Replay", "run_replay"]

log = logging.getLogger(__name__)

PRODUCT_PATHS = frozenset({"/public/products", "/exchange/public/cfg/v2/products"})
WS_PATHS = frozenset({"/", "/ws"})
_S = 1_000_000_000


class Replay(Served):
    """A lake's archive as a Phemex-compatible exchange on a real socket (module doc)."""

    def __init__(self, config: ReplayConfig) -> None:
        self.config = config
        self.products = Products(())
        self.market = Market()
        self.timeline: Timeline | None = None
        self.clients: dict[int, Client] = {}
        self.listeners: dict[Slot, set[Client]] = {}
        self.served = 0  # archived items served (each once, whatever the connections)
        self.sent = 0  # frames queued to connections
        self.finished = asyncio.Event()  # the whole archive was played
        self.failed = asyncio.Event()  # reading the archive failed: ``error`` says why
        self.error: Exception | None = None
        self._subscribed = asyncio.Event()  # someone is subscribed to something
        self._room = asyncio.Event()  # no subscribed connection's queue is full
        self._room.set()
        self._full: set[Client] = set()
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._first_subscription = asyncio.Event()
        self._next_id = 1

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Read the products, open the socket. ReplayError when the lake cannot be played."""
        cfg = self.config
        archive = await asyncio.to_thread(Archive, cfg.lake)
        controls = await asyncio.to_thread(archive.control_payloads, cfg.to_ns)
        everything = Products.from_control(controls)
        if not everything.listings:
            msg = (f"the lake at {cfg.lake} has no control records (raw rows with conn_id "
                   "4294967295) naming its products: nothing to replay")
            raise ReplayError(msg)
        missing = [s for s in cfg.symbols if s not in everything.listings]
        if missing:
            msg = f"not in the lake's products: {', '.join(missing)}"
            raise ReplayError(msg, "--symbols")
        self.products = Products.from_control(controls, cfg.symbols)
        self.timeline = Timeline(archive, cfg, self.products)
        self._server = await serve(
            self._handle, cfg.host, cfg.port, process_request=self._process_request,
            create_connection=ReplayConnection, ping_interval=None, close_timeout=2,
            max_size=2**16, logger=logging.getLogger(f"{__name__}.ws"))
        self._spawn(self._play_or_fail())
        if cfg.heartbeat_timeout > 0:
            self._spawn(self._watch_heartbeats())
        log.info("replaying %s on %s", cfg.lake, self.url)

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for client in list(self.clients.values()):
            client.abort()
        if self._server is not None:
            self._server.close(close_connections=False)
            await self._server.wait_closed()
            self._server = None

    def state(self) -> dict[str, Any]:
        timeline = self.timeline
        stats = timeline.stats if timeline is not None else None
        dedup = timeline.dedup if timeline is not None else None
        return {
            "position_ns": self.market.ts, "finished": self.finished.is_set(),
            "served": self.served, "sent": self.sent,
            "rows_read": stats.rows if stats else 0, "frames_read": stats.frames if stats else 0,
            "late": stats.late if stats else 0,
            "duplicates_dropped": dedup.dropped if dedup else 0,
            "trades_recovered": dedup.recovered if dedup else 0,
            "connections": [c.describe() for c in self.clients.values()],
        }

    # ---------------------------------------------------------------- subscriptions

    def subscribe(self, client: Client, slot: Slot, depth: int) -> bool:
        """Take ``slot`` for ``client``; False if that was one too many (the connection is
        then closed with 1008, as the emulator does)."""
        limit = self.config.max_subscriptions
        if slot not in client.subscriptions and limit and len(client.subscriptions) >= limit:
            client.closing = True
            self._spawn(client.ws.close(1008, "too many subscriptions"))
            self._drop(client)
            return False
        client.subscriptions[slot] = depth
        self.listeners.setdefault(slot, set()).add(client)
        self._subscribed.set()
        self._first_subscription.set()  # (the clock starts at the first)
        return True

    def unsubscribe(self, client: Client, slot: Slot) -> None:
        client.subscriptions.pop(slot, None)
        listeners = self.listeners.get(slot)
        if listeners is not None:
            listeners.discard(client)
            if not listeners:
                del self.listeners[slot]
        if not self.listeners:
            self._subscribed.clear()

    def _drop(self, client: Client) -> None:
        for slot in list(client.subscriptions):
            self.unsubscribe(client, slot)
        self._on_room(client)

    def _on_room(self, client: Client) -> None:
        self._full.discard(client)
        if not self._full:
            self._room.set()

    # ---------------------------------------------------------------- the player

    async def _items(self) -> AsyncIterator[Item]:
        """The timeline's items, read in a worker thread one batch ahead."""
        timeline = self.timeline
        assert timeline is not None
        batch = asyncio.ensure_future(asyncio.to_thread(timeline.batch))
        while True:
            items = await batch
            if not items:
                return
            batch = asyncio.ensure_future(asyncio.to_thread(timeline.batch))
            for item in items:
                yield item

    async def _play_or_fail(self) -> None:
        try:
            await self._play()
        except Exception as exc:  # a file that cannot be read: say so, keep answering pings
            log.error("replay stopped: %s", exc)
            self.error = exc
            self.failed.set()

    async def _play(self) -> None:
        loop = asyncio.get_running_loop()
        speed, unpaced = self.config.speed, self.config.unpaced
        t0 = 0.0
        ts0: int | None = None
        async for item in self._items():
            if item.prime:  # the lead-in: the state at the start, before anyone asks
                self.market.reach(item)
                continue
            if ts0 is None:  # the first frame to serve: the clock starts
                await self._first_subscription.wait()
                await asyncio.sleep(self.config.start_delay)
                t0, ts0 = loop.time(), item.ts
            if unpaced:
                while not (self._room.is_set() and self._subscribed.is_set()):
                    await self._room.wait()
                    await self._subscribed.wait()
            else:
                delay = t0 + (item.ts - ts0) / _S / speed - loop.time()
                if delay > 0.001:
                    await asyncio.sleep(delay)
            if self.market.reach(item):
                self._serve(item)
        self.finished.set()
        log.info("replay finished: %d items served", self.served)

    def _serve(self, item: Item) -> None:
        self.served += 1
        text = item.text
        if text is None:
            return
        listeners = self.listeners.get((item.channel, item.symbol))
        if item.kind == TICKER and item.symbol != "*":  # and every [] subscriber's
            everyone = self.listeners.get((item.channel, "*"))
            if everyone:
                listeners = everyone | listeners if listeners else everyone
        if not listeners:
            return
        limit = self.config.slow_client_frames
        for client in list(listeners):
            client.push(text)
            self.sent += 1
            if client.full:
                if self.config.unpaced:
                    self._full.add(client)
                    self._room.clear()
                elif len(client.queue) > limit:
                    log.warning("connection %d: %d frames behind, dropping it", client.id,
                                len(client.queue))
                    self._drop(client)
                    client.abort()

    # ---------------------------------------------------------------- connections

    async def _handle(self, ws: ServerConnection) -> None:
        assert isinstance(ws, ReplayConnection)
        client = Client(self._next_id, ws, self.config.queue_frames, self._on_room)
        self._next_id += 1
        self.clients[client.id] = client
        ws.client = client
        sender = asyncio.get_running_loop().create_task(client.send_forever())
        try:
            async for message in ws:
                if client.closing:
                    break
                requests.handle_message(self, client, message)
        except ConnectionClosed:
            pass
        finally:
            client.closed()
            self._drop(client)
            self.clients.pop(client.id, None)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def _watch_heartbeats(self) -> None:
        limit = self.config.heartbeat_timeout
        while True:
            await asyncio.sleep(min(1.0, limit / 4))
            now = time.monotonic()
            for client in list(self.clients.values()):
                if not client.closing and now - client.last_heartbeat > limit:
                    log.info("connection %d: no heartbeat for %.1f s, dropping", client.id,
                             limit)
                    self._drop(client)
                    client.abort()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path, _, query = request.path.partition("?")
        upgrade = "websocket" in request.headers.get("Upgrade", "").lower()
        if path in PRODUCT_PATHS and not upgrade:
            return respond(200, self.products.body())
        if path not in WS_PATHS or query:
            return respond(404, b"Not Found\n", "text/plain; charset=utf-8")
        return None  # an upgrade (or websockets' own 426 for a plain GET)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def run_replay(config: ReplayConfig) -> None:
    """Serve a replay until cancelled (``ticklake replay``)."""
    async with Replay(config):
        await asyncio.Event().wait()
