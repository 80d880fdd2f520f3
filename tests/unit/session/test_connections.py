"""The pieces that let several connections share one recorder: connection ids and a replay
of their interleaved frames (their totals: tests/unit/test_status.py)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

from ticklake.feed.events import DuplicateMessage, Event, TradesReceived
from ticklake.feed.phemex import PhemexProtocol, Subscription, default_products
from ticklake.feed.phemex.trades import replay_decoder
from ticklake.session import ConnIds, PhemexSession, SessionConfig, SessionGroup

from ...support import scaled, wait_until

WALL = 1_800_000_000 * 1_000_000_000


def test_connection_ids_are_unique_across_sessions_and_shards() -> None:
    shared = ConnIds(now_ms=2**32 - 2)  # wraps below 2**32 without repeating soon
    ids = [shared.next() for _ in range(1000)]
    assert len(set(ids)) == 1000 and all(0 <= i < 2**32 for i in ids)
    shards = [ConnIds((i, 3), now_ms=5_000) for i in range(3)]
    across = [ids.next() for ids in shards for _ in range(500)]
    assert len(set(across)) == 1500
    assert {conn_id % 3 for conn_id in across[:500]} == {0}


def _group(*symbol_sets: tuple[str, ...]) -> SessionGroup:
    products = default_products()
    return SessionGroup([
        PhemexSession(PhemexProtocol([Subscription.trades(products.require(s)) for s in syms],
                                     products))
        for syms in symbol_sets
    ])


def _message(symbol: str, kind: str, sequence: int, rows: list[list[Any]]) -> bytes:
    return json.dumps({"sequence": sequence, "symbol": symbol, "type": kind,
                       "trades": rows}).encode()


def _trades(events: list[Event]) -> int:
    return sum(len(e.rows) for e in events if isinstance(e, TradesReceived))


def test_replay_keeps_each_connections_sequences_across_interleaved_frames() -> None:
    """Two connections' frames alternate in one spool. A message one connection replays (or
    that its snapshot already covered) is dropped even though the other connection's frames
    came in between: the replay must not forget a connection's state on every switch."""
    replay = replay_decoder(b"", default_products(), 200)
    ts = WALL - 10_000
    a_rows = [[ts + 1, "Buy", 1_000_000, 1], [ts + 2, "Sell", 1_000_500, 2]]
    b_rows = [[ts + 1, "Buy", 2_000_000, 3]]
    a, b = 101, 102
    recorded = 0
    recorded += _trades(replay.decode(_message("BTCUSD", "snapshot", 10, a_rows[::-1]), a, WALL))
    recorded += _trades(replay.decode(_message("ETHUSD", "snapshot", 20, b_rows), b, WALL))
    # The snapshot's trades again in an incremental of the same sequence (§9.10 allows it).
    covered = replay.decode(_message("BTCUSD", "incremental", 10, a_rows), a, WALL)
    recorded += _trades(covered)
    recorded += _trades(replay.decode(_message("ETHUSD", "incremental", 21,
                                               [[ts + 5, "Buy", 2_000_000, 1]]), b, WALL))
    again = replay.decode(_message("ETHUSD", "incremental", 21,
                                   [[ts + 5, "Buy", 2_000_000, 1]]), b, WALL)
    assert any(isinstance(e, DuplicateMessage) for e in covered)
    assert any(isinstance(e, DuplicateMessage) for e in again)
    assert recorded == 4  # 2 + 1 + 0 + 1: nothing twice
    # A new connection id (a reconnect) starts with no sequences, as before.
    fresh = replay.decode(_message("BTCUSD", "incremental", 11, [[ts + 9, "Buy", 1_000_000, 1]]),
                          103, WALL)
    assert _trades(fresh) == 1


def test_the_connections_of_a_recorder_share_one_connect_budget() -> None:
    """Phemex limits connection attempts per IP: three connections that keep failing must
    spend one budget between them (burst 20), not 20 attempts each."""
    asyncio.run(_refused_group())


async def _refused_group() -> None:
    with socket.socket() as closed:  # a port nobody listens on: every attempt is refused
        closed.bind(("127.0.0.1", 0))
        url = f"ws://127.0.0.1:{closed.getsockname()[1]}/"
    group = _group(("BTCUSD",), ("ETHUSD",), ("BTCUSDT",))
    config = SessionConfig(url=url, backoff_initial=0.0, backoff_cap=0.001,
                           first_connect_timeout=60, connect_budget=(21, 3000.0))
    for session in group.sessions:
        session.config = config
    task = asyncio.create_task(group.run())
    try:
        def spent() -> bool:  # and no attempt still in flight: each has been counted
            budget = group.budget
            return (budget is not None and budget.wait_ns(time.monotonic_ns()) > 0
                    and all(s.stats.state == "reconnecting" for s in group.sessions))

        await wait_until(spent, 20, "the shared budget spent")
        attempts = sum(s.stats.reconnects for s in group.sessions)
        assert 20 <= attempts <= 21, attempts  # separate budgets would allow 60 at once
        assert all(s.stats.reconnects > 0 for s in group.sessions)
    finally:
        group.stop()
        await asyncio.wait_for(task, scaled(5))
