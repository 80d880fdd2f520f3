"""Faults of every kind the emulator offers, over one recording: zero lost, zero duplicated."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from pathlib import Path

import pytest

from ticklake.feed.events import DuplicateMessage, SubscribeFailed

from .harness import FAST_HEARTBEAT, Run, recording

# Bursts reach 4x the mean: at 40 trades/s a 200-trade snapshot still covers about 1.5 s.
RATE = 40.0
DISCONNECTING = ["close", "server_drop", "stall", "pong_drop", "refuse"]
IN_BAND = ["garbage", "duplicate", "sequence_jump", "pong_delay"]


async def inject_and_recover(run: Run, kind: str, rng: random.Random) -> None:
    stats = run.session.stats
    before = stats.connects
    if kind == "error_reply":
        run.emulator.inject("error_reply", "next", count=1)
        run.emulator.inject("close", "all")
    elif kind == "refuse":
        run.emulator.inject("refuse", "all", seconds=0.3)  # outage shorter than the snapshot
    elif kind == "pong_delay":
        run.emulator.inject("pong_delay", "all", seconds=0.2, count=2)  # late but in time
    elif kind == "garbage":
        run.emulator.inject("garbage", "all", count=3)
    elif kind == "duplicate":
        run.emulator.inject("duplicate", "all", count=2)
    elif kind == "sequence_jump":
        run.emulator.inject("sequence_jump", "all")
    else:
        run.emulator.inject(kind, "all")
    if kind in DISCONNECTING or kind == "error_reply":
        await run.reconnected(before)
    else:
        await asyncio.sleep(rng.uniform(0.05, 0.3))


async def storm(tmp_path: Path, rounds: int, seed: int) -> tuple[Run, dict[str, int]]:
    rng = random.Random(seed)
    kinds = [*DISCONNECTING, "error_reply", *IN_BAND]
    plan = [kinds[i % len(kinds)] for i in range(rounds)]
    rng.shuffle(plan)
    async with recording(tmp_path, ("BTCUSD", "BTCUSDT", "sBTCUSDT"), rate=RATE) as run:
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
    assert sum(isinstance(e, DuplicateMessage) for e in run.events) >= 1
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


def test_outage_longer_than_the_snapshot_reports_a_gap_with_bounds(tmp_path: Path) -> None:
    async def scenario() -> Run:
        # The client must know the exchange's snapshot capacity to judge completeness.
        config = dataclasses.replace(FAST_HEARTBEAT, snapshot_size=20)
        async with recording(tmp_path, rate=200.0, snapshot_size=20,
                             protocol_config=config) as run:
            await run.streaming()
            before = run.session.stats.connects
            run.emulator.inject("refuse", "all", seconds=1.0)  # ~200 trades, snapshot 20
            await run.reconnected(before)
            await run.caught_up()
            return run

    run = asyncio.run(scenario())
    summary = run.compare().summary()
    assert len(run.gaps) == 1
    assert summary["duplicated"] == 0 and summary["lost_silently"] == 0
    assert summary["lost_in_reported_gaps"] > 50
