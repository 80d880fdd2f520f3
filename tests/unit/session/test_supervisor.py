"""The reconnect loop over a fake ``ws_connect``: retry, fatal, first-connect deadline, stop."""

from __future__ import annotations

import asyncio

import pytest
from picows import WSInvalidStatusError, WSInvalidURL
from picows import WSUpgradeResponse as Response

from ticklake.errors import SessionError
from ticklake.session import PhemexSession, SessionConfig, SessionState

from ...support import scaled, wait_until
from .fakes import FakeConnect, Outcome, ack, make_protocol, trades

FAST = SessionConfig(url="ws://fake/", backoff_initial=0.001, backoff_cap=0.002,
                     connect_budget=(10_000, 300.0))


def status(code: int) -> WSInvalidStatusError:
    return WSInvalidStatusError(f"HTTP {code}", response=Response.create_error_response(code))


def session_over(monkeypatch: pytest.MonkeyPatch, outcomes: list[Outcome],
                 config: SessionConfig = FAST) -> tuple[PhemexSession, FakeConnect]:
    return PhemexSession(make_protocol(), config), FakeConnect(monkeypatch, outcomes)


def test_retryable_failures_are_retried_until_a_fatal_one_stops_the_session(
        monkeypatch: pytest.MonkeyPatch) -> None:
    session, _ = session_over(monkeypatch, [ConnectionRefusedError(), status(503), status(429),
                                            TimeoutError(), status(403)])
    with pytest.raises(SessionError, match="refused the WebSocket upgrade: HTTP 403"):
        asyncio.run(asyncio.wait_for(session.run(), scaled(5)))
    assert (session.stats.reconnects, session.stats.state) == (4, SessionState.FAILED)
    assert not session.protocol.connected


def test_an_invalid_url_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    session, _ = session_over(monkeypatch, [WSInvalidURL("ftp://x", "scheme isn't ws or wss")])
    with pytest.raises(SessionError, match="invalid URL 'ws://fake/'"):
        asyncio.run(session.run())
    assert session.stats.reconnects == 0


def test_a_url_that_never_connects_is_reported_after_the_first_connect_timeout(
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = SessionConfig(url="ws://fake/", backoff_initial=0.01, backoff_cap=0.01,
                           first_connect_timeout=0.05, connect_budget=(10_000, 300.0))
    session, _ = session_over(monkeypatch, [ConnectionRefusedError(111, "refused")] * 1000,
                              config)
    with pytest.raises(SessionError, match=r"cannot connect to ws://fake/: ConnectionRefused"):
        asyncio.run(asyncio.wait_for(session.run(), scaled(5)))
    assert session.stats.state == "failed"  # a StrEnum: the old strings still compare equal


def test_a_refusal_after_streaming_is_retried_and_the_outage_is_timed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        session, fake = session_over(monkeypatch, [None, status(404), None])
        task = asyncio.create_task(session.run())
        await wait_until(lambda: len(fake.sockets) == 1, 5, "the first connection")
        socket = fake.sockets[0]
        socket.receive(ack(socket.sent[0]))
        socket.receive(trades(5))
        first_id = session.conn_id
        socket.disconnect()
        await wait_until(lambda: len(fake.sockets) == 2, 5, "a second connection")
        socket = fake.sockets[1]
        socket.receive(ack(socket.sent[0]))
        assert session.stats.state == SessionState.STREAMING
        assert len(session.stats.reconnect_ns) == 1  # from the first loss to the resubscribe
        assert session.conn_id not in (0, first_id)
        session.stop()
        await asyncio.wait_for(task, scaled(5))
        assert (session.stats.connects, session.stats.reconnects) == (2, 2)
        assert session.stats.state == SessionState.STOPPED

    asyncio.run(scenario())


def test_stop_before_run_connects_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    session, fake = session_over(monkeypatch, [])
    session.stop()
    asyncio.run(session.run())
    assert fake.sockets == [] and session.stats.state == SessionState.STOPPED
