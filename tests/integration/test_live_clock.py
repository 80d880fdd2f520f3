"""The live detector's clock: an episode on a market that stops trading ends on time.

A real emulator and recording (``test_live_detection.live_detection``): without the
clock, the episode of a swing after which the market halts would end only when the bus
closes (``finish``), not at its deadline.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ticklake.model import Anomaly

from ..support import wait_until
from .test_live_detection import live_detection


def test_an_episode_ends_on_time_after_the_market_halts(tmp_path: Path) -> None:
    async def scenario() -> tuple[list[Anomaly], int]:
        async with live_detection(tmp_path, 12) as live:
            live.emulator.inject_swing("BTCUSD", 40.0, 0.0, "up", "step")
            await wait_until(lambda: any(a.phase == "start" for a in live.seen), 30, "the alert")
            live.emulator.halt()  # no trade from now on: only the clock can end the episode
            halted_trades = live.recording.status().totals.trades
            await wait_until(lambda: any(a.phase == "end" for a in live.seen), 30,
                             "the episode to end with the market halted")
            trades_after_halt = live.recording.status().totals.trades - halted_trades
        return live.seen, trades_after_halt

    seen, trades_after_halt = asyncio.run(scenario())
    assert trades_after_halt <= 200  # at most what was in flight at the halt
    starts = [a for a in seen if a.phase == "start"]
    ends = [a for a in seen if a.phase == "end"]
    assert len(starts) == len(ends) == 1 and ends[0].anomaly_id == starts[0].anomaly_id
    # Ended at its deadline (no new extreme for 3..30 s), not at the bus's close.
    assert ends[0].ts_end_ns is not None
    assert 3e9 <= ends[0].ts_end_ns - ends[0].ts_detect_ns <= 60e9
