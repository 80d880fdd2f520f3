"""One connection without a socket: the frame path's order, its failures, stale detection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from picows import WSMsgType
from picows.picows import _make_test_ws_frame

from ticklake.errors import SessionError, SubscriptionRejected
from ticklake.feed.events import Event, Subscribed, TradesReceived
from ticklake.feed.phemex import PhemexProtocol, ProtocolConfig
from ticklake.model import RawFrame
from ticklake.session.connection import Connection, Sinks
from ticklake.session.stats import SessionState, SessionStats

from .fakes import FakeConnect, FakeSocket, ack, make_protocol, refusal, text, trades

MS = 1_000_000
Scenario = Callable[[Connection, FakeSocket, "asyncio.Task[str]"], Awaitable[Any]]


def drive(monkeypatch: pytest.MonkeyPatch, scenario: Scenario, sinks: Sinks | None = None,
          protocol: PhemexProtocol | None = None, outage_started_ns: int | None = None) -> Any:
    """Open a connection on a fake socket, serve it as conn 7, run ``scenario`` beside it."""

    async def run() -> Any:
        fake = FakeConnect(monkeypatch, [None])
        connection = Connection(protocol or make_protocol(), SessionStats(), sinks or Sinks(),
                                outage_started_ns)
        await connection.open("ws://fake/", open_timeout=1, max_frame_bytes=2**20)
        serving = asyncio.create_task(connection.serve(7))
        await asyncio.sleep(0)
        try:
            return await scenario(connection, fake.sockets[0], serving)
        finally:
            connection.close("test over")
            await asyncio.gather(serving, return_exceptions=True)

    return asyncio.run(run())


def test_a_message_reaches_the_frame_sink_before_the_protocol_and_the_consumers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    sinks = Sinks(frame=seen.append, event=seen.append, flush_frames=lambda: seen.append("flush"))

    async def scenario(connection: Connection, socket: FakeSocket, _: object) -> None:
        (subscribe,) = socket.sent
        assert subscribe["method"] == "trade.subscribe"
        socket.receive(ack(subscribe))
        socket.receive(trades(5))
        await asyncio.sleep(0)
        frame, subscribed, frame2, received, flush = seen
        assert isinstance(frame, RawFrame) and frame.conn_id == 7
        assert subscribed == Subscribed("trade", "BTCUSD")
        assert isinstance(frame2, RawFrame) and isinstance(received, TradesReceived)
        assert flush == "flush"  # once for both: a burst of frames is written together
        stats = connection.stats
        assert (stats.frames, stats.trades, stats.state) == (2, 1, SessionState.STREAMING)
        assert stats.bytes == len(frame.payload) + len(frame2.payload)
        assert connection.useful and connection.conn_id == 7

    drive(monkeypatch, scenario, sinks)


def test_a_fragmented_message_is_one_message(monkeypatch: pytest.MonkeyPatch) -> None:
    frames: list[RawFrame] = []

    async def scenario(connection: Connection, socket: FakeSocket, _: object) -> None:
        whole = text(ack(socket.sent[0])).get_payload_as_bytes()
        first = _make_test_ws_frame(WSMsgType.TEXT, whole[:5], False, False)
        rest = _make_test_ws_frame(WSMsgType.CONTINUATION, whole[5:], True, False)
        socket.receive(first)
        socket.receive(rest)
        assert [f.payload for f in frames] == [whole]
        assert connection.subscribed

    drive(monkeypatch, scenario, Sinks(frame=frames.append))


def test_a_failing_frame_sink_aborts_the_socket_and_serve_raises_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(frame: RawFrame) -> None:
        raise OSError(28, "No space left on device")

    async def scenario(connection: Connection, socket: FakeSocket,
                       serving: asyncio.Task[str]) -> None:
        socket.receive(ack(socket.sent[0]))
        assert socket.aborted
        assert not connection.subscribed  # the protocol never saw a frame it could not keep
        with pytest.raises(SessionError, match="frame sink failed: OSError"):
            await serving

    drive(monkeypatch, scenario, Sinks(frame=full_disk))


def test_a_failing_write_of_queued_frames_is_raised_by_serve(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_flush() -> None:
        msg = "cannot append to spool segment"
        raise SessionError(msg)

    async def scenario(connection: Connection, socket: FakeSocket,
                       serving: asyncio.Task[str]) -> None:
        socket.receive(ack(socket.sent[0]))
        socket.disconnect()  # the socket ends in the same turn: the write is still queued
        with pytest.raises(SessionError, match="frame sink failed: SessionError: cannot append"):
            await serving

    drive(monkeypatch, scenario, Sinks(frame=lambda frame: None, flush_frames=broken_flush))


def test_an_abandoned_subscription_is_raised_after_the_consumers_saw_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[Event] = []

    async def scenario(connection: Connection, socket: FakeSocket,
                       serving: asyncio.Task[str]) -> None:
        socket.receive(refusal(socket.sent[0]))
        assert socket.aborted and len(events) == 1
        with pytest.raises(SubscriptionRejected, match=r"trade\.subscribe BTCUSD rejected"):
            await serving
        assert connection.stats.subscribe_errors == 1

    drive(monkeypatch, scenario, Sinks(event=events.append),
          make_protocol(ProtocolConfig(max_subscribe_attempts=1)))


def test_a_silent_connection_goes_stale_and_is_counted_by_kind(
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = ProtocolConfig(silence_timeout_ns=50 * MS, ping_interval_ns=10_000 * MS)

    async def scenario(connection: Connection, socket: FakeSocket,
                       serving: asyncio.Task[str]) -> None:
        reason = await asyncio.wait_for(serving, 5)
        assert reason.startswith("no frame for ") and socket.aborted
        assert connection.stats.stale_reasons == {"no frame": 1}

    drive(monkeypatch, scenario, protocol=make_protocol(config))


def test_a_close_from_the_server_ends_the_connection_with_its_code(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario(connection: Connection, socket: FakeSocket,
                       serving: asyncio.Task[str]) -> str:
        close = _make_test_ws_frame(WSMsgType.CLOSE, b"\x03\xe8", True, False)
        socket.receive(close)
        return await serving

    assert drive(monkeypatch, scenario) == "closed by the server (1000)"


def test_a_consumer_that_raises_is_counted_and_the_connection_goes_on(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(event: Event) -> None:
        msg = "consumer bug"
        raise RuntimeError(msg)

    async def scenario(connection: Connection, socket: FakeSocket,
                       serving: asyncio.Task[str]) -> None:
        socket.receive(ack(socket.sent[0]))
        socket.receive(trades(5))
        assert connection.stats.sink_errors == 2 and connection.stats.trades == 1
        assert not socket.aborted and not serving.done()

    drive(monkeypatch, scenario, Sinks(event=broken))


def test_the_first_subscription_ends_the_outage(monkeypatch: pytest.MonkeyPatch) -> None:
    lost_at = time.monotonic_ns() - 2_000 * MS

    async def scenario(connection: Connection, socket: FakeSocket, _: object) -> None:
        socket.receive(ack(socket.sent[0]))
        (outage,) = connection.stats.reconnect_ns
        assert outage >= 2_000 * MS and connection.outage_started_ns is None

    drive(monkeypatch, scenario, outage_started_ns=lost_at)


def test_close_cancels_an_open_that_never_completes(monkeypatch: pytest.MonkeyPatch) -> None:
    async def never(*args: object, **options: object) -> None:
        await asyncio.Event().wait()

    async def scenario() -> None:
        monkeypatch.setattr("ticklake.session.connection.ws_connect", never)
        connection = Connection(make_protocol(), SessionStats(), Sinks())
        opening = asyncio.create_task(connection.open("ws://fake/", open_timeout=3600,
                                                      max_frame_bytes=2**20))
        await asyncio.sleep(0.01)
        connection.close("stopped")
        with pytest.raises(asyncio.CancelledError):
            await opening

    asyncio.run(scenario())
