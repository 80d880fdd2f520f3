"""Session I/O against misbehaving servers: framing errors, silent upgrades, failing sinks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from ticklake.errors import SessionError
from ticklake.feed.events import Event
from ticklake.feed.phemex import PhemexProtocol, Subscription, default_products
from ticklake.model import RawFrame
from ticklake.session import PhemexSession, SessionConfig

from ..support import scaled, wait_until
from .harness import FAST_HEARTBEAT, recording

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def upgrade(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer a WebSocket upgrade by hand (RFC 6455 §4.2.2)."""
    request = await reader.readuntil(b"\r\n\r\n")
    key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
               if line.lower().startswith(b"sec-websocket-key"))
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    await writer.drain()


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[str]:
    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"ws://127.0.0.1:{port}/"
    finally:
        server.close()
        await server.wait_closed()


def make_session(url: str, open_timeout: float = 2, **callbacks: object) -> PhemexSession:
    products = default_products()
    protocol = PhemexProtocol([Subscription("trade", "BTCUSD")], products, FAST_HEARTBEAT)
    config = SessionConfig(url=url, backoff_initial=0.02, backoff_cap=0.1,
                           open_timeout=open_timeout)
    return PhemexSession(protocol, config, **callbacks)  # type: ignore[arg-type]


def test_a_framing_error_from_the_server_is_a_lost_connection_not_a_crash() -> None:
    async def scenario() -> int:
        async def bad_opcode(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await upgrade(reader, writer)
            writer.write(b"\x83\x00")  # reserved opcode 0x3
            await writer.drain()
            await reader.read()

        async with raw_server(bad_opcode) as url:
            session = make_session(url)
            session._ever_streamed = True  # past the first-connect grace: keep retrying
            task = asyncio.create_task(session.run())
            await wait_until(lambda: session.stats.connects >= 3 or task.done(), 10,
                             "three connections")
            session.stop()
            await asyncio.wait_for(task, scaled(5))  # returns cleanly, raises nothing
            return session.stats.connects

    assert asyncio.run(scenario()) >= 3


def test_a_503_on_the_upgrade_is_retried_and_a_403_stops_the_session() -> None:
    async def scenario() -> PhemexSession:
        answers = iter([b"503 Service Unavailable", b"403 Forbidden"])

        async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 " + next(answers) + b"\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()

        async with raw_server(refuse) as url:
            session = make_session(url)
            with pytest.raises(SessionError, match=r"refused the WebSocket upgrade: HTTP 403"):
                await asyncio.wait_for(session.run(), scaled(10))
            return session

    session = asyncio.run(scenario())
    assert (session.stats.reconnects, session.stats.connects) == (1, 0)
    assert session.stats.state == "failed"


def test_stop_interrupts_a_connect_the_server_never_answers() -> None:
    async def scenario() -> None:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()

        async with raw_server(silent) as url:
            # The handshake would wait an hour for its answer: only stop() can end it.
            session = make_session(url, open_timeout=3600)
            task = asyncio.create_task(session.run())
            await wait_until(lambda: session.stats.state == "connecting", 5, "connecting")
            session.stop()
            await asyncio.wait_for(task, scaled(5))
            assert session.stats.connects == 0

    asyncio.run(scenario())


def test_a_consumer_that_raises_does_not_stop_stale_detection(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with recording(tmp_path, rate=100.0) as run:
            def broken(event: Event) -> None:
                msg = "consumer bug"
                raise RuntimeError(msg)

            run.listeners.append(broken)
            await run.streaming()
            before = run.session.stats.connects
            run.emulator.inject("stall", "all")
            await run.reconnected(before)
            run.listeners.remove(broken)
            await run.caught_up()
            assert run.session.stats.sink_errors > 0
            assert run.compare().summary()["duplicated"] == 0

    asyncio.run(scenario())


def test_a_failing_frame_sink_stops_the_session_with_a_clear_error() -> None:
    async def scenario() -> None:
        def full_disk(frame: RawFrame) -> None:
            raise OSError(28, "No space left on device")

        from ticklake.emulator import Emulator, EmulatorConfig

        async with Emulator(EmulatorConfig()) as emulator:
            session = make_session(emulator.url, on_frame=full_disk)
            with pytest.raises(SessionError, match="frame sink failed: OSError"):
                await asyncio.wait_for(session.run(), scaled(10))

    asyncio.run(scenario())
