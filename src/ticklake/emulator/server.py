"""The emulated Phemex DataGW: a websockets server speaking the protocol from shared/docs.

One asyncio event loop runs everything. Frames are written synchronously (websockets'
``broadcast`` path), so per-connection order is the call order: a subscribe's ack always
precedes its snapshot, which precedes every incremental. A market task advances the
simulated market every ``batch_ms`` (:mod:`~ticklake.emulator.fanout` fans the new trades out
as ``incremental`` messages and moves the order books; every ``ticker_interval``
:mod:`~ticklake.emulator.ticker_fanout` pushes the 24 h tickers and ticks, and
:mod:`~ticklake.emulator.kline_fanout` the bars that changed) and enforces heartbeats.
Requests go
to :mod:`~ticklake.emulator.dispatch`, HTTP to :mod:`~ticklake.emulator.rest`, faults to
:mod:`~ticklake.emulator.injector`.

Two clocks: exchange time is the one :class:`~ticklake.emulator.clock.ExchangeClock` made at
start (``clock_speed`` exchange seconds per real second; :meth:`Emulator.now_ns`), and every
timestamp and exchange-time window reads it; the periods, heartbeats and faults are paced by
``time.monotonic()`` (real seconds), so a fast clock still talks to clients in real time.

Every method of :class:`Emulator` must be called from the event loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Coroutine
from typing import Any, TextIO

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from ticklake.emulator import dispatch, rest
from ticklake.emulator.catalog import subscribable_products
from ticklake.emulator.clock import ExchangeClock
from ticklake.emulator.config import EmulatorConfig
from ticklake.emulator.connection import Client, EmuConnection
from ticklake.emulator.fanout import Fanout
from ticklake.emulator.faults import FaultKind
from ticklake.emulator.injector import Injector
from ticklake.emulator.kline_fanout import KlineFanout
from ticklake.emulator.market import Market
from ticklake.emulator.products import Product, lookup
from ticklake.emulator.served import Served
from ticklake.emulator.swings import SwingLabel
from ticklake.emulator.ticker_fanout import TickerFanout

__all__ = ["Emulator", "run_emulator"]

log = logging.getLogger(__name__)

SLOW_CONSUMER_BYTES = 64 * 2**20  # a client this far behind is dropped (abort)


class Emulator(Served):
    """A Phemex-compatible exchange on a real socket. See the package docstring."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.market: Market | None = None
        self.clock: ExchangeClock | None = None  # exchange time; started by start()
        self.clients: dict[int, Client] = {}
        self.connections_total = 0
        self.heartbeat_drops = 0
        self.ticks = 0
        # Subscribable products: the catalog's (basic: the real ones, and the synthetic ones
        # this emulator trades; exchange catalogs: every row but the delisted ones).
        self.products: dict[str, Product] = subscribable_products(config.catalog)
        for symbol in config.symbols:
            product = lookup(symbol) if config.catalog == "basic" else self.products[symbol]
            if product is not None:  # always, once EmulatorConfig validated the symbols
                self.products[symbol] = product
        self.tickers = TickerFanout(self)
        self.klines = KlineFanout(self)  # after the tickers: it takes their scales
        self.fanout = Fanout(self)
        self.injector = Injector(self)
        self._labels: TextIO | None = None
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_id = 1

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self._server is not None:
            msg = "emulator already started"
            raise RuntimeError(msg)
        cfg = self.config
        clock = self.clock = ExchangeClock(cfg.clock_speed, cfg.clock_start_ns)
        market = Market(cfg.symbols, seed=cfg.seed, rate=cfg.rate, start_ns=clock.start_ns,
                        vol_of_vol=cfg.vol_of_vol, products=self.products)
        history = market.prefill(cfg.history)
        self.market = market
        self.tickers.open(market)  # before the history goes into the 24 h windows
        self.klines.open()  # and into the bars
        self.fanout.open(market, history)
        if cfg.labels_path is not None:
            self._labels = open(cfg.labels_path, "a", encoding="utf-8")  # noqa: SIM115
        self._server = await serve(
            self._handle,
            cfg.host,
            cfg.port,
            process_request=self._process_request,
            create_connection=EmuConnection,
            ping_interval=None,  # the exchange does not ping clients
            close_timeout=2,
            max_size=2**16,
            logger=logging.getLogger(f"{__name__}.ws"),
        )
        self._spawn(self._market_loop())
        if cfg.fault_schedule or cfg.fault_every > 0:
            self._spawn(self.injector.run_schedule(time.monotonic()))
        if cfg.swing_every > 0:
            self._spawn(self._swing_loop())
        log.info("emulator listening on %s (symbols %s)", self.url, ",".join(cfg.symbols))

    async def stop(self) -> None:
        """Close everything: tasks, connections (aborted), listener; flush the truth."""
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
        self.fanout.close()
        self.tickers.close()
        self.klines.close()
        if self._labels is not None:
            self._labels.close()
            self._labels = None

    def now_ns(self) -> int:
        """Exchange time (:mod:`~ticklake.emulator.clock`): what every exchange timestamp
        and every exchange-time window reads. Only once started."""
        clock = self.clock
        if clock is None:
            msg = "emulator not started"
            raise RuntimeError(msg)
        return clock.now_ns()

    @property
    def trades_produced(self) -> int:
        market = self.market
        return 0 if market is None else sum(market.produced(s) for s in market.symbols)

    def halt(self) -> None:
        """Stop producing trades (heartbeats and requests are still served)."""
        if self.market is not None and not self.market.halted:
            now_ns = self.now_ns()
            self.fanout.produce(now_ns)  # trades up to now still go out; none after
            self.market.halt(now_ns)

    def resume(self) -> None:
        if self.market is not None:
            self.market.resume(self.now_ns())

    def inject(
        self,
        kind: FaultKind | str,
        target: str = "all",
        seconds: float | None = None,
        count: int = 1,
    ) -> int:
        """Inject a fault; returns the number of connections affected or faults armed.

        Targets: "all", a connection id ("3"), "random", "next" (returns ``count``: the
        next ``count`` connections are armed). ``refuse`` returns the number of connections
        it aborted; ``sequence_jump`` the number of symbols jumped (target a traded symbol,
        else all). Book faults (``book_drop``, ``book_stale_snapshot``, ``book_out_of_order``,
        ``book_unknown_delete``) fire ``count`` times on each target connection's next book
        message they fit; their target may be a symbol (every connection watching its book,
        returned). ``ticker_malformed`` breaks one value of each target connection's next
        ``count`` 24 h ticker frames (each a ``fault`` line of the ticker truth);
        ``kline_malformed`` its next ``count`` kline frames (the kline truth). Raises
        ValueError on a bad kind/target/seconds/count.
        """
        return self.injector.inject(kind, target, seconds, count)

    def inject_swing(
        self,
        symbol: str | None = None,
        size_sigma: float = 10.0,
        seconds: float = 5.0,
        direction: str = "down",
        shape: str = "ramp",
    ) -> SwingLabel:
        """Start a labelled price swing now (see ``Market.inject_swing``); returns its label,
        which also goes to ``labels_path``. Raises ValueError on bad parameters.

        ``seconds`` are exchange seconds, like the label's start/end and the trades' times
        (at ``clock_speed`` k the swing takes seconds/k real seconds)."""
        market = self.market
        if market is None:
            msg = "emulator not started"
            raise RuntimeError(msg)
        symbol = symbol or self.config.symbols[0]
        now_ns = self.now_ns()
        self.fanout.produce(now_ns)  # the market clock must be at "now" before the swing starts
        label = market.inject_swing(
            symbol, start_ns=now_ns, size_sigma=size_sigma,
            duration_s=0.0 if shape == "step" else seconds,
            direction=direction, shape=shape,  # type: ignore[arg-type]
        )
        if self._labels is not None:
            self._labels.write(json.dumps(label.to_record()) + "\n")
            self._labels.flush()
        return label

    async def _swing_loop(self) -> None:
        """The demo's scheduled swings: large, varied, labelled (seeded, so reproducible).
        Paced in real seconds (``swing_every``), as the fault schedule; each swing's own
        duration is exchange time."""
        rng = random.Random(f"ticklake-emulator-swings:{self.config.seed}")
        kinds = [("step", 0.0), ("ramp", 2.0), ("ramp", 10.0), ("v", 6.0), ("ramp", 30.0)]
        while True:
            await asyncio.sleep(self.config.swing_every)
            shape, seconds = rng.choice(kinds)
            self.inject_swing(rng.choice(self.config.symbols), rng.choice((8.0, 10.0, 12.0)),
                              seconds, rng.choice(("up", "down")), shape)

    def state(self) -> dict[str, Any]:
        market = self.market
        symbols = self.config.symbols
        return {
            "url": self.url if self._server is not None else None,
            "halted": bool(market and market.halted),
            "clock": {"speed": self.config.clock_speed,
                      "now_ns": self.clock.now_ns() if self.clock is not None else None},
            "refusing": self.injector.refusing(),
            "connections": [c.describe() for c in self.clients.values()],
            "connections_total": self.connections_total,
            "heartbeat_drops": self.heartbeat_drops,
            "ticks": self.ticks,
            "trades_produced": {s: market.produced(s) if market else 0 for s in symbols},
            "trades_produced_total": self.trades_produced,
            "sequence": {s: market.sequence(s) if market else 0 for s in symbols},
            "faults_injected": {k.value: self.injector.injected[k] for k in FaultKind},
            "swings": [label.to_record() for label in market.labels] if market else [],
        }

    # ---------------------------------------------------------------- sending

    def send(self, client: Client, text: str, *, data: bool = False) -> None:
        """Write one text frame now (dropped while the connection is stalled)."""
        ws = client.ws
        if client.closing or client.plan.stalled(time.monotonic()):
            return
        if ws.protocol.state is not State.OPEN:
            return
        broadcast([ws], text)
        client.frames_sent += 1
        transport = getattr(ws, "transport", None)
        if transport is not None and transport.get_write_buffer_size() > SLOW_CONSUMER_BYTES:
            log.warning("connection %d: slow consumer, dropping it", client.id)
            client.abort()
            return
        if not data:
            return
        client.last_data = text
        plan = client.plan
        while plan.pending_duplicates > 0 and not client.closing:
            plan.pending_duplicates -= 1
            self.send(client, text)
        if not client.data_sent_once:
            client.data_sent_once = True
            for kind, seconds in plan.on_first_data:
                self.injector.apply(client, kind, seconds, 1)
            plan.on_first_data.clear()

    def on_first_ack(self, client: Client) -> None:
        if client.acked_once:
            return
        client.acked_once = True
        for kind, seconds in client.plan.on_first_ack:
            self.injector.apply(client, kind, seconds, 1)
        client.plan.on_first_ack.clear()

    def close_policy(self, client: Client, reason: str) -> None:
        """Close with 1008 (policy violation) and a close frame."""
        client.closing = True
        client.subscriptions.clear()
        client.books.clear()
        self._spawn(client.ws.close(1008, reason))

    # ---------------------------------------------------------------- market loop

    async def _market_loop(self) -> None:
        loop = asyncio.get_running_loop()
        period = self.config.batch_ms / 1000.0
        deadline = loop.time()
        while True:
            deadline += period
            now = loop.time()
            if deadline < now - 5 * period:  # fell far behind: do not burst to catch up
                deadline = now
            await asyncio.sleep(max(0.0, deadline - now))
            self.tick()

    def tick(self) -> None:
        """One batch period: advance the market, fan out incrementals, housekeeping (and
        every ``ticker_interval`` the tickers and ticks, every ``kline_push_interval`` the
        changed bars)."""
        self.ticks += 1
        self.fanout.produce(self.now_ns())
        self.fanout.step_books()
        now = time.monotonic()
        self.tickers.on_period(now)
        self.klines.on_period(now)
        self._check_heartbeats()

    def _check_heartbeats(self) -> None:
        now = time.monotonic()
        limit = self.config.heartbeat_timeout
        for client in list(self.clients.values()):
            if client.closing:
                continue
            if client.plan.stalled(now):
                client.last_heartbeat = now  # the watchdog sleeps while the server is frozen
            elif now - client.last_heartbeat > limit:
                log.info("connection %d: no heartbeat for %.1f s, dropping", client.id, limit)
                self.heartbeat_drops += 1
                client.abort()

    # ---------------------------------------------------------------- connections

    async def _handle(self, ws: ServerConnection) -> None:
        assert isinstance(ws, EmuConnection)
        request = ws.request
        client = Client(self._next_id, request.path if request is not None else "?", ws)
        self._next_id += 1
        self.connections_total += 1
        self.clients[client.id] = client
        ws.client = client
        self.injector.arm_new_connection(client)
        try:
            async for message in ws:
                dispatch.handle_message(self, client, message)
        except ConnectionClosed:
            pass
        finally:
            client.closing = True
            self.clients.pop(client.id, None)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        return rest.process_request(self, connection, request)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def run_emulator(config: EmulatorConfig) -> None:
    """Run an emulator until cancelled (used by ``ticklake emulate``)."""
    async with Emulator(config):
        await asyncio.Event().wait()
