"""2. Silent stall: the server keeps TCP open and sends nothing (no data, no pong). The
recorder's heartbeat timers (silence, pong) notice and it reconnects; nothing is lost. How
soon it noticed is the figure (bench/reliability_figures.py), not an assertion."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from ..support import wait_until
from .common import compare_lake, figure
from .stack import pipeline

CASES = {
    # pong timeout beyond the silence timeout: the silence timer itself must fire.
    "silence": ({"ping_interval": 1.0, "pong_timeout": 8.0, "silence_timeout": 2.0},
                {"no frame"}),
    # The shipped ratio (5 / 10 / 15 s), scaled down 5x: whichever timer fires first.
    "shipped_ratio": ({"ping_interval": 1.0, "pong_timeout": 2.0, "silence_timeout": 3.0},
                      {"no frame", "no pong"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_silent_stall_is_detected_by_the_heartbeat_timers(tmp_path: Path, case: str) -> None:
    """Which timer abandons the stalled connection is asserted; how soon (the figure) is
    measured, not asserted: a loaded machine fires its timers late, not wrongly."""
    feed, reasons = CASES[case]
    timeout = feed["silence_timeout"]

    async def scenario() -> dict[str, list[float]]:
        detected: list[float] = []
        recovered: list[float] = []
        async with pipeline(tmp_path, ("BTCUSD", "BTCUSDT"), rate=30.0,
                            feed=feed) as stack:
            emulator = stack.emulator
            for _ in range(3):
                frames = stack.stats.frames
                await wait_until(lambda f=frames: stack.stats.frames > f + 10, 15,
                                 "frames streaming on the connection")
                before, stale_before = stack.stats.connects, sum(stack.stats.stale_reasons.values())
                (client,) = [c for c in emulator.clients.values() if not c.closing]
                started = time.monotonic()
                assert emulator.inject("stall", "all") == 1  # until the client leaves
                sent = client.frames_sent
                await wait_until(lambda: sum(stack.stats.stale_reasons.values()) > stale_before,  # noqa: B023
                                 timeout + 5, "the stall to be noticed")
                detected.append(time.monotonic() - started)
                # The server sent nothing during the stall: no data, no pong.
                assert client.frames_sent == sent
                await stack.reconnected(before)
                recovered.append(time.monotonic() - started)
            assert sum(stack.stats.stale_reasons.values()) == 3, stack.stats.stale_reasons
            assert set(stack.stats.stale_reasons) <= reasons, stack.stats.stale_reasons
            await stack.settle()
            await stack.stop()
        result = compare_lake(stack.lake_root, stack.truth)
        assert result.duplicated == result.lost_silently == result.lost_in_reported_gaps == 0
        return {"detected": detected, "recovered": recovered}

    times = asyncio.run(scenario())
    figure(f"silent_stall_{case}", stalls=3, silence_timeout_s=timeout,
           pong_timeout_s=feed["pong_timeout"], ping_interval_s=feed["ping_interval"],
           detected_s_max=round(max(times["detected"]), 2),
           reconnected_s_max=round(max(times["recovered"]), 2))
