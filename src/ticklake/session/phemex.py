"""PhemexSession: one WebSocket at a time, kept alive and recovered forever.

The session owns the socket and the clocks; every decision about the protocol (what to send,
when a connection is dead, which trades are new) is taken by ``PhemexProtocol``. On each frame
the order is: stamp the wall-clock receive time → hand the raw frame to the frame sink (the
durable tee) → feed the protocol → deliver its events → send what the protocol wants sent.
All of it runs synchronously inside picows' frame callback, so a frame is fully handled
before the next one is read; sinks must not block, and slow consumers sit behind
``ticklake.bus`` queues, never inside the read path. (picows was measured against websockets
in ``bench/session_throughput.py``: about half the CPU per frame.)

Reconnect policy: a connection that got as far as subscribing resets the backoff, so the
first retry comes within ``backoff_initial`` seconds and the resubscribe snapshot covers the
outage; consecutive failures back off exponentially with jitter up to ``backoff_cap``, and a
connect budget keeps attempts inside the exchange's per-IP limit. Before the first successful
connection, failures are retried for ``first_connect_timeout`` seconds, then reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from picows import (
    WSError,
    WSFrame,
    WSInvalidStatusError,
    WSInvalidURL,
    WSListener,
    WSMsgType,
    WSTransport,
    ws_connect,
)

from ticklake.errors import SessionError, SubscriptionRejected, TicklakeError
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
from ticklake.session.connids import ConnIds
from ticklake.session.stats import SessionStats

logger = logging.getLogger(__name__)

DEFAULT_URL = "wss://ws.phemex.com"
FrameSink = Callable[[RawFrame], object]
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
    connect_budget: tuple[int, float] = field(default=(200, 300.0))


class _Listener(WSListener):
    """Adapts picows callbacks to the session; assembles fragmented text messages."""

    def __init__(self, session: PhemexSession) -> None:
        self._session = session
        self._fragments: list[bytes] = []

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
            if frame.fin:
                self._session._on_message(frame.get_payload_as_bytes())
            else:
                self._fragments = [frame.get_payload_as_bytes()]
        elif kind is WSMsgType.CONTINUATION:
            self._fragments.append(frame.get_payload_as_bytes())
            if frame.fin:
                payload, self._fragments = b"".join(self._fragments), []
                self._session._on_message(payload)
        elif kind is WSMsgType.CLOSE:
            self._session._closed_by_server = frame.get_close_code().value
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._fragments = []


class PhemexSession:
    """Drive a ``PhemexProtocol`` over successive WebSocket connections until stopped."""

    def __init__(
        self,
        protocol: PhemexProtocol,
        config: SessionConfig | None = None,
        on_frame: FrameSink | None = None,
        on_event: EventSink | None = None,
        flush_frames: Callable[[], object] | None = None,
        conn_ids: ConnIds | None = None,
    ) -> None:
        self.protocol = protocol
        self.config = config or SessionConfig()
        self.stats = SessionStats()
        self._on_frame = on_frame
        self._on_event = on_event
        # With a frame sink that queues (SpoolWriter.append_buffered), this writes the queue:
        # once per event-loop turn, i.e. once per burst of frames read together.
        self._flush_frames = flush_frames
        self._flush_scheduled = False
        # Connection ids (u32 in the spool) differ across recorder restarts and between the
        # sessions of one recorder, which share ``conn_ids`` (see ``session.connids``).
        self._conn_ids = conn_ids or ConnIds()
        self._conn_id = 0
        self._transport: WSTransport | None = None
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._fatal: Exception | None = None
        self._lost_at_ns: int | None = None
        self._subscribed = False
        self._useful = False
        self._ever_streamed = False
        self._end_reason = ""
        self._closed_by_server: int | None = None
        self._connecting: asyncio.Task[tuple[WSTransport, WSListener]] | None = None

    @property
    def conn_id(self) -> int:
        """The spool id of the current (or last) connection; 0 before the first."""
        return self._conn_id

    def stop(self) -> None:
        """Ask ``run`` to return after dropping the current connection (or attempt)."""
        self._stop.set()
        self._wake.set()
        if self._connecting is not None:
            self._connecting.cancel()
        self._drop("stopped")

    async def run(self, budget: ConnectBudget | None = None) -> None:
        """Connect, serve, reconnect until stopped. ``budget`` is shared by the sessions of
        one recorder (the exchange's connect limit is per IP, not per connection)."""
        cfg = self.config
        delays = backoff_delays(cfg.backoff_initial, cap=cfg.backoff_cap)
        if budget is None:
            budget = connect_budget(cfg)
        started = time.monotonic()
        while not self._stop.is_set():
            wait = budget.wait_ns(time.monotonic_ns())
            if wait:
                logger.warning("= connect budget spent; waiting %.1fs", wait / 1e9)
                await self._sleep(wait / 1e9)
                continue
            budget.spend(time.monotonic_ns())
            self.stats.state = "connecting"
            reason, useful = await self._connect_once()
            if self._fatal is not None:
                self.stats.state = "failed"
                raise self._fatal
            if self._stop.is_set():
                break
            self._ever_streamed |= useful
            if not self._ever_streamed and (
                time.monotonic() - started > cfg.first_connect_timeout
            ):
                self.stats.state = "failed"
                msg = f"cannot connect to {cfg.url}: {reason}"
                raise SessionError(msg)
            if useful:  # only a connection that delivered data resets the backoff
                delays = backoff_delays(cfg.backoff_initial, cap=cfg.backoff_cap)
            delay = next(delays)
            self.stats.state = "reconnecting"
            self.stats.reconnects += 1
            logger.info("= disconnected (%s); reconnecting in %.2fs", reason, delay)
            await self._sleep(delay)
        self.stats.state = "stopped"

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _connect_once(self) -> tuple[str, bool]:
        """One connection's life; returns why it ended and whether it delivered data."""
        cfg = self.config
        self._connecting = asyncio.ensure_future(
            ws_connect(
                lambda: _Listener(self),
                cfg.url,
                websocket_handshake_timeout=cfg.open_timeout,
                max_frame_size=cfg.max_frame_bytes,
                enable_auto_ping=False,  # the heartbeat is server.ping, driven by the protocol
                logger_name="ticklake.session.ws",
            )
        )
        try:
            async with asyncio.timeout(cfg.open_timeout):  # TCP and TLS too, not only HTTP
                transport, _ = await self._connecting
        except asyncio.CancelledError:
            if not self._stop.is_set():
                raise
            return self._lost("stopped"), False
        except WSInvalidStatusError as exc:
            status = exc.response.status if exc.response is not None else 0
            if status in _FATAL_STATUS and not self._ever_streamed:
                hint = " (the legacy endpoint is retired; use wss://ws.phemex.com)"
                message = f"{cfg.url} refused the WebSocket upgrade: HTTP {status}"
                self._fatal = SessionError(message + (hint if status == 410 else ""))
            return self._lost(f"HTTP {status}"), False
        except WSInvalidURL as exc:
            self._fatal = SessionError(f"invalid URL {cfg.url!r}: {exc}")
            return self._lost("invalid URL"), False
        except (OSError, TimeoutError, WSError) as exc:
            return self._lost(_describe(exc)), False
        finally:
            self._connecting = None
        return await self._serve(transport), self._useful

    def _lost(self, reason: str) -> str:
        self.protocol.connection_lost()
        if self._lost_at_ns is None:  # an outage starts at the first lost connection
            self._lost_at_ns = time.monotonic_ns()
        return reason

    async def _serve(self, transport: WSTransport) -> str:
        self._transport = transport
        self._conn_id = self._conn_ids.next()
        self._subscribed = self._useful = False
        self._end_reason = "connection lost (1006)"
        self._closed_by_server = None
        self.stats.connects += 1
        self.stats.state = "subscribing"
        self.protocol.connection_made(time.monotonic_ns())
        self._flush()
        timer = asyncio.create_task(self._run_timer(), name=f"phemex-timer-{self._conn_id}")
        try:
            if self._stop.is_set():
                self._drop("stopped")
            await transport.wait_disconnected()
        except (WSError, OSError) as exc:  # a framing error from the server, a reset...
            self._end_reason = _describe(exc)
        finally:
            self._transport = None
            timer.cancel()
            timer_error = (await asyncio.gather(timer, return_exceptions=True))[0]
            if isinstance(timer_error, Exception) and self._fatal is None:
                self._fatal = timer_error
            if self._closed_by_server is not None:
                self._end_reason = f"closed by the server ({self._closed_by_server})"
            reason = self._lost(self._end_reason)
        return reason

    def _on_message(self, payload: bytes) -> None:
        """Everything that happens to one received message, synchronously."""
        recv_ns = time.time_ns()
        stats = self.stats
        stats.frames += 1
        stats.bytes += len(payload)
        stats.last_frame_wall_ns = recv_ns
        if self._on_frame is not None:
            try:
                self._on_frame(RawFrame(self._conn_id, recv_ns, payload))
            except Exception as exc:
                self._sink_failed(exc)
                return
            if self._flush_frames is not None and not self._flush_scheduled:
                self._flush_scheduled = True
                asyncio.get_running_loop().call_soon(self._write_frames)
        protocol = self.protocol
        protocol.receive_frame(payload, time.monotonic_ns(), recv_ns)
        events = protocol.events_received()
        if protocol.stale:
            self._drop(self._end_reason)
        self._deliver(events)
        if self._fatal is not None:
            self._drop(self._end_reason)
        elif not protocol.stale:
            self._flush()

    def _sink_failed(self, exc: Exception) -> None:
        # The durable tee failed: nothing past this frame could be acknowledged.
        if isinstance(exc, TicklakeError):  # a named, one-line problem (e.g. disk full)
            logger.error("= frame sink failed: %s", exc)
        else:
            logger.exception("= frame sink failed")
        self._fatal = SessionError(f"frame sink failed: {_describe(exc)}")
        self._drop("frame sink failed")

    def _write_frames(self) -> None:
        self._flush_scheduled = False
        if self._flush_frames is not None:
            try:
                self._flush_frames()
            except Exception as exc:
                self._sink_failed(exc)

    async def _run_timer(self) -> None:
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
            events = protocol.events_received()
            if protocol.stale:  # drop first: a failing consumer must not keep a dead socket
                self._drop(self._end_reason)
            self._deliver(events)
            if protocol.stale or self._fatal is not None:
                self._drop(self._end_reason)
                return
            self._flush()

    def _flush(self) -> None:
        out = self.protocol.data_to_send()
        transport = self._transport
        if transport is None or not out:
            return
        for text in out:
            transport.send(WSMsgType.TEXT, text.encode())
        self._wake.set()  # a new request may bring the next deadline forward

    def _drop(self, reason: str) -> None:
        """Abandon the connection at once: no close handshake with a server we distrust."""
        transport = self._transport
        if transport is not None:
            self._end_reason = reason
            self._transport = None
            transport.underlying_transport.abort()

    def _deliver(self, events: list[Event]) -> None:
        """Count and forward events."""
        stats = self.stats
        for event in events:
            if isinstance(event, TradesReceived):
                self._useful = self._subscribed
                stats.trades += len(event.rows)
                stats.duplicates_skipped += event.duplicates_skipped
                if event.snapshot:
                    stats.snapshot_trades += len(event.rows)
            elif isinstance(event, Pong):
                self._useful = self._subscribed
                stats.pongs += 1
                stats.last_rtt_ns = event.rtt_ns
            elif isinstance(event, Subscribed):
                self._subscribed = True
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
                self._end_reason = event.reason
                kind = event.reason.split(" for ")[0]
                stats.stale_reasons[kind] = stats.stale_reasons.get(kind, 0) + 1
            if self._on_event is not None:
                try:
                    self._on_event(event)
                except Exception:  # a consumer's bug must not take the recording down
                    stats.sink_errors += 1
                    logger.exception("= event consumer failed on %s", type(event).__name__)


def connect_budget(config: SessionConfig) -> ConnectBudget:
    limit, window = config.connect_budget
    return ConnectBudget(limit, int(window * 1e9))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
