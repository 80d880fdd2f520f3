"""The live detector's clock: an episode on a market that stops trading ends on time.

A real emulator and recording (like tests/integration/test_live_detection.py): without the
clock, the episode of a swing after which the market halts would end only when the bus
closes (``finish``), not at its deadline.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ticklake.alerts import LiveDetector
from ticklake.config import load_settings
from ticklake.detect import DetectorParams, SwingDetector
from ticklake.emulator import Emulator, EmulatorConfig
from ticklake.model import Anomaly
from ticklake.pipeline import build_recording, run_recording

from ..support import wait_until


def test_an_episode_ends_on_time_after_the_market_halts(tmp_path: Path) -> None:
    seen: list[Anomaly] = []
    state: dict[str, int] = {}

    async def scenario() -> None:
        config = EmulatorConfig(rate=200, history=2000, seed=12)
        async with Emulator(config) as emulator:
            settings = load_settings(
                feed={"url": emulator.url, "symbols": ["BTCUSD"], "ping_interval": 1.0},
                lake={"root": str(tmp_path / "lake"), "spool": str(tmp_path / "spool"),
                      "buffer_seconds": 1.0},
            )
            recording = await build_recording(settings.feed, None, settings.lake)
            live = LiveDetector(recording, SwingDetector(DetectorParams(warmup_s=10.0)))
            alerts = recording.anomalies.subscribe()

            async def collect() -> None:
                while batch := await alerts.get_batch():
                    seen.extend(batch)

            tasks = [asyncio.create_task(live.run()), asyncio.create_task(collect())]
            runner = asyncio.create_task(run_recording(recording))
            await wait_until(lambda: recording.session.stats.trades > 200 * 12, 40, "warm-up")
            emulator.inject_swing("BTCUSD", 40.0, 0.0, "up", "step")
            await wait_until(lambda: any(a.phase == "start" for a in seen), 30, "the alert")
            emulator.halt()  # no trade from now on: only the clock can end the episode
            halted_trades = recording.session.stats.trades
            await wait_until(lambda: any(a.phase == "end" for a in seen), 30,
                             "the episode to end with the market halted")
            state["trades_after_halt"] = recording.session.stats.trades - halted_trades
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)
            await asyncio.wait_for(tasks[0], 10)
            recording.anomalies.close()
            await asyncio.wait_for(tasks[1], 10)

    asyncio.run(scenario())
    assert state["trades_after_halt"] <= 200  # at most what was in flight at the halt
    starts = [a for a in seen if a.phase == "start"]
    ends = [a for a in seen if a.phase == "end"]
    assert len(starts) == len(ends) == 1 and ends[0].anomaly_id == starts[0].anomaly_id
    # Ended at its deadline (no new extreme for 3..30 s), not at the bus's close.
    assert ends[0].ts_end_ns is not None
    assert 3e9 <= ends[0].ts_end_ns - ends[0].ts_detect_ns <= 60e9
