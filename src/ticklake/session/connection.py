"""Connection: one WebSocket, from the upgrade to the last frame.

The connection moves bytes and keeps time; every protocol decision (what to send, when a
connection is dead, which trades are new) is ``PhemexProtocol``'s. On each message: stamp the
wall-clock receive time → hand the raw frame to the frame sink (the durable tee) → feed the
protocol → count and deliver its events → send what the protocol wants sent, synchronously
inside picows' frame callback (half the CPU per frame of websockets, per
``bench/session_throughput.py``): a message is fully handled before the next one is read, so
sinks must not block and slow consumers sit behind ``ticklake.bus`` queues. A timer task
sleeps until the protocol's next deadline (heartbeat, pong and request watchdogs).

A connection decides nothing about retrying: ``open`` raises connect errors; ``serve`` returns
why the socket ended (lost, closed by the server, stale, stopped) or raises what failed on it.
A failure found inside a callback (failed frame sink, refused subscription) aborts the socket
at once and is raised by ``serve`` once the socket is gone. ``session.failures`` classifies.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from picows import WSError, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from ticklake.errors import SessionError, SubscriptionRejected, TicklakeError
from ticklake.feed.events import (
    BookGap,
    BookInvalid,
    BookUpdated,
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
from ticklake.session.failures import describe
from ticklake.session.stats import SessionState, SessionStats

logger = logging.getLogger(__name__)

FrameSink = Callable[[RawFrame], object]
EventSink = Callable[[Event], None]


@dataclass(frozen=True, slots=True)
class Sinks:
    """Where every connection of a session sends what it receives."""

    frame: FrameSink | None = None  # the durable tee (SpoolWriter.append)
    event: EventSink | None = None  # consumers (bus); their exceptions are counted, not raised
    # Writes what ``frame`` queued: once per event-loop turn, i.e. per burst of frames read.
    flush_frames: Callable[[], object] | None = None


class Connection:
    """One socket's life, driving a ``PhemexProtocol`` that outlives it."""

    def __init__(self, protocol: PhemexProtocol, stats: SessionStats, sinks: Sinks,
                 outage_started_ns: int | None = None) -> None:
        self.protocol = protocol
        self.stats = stats
        self._on_frame = sinks.frame
        self._on_event = sinks.event
        self._flush_frames = sinks.flush_frames
        self.conn_id = 0
        self.subscribed = self.useful = False  # useful: trades or pongs after subscribing
        # Monotonic ns of the first lost connection before this one; the first subscription
        # ends the outage (a reconnect time in ``stats.reconnect_ns``) and clears it.
        self.outage_started_ns = outage_started_ns
        self._transport: WSTransport | None = None
        self._opening: asyncio.Future[tuple[WSTransport, WSListener]] | None = None
        self._flush_handle: asyncio.Handle | None = None
        self._wake = asyncio.Event()
        self._end_reason = "connection lost (1006)"
        self._closed_by_server: int | None = None
        self._failure: Exception | None = None

    # -- life ------------------------------------------------------------------------------

    async def open(self, url: str, *, open_timeout: float, max_frame_bytes: int) -> None:
        """Connect and upgrade. Raises what went wrong, or ``CancelledError`` after ``close``."""
        self._opening = opening = asyncio.ensure_future(ws_connect(
            lambda: _Listener(self), url, websocket_handshake_timeout=open_timeout,
            max_frame_size=max_frame_bytes, logger_name="ticklake.session.ws",
            enable_auto_ping=False))  # the heartbeat is server.ping, driven by the protocol
        try:
            async with asyncio.timeout(open_timeout):  # TCP and TLS too, not only HTTP
                self._transport, _ = await opening
        finally:
            self._opening = None

    async def serve(self, conn_id: int) -> str:
        """Run the opened socket until it ends; returns why. Raises this connection's failure."""
        transport = self._transport
        if transport is None:  # closed between open and serve
            return self._end_reason
        self.conn_id = conn_id
        self.stats.connects += 1
        self.stats.state = SessionState.SUBSCRIBING
        self.protocol.connection_made(time.monotonic_ns())
        self._flush()
        timer = asyncio.create_task(self._run_timer(), name=f"phemex-timer-{conn_id}")
        try:
            await transport.wait_disconnected()
        except (WSError, OSError) as exc:  # a framing error from the server, a reset...
            self._end_reason = describe(exc)
        finally:
            self._transport = None
            timer.cancel()
            timer_error = (await asyncio.gather(timer, return_exceptions=True))[0]
            if self._flush_handle is not None:  # a write still queued: its failure is ours
                self._flush_handle.cancel()
                self._write_frames()
        if self._failure is not None:
            raise self._failure
        if isinstance(timer_error, Exception):  # a bug, not an outage: let it surface
            raise timer_error
        if self._closed_by_server is not None:
            return f"closed by the server ({self._closed_by_server})"
        return self._end_reason

    def close(self, reason: str) -> None:
        """Abandon the connection, or the attempt to open it, at once."""
        if self._opening is not None:
            self._opening.cancel()
        self._drop(reason)

    # -- the frame path --------------------------------------------------------------------

    def _on_message(self, payload: bytes) -> None:
        """Everything that happens to one received message, synchronously."""
        recv_ns = time.time_ns()
        stats = self.stats
        stats.frames += 1
        stats.bytes += len(payload)
        stats.last_frame_wall_ns = recv_ns
        if self._on_frame is not None:
            try:
                self._on_frame(RawFrame(self.conn_id, recv_ns, payload))
            except Exception as exc:
                self._sink_failed(exc)
                return
            if self._flush_frames is not None and self._flush_handle is None:
                self._flush_handle = asyncio.get_running_loop().call_soon(self._write_frames)
        protocol = self.protocol
        protocol.receive_frame(payload, time.monotonic_ns(), recv_ns)
        events = protocol.events_received()
        if protocol.stale:  # drop first: a failing consumer must not keep a dead socket
            self._drop(self._end_reason)
        self._deliver(events)
        if self._transport is not None:  # not stale, failed or stopped
            self._flush()

    def _write_frames(self) -> None:
        self._flush_handle = None
        if self._flush_frames is not None:
            try:
                self._flush_frames()
            except Exception as exc:
                self._sink_failed(exc)

    def _sink_failed(self, exc: Exception) -> None:
        # The durable tee failed: nothing past this frame could be acknowledged.
        if isinstance(exc, TicklakeError):  # a named, one-line problem (e.g. disk full)
            logger.error("= frame sink failed: %s", exc)
        else:
            logger.exception("= frame sink failed")
        self._fail(SessionError(f"frame sink failed: {describe(exc)}"))

    def _fail(self, exc: Exception) -> None:
        """Abort the socket; ``serve`` raises ``exc`` (the first one) once it is gone."""
        if self._failure is None:
            self._failure = exc
        self._drop(describe(exc))

    async def _run_timer(self) -> None:
        protocol = self.protocol
        while self._transport is not None:
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
            if self._transport is not None:
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
        """Abandon the socket at once: no close handshake with a server we distrust."""
        transport = self._transport
        if transport is not None:
            self._end_reason = reason
            self._transport = None
            transport.underlying_transport.abort()

    def _deliver(self, events: list[Event]) -> None:
        """Count and forward events."""
        stats = self.stats
        on_event = self._on_event
        for event in events:
            if type(event) is BookUpdated:  # the most frequent event: nothing to count
                self.useful = self.subscribed
            elif isinstance(event, TradesReceived):
                self.useful = self.subscribed
                stats.trades += len(event.rows)
                stats.duplicates_skipped += event.duplicates_skipped
                if event.snapshot:
                    stats.snapshot_trades += len(event.rows)
            elif isinstance(event, Pong):
                self.useful = self.subscribed
                stats.pongs += 1
                stats.last_rtt_ns = event.rtt_ns
            elif isinstance(event, Subscribed):
                self._on_subscribed(event)
            elif isinstance(event, GapDetected):
                stats.gaps += 1
                gap = event.gap
                logger.warning("= gap %s [%d, %d]", gap.symbol, gap.from_ns, gap.to_ns)
            elif isinstance(event, FrameRejected | BookInvalid):
                stats.rejected += 1  # (the lake's ``rejected`` keeps both, with the reason)
                if isinstance(event, BookInvalid):
                    logger.warning("= book %s invalid: %s; resubscribing", event.symbol,
                                   event.reason)
            elif isinstance(event, BookGap):
                stats.gaps += 1
                logger.warning("= book gap %s [%d, %d]: %s", event.symbol, event.from_ns,
                               event.to_ns, event.reason)
            elif isinstance(event, DuplicateMessage):
                stats.duplicate_messages += 1
            elif isinstance(event, SubscribeFailed):
                stats.subscribe_errors += 1
                logger.warning("= %s.subscribe %s refused: %d %s (attempt %d)", event.channel,
                               event.symbol, event.code, event.message, event.attempts)
            elif isinstance(event, SubscriptionAbandoned):
                stats.subscribe_errors += 1
                self._fail(SubscriptionRejected(
                    f"{event.channel}.subscribe", event.symbol, event.code, event.message
                ))
            elif isinstance(event, ConnectionStale):
                self._end_reason = event.reason
                key = event.kind or event.reason
                stats.stale_reasons[key] = stats.stale_reasons.get(key, 0) + 1
            if on_event is not None:
                try:
                    on_event(event)
                except Exception:  # a consumer's bug must not take the recording down
                    stats.sink_errors += 1
                    logger.exception("= event consumer failed on %s", type(event).__name__)

    def _on_subscribed(self, event: Subscribed) -> None:
        self.subscribed = True
        self.stats.state = SessionState.STREAMING
        if self.outage_started_ns is not None:
            self.stats.reconnect_ns.append(time.monotonic_ns() - self.outage_started_ns)
            self.outage_started_ns = None
        logger.info("= subscribed %s %s", event.channel, event.symbol)


class _Listener(WSListener):
    """picows' callbacks for one connection; assembles fragmented messages."""

    # Slots, and Connection kept apart: attributes of a __dict__ subclass of picows' Cython
    # base are slow to read (~8 % of the frame path when Connection subclassed WSListener).
    __slots__ = ("_connection", "_fragments", "_on_message")

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._on_message = connection._on_message
        self._fragments: list[bytes] = []

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        if kind is WSMsgType.TEXT or kind is WSMsgType.BINARY:
            if frame.fin:
                self._on_message(frame.get_payload_as_bytes())
            else:
                self._fragments = [frame.get_payload_as_bytes()]
        elif kind is WSMsgType.CONTINUATION:
            self._fragments.append(frame.get_payload_as_bytes())
            if frame.fin:
                payload, self._fragments = b"".join(self._fragments), []
                self._on_message(payload)
        elif kind is WSMsgType.CLOSE:
            self._connection._closed_by_server = frame.get_close_code().value
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self._fragments = []
