"""PhemexSession: one WebSocket at a time, kept alive and recovered forever.

The session owns the socket and the clocks; every decision about the protocol (what to send,
when a connection is dead, which trades are new) is taken by ``PhemexProtocol``. On each frame
the order is: stamp the wall-clock receive time → hand the raw frame to the frame sink (the
durable tee) → feed the protocol → deliver its events. Sinks are synchronous and must not
block; slow consumers sit behind ``ticklake.bus`` queues, never inside the read loop.

Reconnect policy: a connection that got as far as subscribing resets the backoff, so the
first retry comes within ``backoff_initial`` seconds and the resubscribe snapshot covers the
outage; consecutive failures back off exponentially with jitter up to ``backoff_cap``, and a
connect budget keeps attempts inside the exchange's per-IP limit. Before the first successful
connection, failures are retried for ``first_connect_timeout`` seconds, then reported.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException

from ticklake.errors import SessionError, SubscriptionRejected
from ticklake.feed.backoff import ConnectBudget, backoff_delays
from ticklake.feed.events import (
    ConnectionStale,
    DuplicateMessage,
    Event,
    FrameRejected,
    GapDetected,
    Pong,
    Subscribed,
    SubscribeFailed,
    SubscriptionAbandoned,
    TradesReceived,
)
from ticklake.feed.phemex.protocol import PhemexProtocol
from ticklake.model import RawFrame
from ticklake.session.stats import SessionStats

logger = logging.getLogger(__name__)

DEFAULT_URL = "wss://ws.phemex.com"
FrameSink = Callable[[RawFrame], None]
EventSink = Callable[[Event], None]
_FATAL_STATUS = {400, 401, 403, 404, 410}


@dataclass(frozen=True)
class SessionConfig:
    url: str = DEFAULT_URL
    backoff_initial: float = 0.1
    backoff_cap: float = 30.0
    open_timeout: float = 10.0
    first_connect_timeout: float = 30.0
    max_frame_bytes: int = 16 * 2**20
    compression: str | None = None
    connect_budget: tuple[int, float] = field(default=(200, 300.0))


class PhemexSession:
    """Drive a ``PhemexProtocol`` over successive WebSocket connections until stopped."""

    def __init__(
        self,
        protocol: PhemexProtocol,
        config: SessionConfig | None = None,
        on_frame: FrameSink | None = None,
        on_event: EventSink | None = None,
    ) -> None:
        self.protocol = protocol
        self.config = config or SessionConfig()
        self.stats = SessionStats()
        self._on_frame = on_frame
        self._on_event = on_event
        self._conn_id = 0
        self._stopping = False
        self._ws: ClientConnection | None = None
        self._wake = asyncio.Event()
        self._fatal: Exception | None = None
        self._lost_at_ns: int | None = None

    def stop(self) -> None:
        """Ask ``run`` to return after closing the current connection."""
        self._stopping = True
        self._wake.set()
        if self._ws is not None:
            self._ws.transport.abort()

    async def run(self) -> None:
        cfg = self.config
        delays = backoff_delays(cfg.backoff_initial, cap=cfg.backoff_cap)
        budget = ConnectBudget(cfg.connect_budget[0], int(cfg.connect_budget[1] * 1e9))
        started = time.monotonic()
        ever_connected = False
        while not self._stopping:
            wait = budget.wait_ns(time.monotonic_ns())
            if wait:
                logger.warning("= connect budget spent; waiting %.1fs", wait / 1e9)
                await asyncio.sleep(wait / 1e9)
            budget.spend(time.monotonic_ns())
            self.stats.state = "connecting"
            reason, subscribed = await self._connect_once()
            if self._fatal is not None:
                raise self._fatal
            if self._stopping:
                break
            ever_connected |= subscribed
            if not ever_connected and time.monotonic() - started > cfg.first_connect_timeout:
                msg = f"cannot connect to {cfg.url}: {reason}"
                raise SessionError(msg)
            if subscribed:
                delays = backoff_delays(cfg.backoff_initial, cap=cfg.backoff_cap)
            delay = next(delays)
            self.stats.state = "reconnecting"
            self.stats.reconnects += 1
            logger.info("= disconnected (%s); reconnecting in %.2fs", reason, delay)
            await asyncio.sleep(delay)
        self.stats.state = "stopped"

    async def _connect_once(self) -> tuple[str, bool]:
        """One connection's life; returns why it ended and whether it subscribed."""
        cfg = self.config
        try:
            async with connect(
                cfg.url,
                open_timeout=cfg.open_timeout,
                ping_interval=None,  # the heartbeat is server.ping, driven by the protocol
                close_timeout=1.0,
                max_size=cfg.max_frame_bytes,
                compression=cfg.compression,
                user_agent_header="ticklake",
            ) as ws:
                return await self._serve(ws)
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in _FATAL_STATUS:
                hint = " (the legacy endpoint is retired; use wss://ws.phemex.com)"
                message = f"{cfg.url} refused the WebSocket upgrade: HTTP {status}"
                self._fatal = SessionError(message + (hint if status == 410 else ""))
            return f"HTTP {status}", False
        except InvalidURI as exc:
            self._fatal = SessionError(f"invalid URL {cfg.url!r}: {exc}")
            return "invalid URL", False
        except (OSError, TimeoutError, WebSocketException) as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, False
        finally:
            self._ws = None
            self.protocol.connection_lost()
            if self._lost_at_ns is None:  # an outage starts at the first lost connection
                self._lost_at_ns = time.monotonic_ns()

    async def _serve(self, ws: ClientConnection) -> tuple[str, bool]:
        self._ws = ws
        self._conn_id += 1
        self.stats.connects += 1
        self.stats.state = "subscribing"
        protocol = self.protocol
        protocol.connection_made(time.monotonic_ns())
        await self._flush(ws)
        timer = asyncio.create_task(self._run_timer(ws), name=f"phemex-timer-{self._conn_id}")
        subscribed = False
        reason = "closed"
        try:
            async for message in ws:
                recv_ns = time.time_ns()
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                self.stats.frames += 1
                self.stats.bytes += len(text)
                self.stats.last_frame_wall_ns = recv_ns
                if self._on_frame is not None:
                    self._on_frame(RawFrame(self._conn_id, recv_ns, text))
                protocol.receive_frame(text, time.monotonic_ns(), recv_ns)
                subscribed |= self._deliver(protocol.events_received())
                if protocol.stale or self._fatal is not None:
                    break
                await self._flush(ws)
        except ConnectionClosed as exc:
            reason = f"connection closed ({exc.rcvd.code if exc.rcvd else 1006})"
        finally:
            timer.cancel()
            await asyncio.gather(timer, return_exceptions=True)
        if protocol.stale:
            reason = self._stale_reason
            ws.transport.abort()
        return reason, subscribed

    async def _run_timer(self, ws: ClientConnection) -> None:
        protocol = self.protocol
        while True:
            deadline = protocol.next_deadline()
            if deadline is None:
                return
            self._wake.clear()
            delay = (deadline - time.monotonic_ns()) / 1e9
            if delay > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                    continue
                except TimeoutError:
                    pass
            protocol.handle_timer(time.monotonic_ns())
            self._deliver(protocol.events_received())
            if protocol.stale:
                ws.transport.abort()
                return
            await self._flush(ws)

    async def _flush(self, ws: ClientConnection) -> None:
        out = self.protocol.data_to_send()
        for text in out:
            await ws.send(text)
        if out:
            self._wake.set()

    _stale_reason = "stale"

    def _deliver(self, events: list[Event]) -> bool:
        """Count and forward events; returns whether a subscription became active."""
        stats = self.stats
        subscribed = False
        for event in events:
            if isinstance(event, TradesReceived):
                stats.trades += len(event.trades)
                stats.duplicates_skipped += event.duplicates_skipped
                if event.snapshot:
                    stats.snapshot_trades += len(event.trades)
            elif isinstance(event, Pong):
                stats.pongs += 1
                stats.last_rtt_ns = event.rtt_ns
            elif isinstance(event, Subscribed):
                subscribed = True
                stats.state = "streaming"
                if self._lost_at_ns is not None:
                    stats.reconnect_ns.append(time.monotonic_ns() - self._lost_at_ns)
                    self._lost_at_ns = None
                logger.info("= subscribed %s %s", event.channel, event.symbol)
            elif isinstance(event, GapDetected):
                stats.gaps += 1
                gap = event.gap
                logger.warning("= gap %s [%d, %d]", gap.symbol, gap.from_ns, gap.to_ns)
            elif isinstance(event, FrameRejected):
                stats.rejected += 1
            elif isinstance(event, DuplicateMessage):
                stats.duplicate_messages += 1
            elif isinstance(event, SubscribeFailed):
                stats.subscribe_errors += 1
                logger.warning(
                    "= %s.subscribe %s refused: %d %s (attempt %d)",
                    event.channel, event.symbol, event.code, event.message, event.attempts,
                )
            elif isinstance(event, SubscriptionAbandoned):
                stats.subscribe_errors += 1
                self._fatal = SubscriptionRejected(
                    f"{event.channel}.subscribe", event.symbol, event.code, event.message
                )
            elif isinstance(event, ConnectionStale):
                self._stale_reason = event.reason
                stats.stale_reasons[event.reason.split(" for ")[0]] = (
                    stats.stale_reasons.get(event.reason.split(" for ")[0], 0) + 1
                )
            if self._on_event is not None:
                self._on_event(event)
        return subscribed
