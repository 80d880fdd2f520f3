"""Faults of every kind the emulator offers, over one recording: zero lost, zero duplicated."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from pathlib import Path

import pytest

from ticklake.feed.events import DuplicateMessage, SubscribeFailed

from ..support import scaled, wait_until
from .harness import FAST_HEARTBEAT, Run, recording

# Every outage here must be recovered by the resubscribe snapshot, however slow the machine
# makes a reconnect: a snapshot of 1000 trades (Phemex's before May 2022) covers 25 s at
# 40 trades/s, about 6 s in a burst (4x the mean); an outage that outlasts it is the next
# test's case.
RATE = 40.0
SNAPSHOT = 1000
DISCONNECTING = ["close", "server_drop", "stall", "pong_drop", "refuse"]
IN_BAND = ["garbage", "duplicate", "sequence_jump", "pong_delay"]


def duplicates(run: Run) -> int:
    return sum(isinstance(e, DuplicateMessage) for e in run.events)


def replayable(run: Run) -> bool:
    """The last message the server sent is an incremental (a replayed snapshot is merged,
    not reported as a duplicate message)."""
    clients = [c for c in run.emulator.clients.values() if not c.closing]
    return bool(clients) and all(c.last_data is not None and '"incremental"' in c.last_data
                                 for c in clients)


async def inject_and_recover(run: Run, kind: str, rng: random.Random) -> None:
    stats = run.session.stats
    before = stats.connects
    rejected, duplicated = len(run.rejected), duplicates(run)
    if kind == "error_reply":
        run.emulator.inject("error_reply", "next", count=1)
        run.emulator.inject("close", "all")
    elif kind == "refuse":
        run.emulator.inject("refuse", "all", seconds=0.3)  # outage shorter than the snapshot
    elif kind == "pong_delay":
        run.emulator.inject("pong_delay", "all", seconds=0.2, count=2)  # late but in time
    elif kind == "garbage":
        run.emulator.inject("garbage", "all", count=3)
    elif kind == "duplicate":  # the last message again, twice: an incremental, not the
        await wait_until(lambda: replayable(run), 10, "an incremental to replay")  # snapshot
        run.emulator.inject("duplicate", "all", count=2)
    elif kind == "sequence_jump":
        run.emulator.inject("sequence_jump", "all")
    else:
        run.emulator.inject(kind, "all")
    if kind in DISCONNECTING or kind == "error_reply":
        await run.reconnected(before)
        return
    # An in-band fault is seen before the next one can cut the connection under it.
    if kind == "garbage":
        await wait_until(lambda: len(run.rejected) >= rejected + 3, 10, "3 garbage frames")
    elif kind == "duplicate":
        await wait_until(lambda: duplicates(run) >= duplicated + 2, 10, "2 replayed messages")
    await asyncio.sleep(rng.uniform(0.05, 0.3))


async def storm(tmp_path: Path, rounds: int, seed: int) -> tuple[Run, dict[str, int]]:
    rng = random.Random(seed)
    kinds = [*DISCONNECTING, "error_reply", *IN_BAND]
    plan = [kinds[i % len(kinds)] for i in range(rounds)]
    rng.shuffle(plan)
    config = dataclasses.replace(FAST_HEARTBEAT, snapshot_size=SNAPSHOT)
    async with recording(tmp_path, ("BTCUSD", "BTCUSDT", "sBTCUSDT"), rate=RATE,
                         snapshot_size=SNAPSHOT, protocol_config=config) as run:
        await run.streaming()
        for kind in plan:
            await inject_and_recover(run, kind, rng)
            await asyncio.sleep(rng.uniform(0.0, 0.2))
        await run.caught_up()
        counts = {kind: plan.count(kind) for kind in kinds}
        return run, counts


def check(run: Run, counts: dict[str, int]) -> dict[str, int]:
    summary = run.compare().summary()
    stats = run.session.stats
    assert summary["duplicated"] == 0, summary
    assert summary["lost_silently"] == 0, summary
    assert summary["lost_in_reported_gaps"] == 0 and not run.gaps, summary
    disconnects = sum(counts[k] for k in [*DISCONNECTING, "error_reply"])
    assert stats.reconnects >= disconnects
    assert len(run.rejected) == 3 * counts["garbage"]  # 3 garbage frames per injection
    assert duplicates(run) >= 2 * counts["duplicate"]  # each replayed message reported
    assert sum(isinstance(e, SubscribeFailed) for e in run.events) >= counts["error_reply"]
    return {**summary, "reconnects": stats.reconnects, "rejected": len(run.rejected)}


def test_fault_storm_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    run, counts = asyncio.run(storm(tmp_path, rounds=40, seed=11))
    figures = check(run, counts)
    assert figures["reconnects"] >= 20
    print("fault storm:", figures, "reconnect ms:",
          sorted(ns // 1_000_000 for ns in run.session.stats.reconnect_ns))


@pytest.mark.long
@pytest.mark.timeout(1800)
def test_long_fault_storm(tmp_path: Path) -> None:
    run, counts = asyncio.run(storm(tmp_path, rounds=400, seed=12))
    figures = check(run, counts)
    assert figures["reconnects"] >= 200
    print("long fault storm:", figures, counts)


async def refuse_while_trading(run: Run, symbol: str, trades: int) -> None:
    """Refuse connections (the live one aborted) until the market made ``trades`` more
    trades of ``symbol``: an outage measured in trades, not in seconds."""
    market = run.emulator.market
    assert market is not None
    target = market.produced(symbol) + trades
    deadline = time.monotonic() + scaled(30)
    while market.produced(symbol) < target:
        assert time.monotonic() < deadline, f"{trades} trades of {symbol}"
        run.emulator.inject("refuse", "all", seconds=0.5)  # held for as long as it takes
        await asyncio.sleep(0.05)


def test_outage_longer_than_the_snapshot_reports_a_gap_with_bounds(tmp_path: Path) -> None:
    async def scenario() -> Run:
        # The client must know the exchange's snapshot capacity to judge completeness.
        config = dataclasses.replace(FAST_HEARTBEAT, snapshot_size=20)
        async with recording(tmp_path, rate=200.0, snapshot_size=20,
                             protocol_config=config) as run:
            await run.streaming()
            before = run.session.stats.connects
            await refuse_while_trading(run, "BTCUSD", 20 + 60)  # snapshot 20
            await run.reconnected(before)
            await run.caught_up()
            return run

    run = asyncio.run(scenario())
    summary = run.compare().summary()
    assert len(run.gaps) == 1
    assert summary["duplicated"] == 0 and summary["lost_silently"] == 0
    assert summary["lost_in_reported_gaps"] > 50
