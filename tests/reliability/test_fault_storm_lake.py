"""1. Fault storm into the lake: 50+ faults of every kind the emulator offers (444 in the long
run), three symbols, one recording through the real pipeline (session → spool → lake writer
process); afterwards SQL over ``trades`` and ``gaps`` equals the emulator's ground truth."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from ticklake.catalog import Lake
from ticklake.feed.phemex.control import CONTROL_CONN_ID

from ..support import scaled, wait_until
from .common import compare_lake, figure, lake_count, percentile
from .stack import Stack, pipeline

RATE = 40.0  # trades/s per symbol: a 200-trade snapshot covers ~5 s of outage (bursts: ~1.5 s)
DISCONNECTING = ("close", "server_drop", "stall", "pong_drop", "refuse", "error_reply")
IN_BAND = ("garbage", "duplicate", "sequence_jump", "pong_delay", "halt")
KINDS = (*DISCONNECTING, *IN_BAND)
GARBAGE_FRAMES = 3


async def refuse_while_trading(stack: Stack, trades: int) -> None:
    """Refuse connections (the live one aborted) until the market made ``trades`` more
    trades of every symbol: an outage measured in trades, not in seconds."""
    market = stack.emulator.market
    assert market is not None
    targets = {s: market.produced(s) + trades for s in stack.symbols}
    deadline = time.monotonic() + scaled(60)
    while any(market.produced(s) < n for s, n in targets.items()):
        assert time.monotonic() < deadline, f"{trades} trades of every symbol"
        stack.emulator.inject("refuse", "all", seconds=0.5)  # held for as long as it takes
        await asyncio.sleep(0.05)


async def inject(stack: Stack, kind: str, rng: random.Random) -> float | None:
    """Inject one fault; for a disconnecting one return the seconds until streaming again."""
    emulator = stack.emulator
    before = stack.stats.connects
    started = time.monotonic()
    if kind == "error_reply":
        emulator.inject("error_reply", "next", count=1)  # the resubscribe is refused once
        emulator.inject("close", "all")
    elif kind == "refuse":
        emulator.inject("refuse", "all", seconds=0.3)
    elif kind == "long_refuse":  # beyond the snapshot's reach, in trades of every symbol
        await refuse_while_trading(stack, emulator.config.snapshot_trades + 50)
    elif kind == "pong_delay":
        emulator.inject("pong_delay", "all", seconds=0.2, count=2)  # late, within the timeout
    elif kind == "garbage":
        rejected = stack.stats.rejected
        emulator.inject("garbage", "all", count=GARBAGE_FRAMES)
        # Seen (and spooled) before the next fault can cut the connection under them.
        await wait_until(lambda: stack.stats.rejected >= rejected + GARBAGE_FRAMES, 10,
                         "the garbage frames")
    elif kind == "duplicate":
        emulator.inject("duplicate", "all", count=2)
    elif kind == "halt":
        emulator.halt()
        await asyncio.sleep(rng.uniform(0.2, 0.6))
        emulator.resume()
    else:
        emulator.inject(kind, "all")
    if kind in DISCONNECTING or kind == "long_refuse":
        await stack.reconnected(before, timeout=30)
        return time.monotonic() - started
    await asyncio.sleep(rng.uniform(0.05, 0.2))
    return None


async def storm(tmp_path: Path, per_kind: int, long_outages: int, seed: int,
                name: str, budget: tuple[int, float] | None) -> dict[str, object]:
    rng = random.Random(seed)
    plan = [k for k in KINDS for _ in range(per_kind)] + ["long_refuse"] * long_outages
    rng.shuffle(plan)
    recovery: dict[str, list[float]] = {}
    reconnect_ms: dict[str, list[float]] = {}
    started = time.monotonic()
    async with pipeline(tmp_path, rate=RATE, connect_budget=budget) as stack:
        for kind in plan:
            seen = len(stack.stats.reconnect_ns)
            seconds = await inject(stack, kind, rng)
            if seconds is not None:
                recovery.setdefault(kind, []).append(seconds)
            reconnect_ms.setdefault(kind, []).extend(
                ns / 1e6 for ns in stack.stats.reconnect_ns[seen:])
            await asyncio.sleep(rng.uniform(0.0, 0.1))
        await stack.settle()
        stats = stack.stats
        frames, session_rejected = stats.frames, stats.rejected
        reconnects = stats.reconnects
        await stack.stop()
        root, truth = stack.lake_root, stack.truth
    result = compare_lake(root, truth)
    counts = Counter(plan)
    rejected = lake_count(root, "rejected")
    assert result.duplicated == 0 and result.invented == 0, result
    assert result.lost_silently == 0, result  # every missing trade lies in a reported gap
    # (Not vacuous: the storm had traffic. How much depends on how fast the machine ran
    # through the faults, so the bound is loose: a fast run made exactly 3,000.)
    assert result.recorded > 0 and result.truth > 1_000, result
    if long_outages:
        assert result.gaps >= 1 and result.lost_in_reported_gaps > 0, result
    else:
        assert result.gaps == 0 and result.lost_in_reported_gaps == 0, result
    disconnects = sum(counts[k] for k in (*DISCONNECTING, "long_refuse"))
    assert reconnects >= disconnects
    # Every frame once in raw, beside the control record naming the products it decodes
    # with; every bad frame in rejected, live and in the lake alike.
    controls = Lake(root).query(f"SELECT count(*) FROM raw WHERE conn_id = {CONTROL_CONN_ID}")
    assert lake_count(root, "raw") == frames + 1 and controls.rows() == [(1,)]
    assert rejected == session_rejected == GARBAGE_FRAMES * counts["garbage"]
    # Reconnect time (connection lost → resubscribed) of the faults a snapshot can cover.
    short = [ms for kind, values in reconnect_ms.items() if kind != "long_refuse"
             for ms in values]
    every = [s for kind, values in recovery.items() if kind != "long_refuse" for s in values]
    return figure(
        name, faults=len(plan), symbols=3, kinds=dict(sorted(counts.items())),
        seconds=round(time.monotonic() - started, 1), **result.summary(),
        rejected_in_lake=rejected, reconnects=reconnects,
        connect_budget="lifted" if budget else "phemex 200/5min",
        reconnect_ms_p50=round(percentile(short, 50), 1),
        reconnect_ms_p99=round(percentile(short, 99), 1),
        long_outage_reconnect_ms=[round(ms) for ms in reconnect_ms.get("long_refuse", [])],
        recovery_s_p50=round(percentile(every, 50), 2),
        recovery_s_p99=round(percentile(every, 99), 2),
        recovery_s_by_kind={k: round(percentile(v, 50), 2) for k, v in sorted(recovery.items())},
    )


def test_fault_storm_into_the_lake_equals_the_truth(tmp_path: Path) -> None:
    # The per-IP connect budget is lifted so that the figure is the reconnect itself.
    asyncio.run(storm(tmp_path, per_kind=5, long_outages=1, seed=61, name="fault_storm",
                      budget=(100_000, 300.0)))  # 56 faults


@pytest.mark.long
@pytest.mark.timeout(3600)
def test_long_fault_storm_into_the_lake(tmp_path: Path) -> None:
    # With Phemex's real connect budget: reconnects get paced, nothing may be lost silently.
    asyncio.run(storm(tmp_path, per_kind=40, long_outages=4, seed=62, name="fault_storm_long",
                      budget=None))  # 444 faults
