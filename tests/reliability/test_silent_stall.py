"""2. Silent stall: the server keeps TCP open and sends nothing (no data, no pong). The
recorder notices within its configured silence timeout and reconnects; nothing is lost."""

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
    "silence": ({"ping_interval": 1.0, "pong_timeout": 8.0, "silence_timeout": 2.0}, "no frame"),
    # The shipped ratio (5 / 10 / 15 s), scaled down 5x: whichever timer fires first.
    "shipped_ratio": ({"ping_interval": 1.0, "pong_timeout": 2.0, "silence_timeout": 3.0},
                      None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_silent_stall_is_detected_within_the_silence_timeout(tmp_path: Path,
                                                               case: str) -> None:
    feed, reason = CASES[case]
    timeout = feed["silence_timeout"]

    async def scenario() -> dict[str, list[float]]:
        detected: list[float] = []
        recovered: list[float] = []
        async with pipeline(tmp_path, ("BTCUSD", "BTCUSDT"), rate=30.0,
                            feed=feed) as stack:
            stats = stack.stats
            for _ in range(3):
                await asyncio.sleep(0.5)
                before, stale_before = stats.connects, sum(stats.stale_reasons.values())
                frames_before = stats.frames
                started = time.monotonic()
                assert stack.emulator.inject("stall", "all") == 1  # until the client leaves
                await wait_until(lambda: sum(stats.stale_reasons.values()) > stale_before,  # noqa: B023
                                 timeout + 5, "the stall to be noticed")
                detected.append(time.monotonic() - started)
                # Only frames already in flight arrived during the stall.
                assert stats.frames - frames_before < 10
                await stack.reconnected(before)
                recovered.append(time.monotonic() - started)
            if reason is not None:
                assert stats.stale_reasons == {reason: 3}, stats.stale_reasons
            await stack.settle()
            await stack.stop()
        result = compare_lake(stack.lake_root, stack.truth)
        assert result.duplicated == result.lost_silently == result.lost_in_reported_gaps == 0
        return {"detected": detected, "recovered": recovered}

    times = asyncio.run(scenario())
    assert max(times["detected"]) <= timeout + 0.5, times  # the timer, plus a poll's slack
    # and not before a timer could have fired (a ping may have gone out just before the stall)
    assert min(times["detected"]) >= min(timeout, feed["pong_timeout"]) - 0.2, times
    figure(f"silent_stall_{case}", stalls=3, silence_timeout_s=timeout,
           pong_timeout_s=feed["pong_timeout"], ping_interval_s=feed["ping_interval"],
           detected_s_max=round(max(times["detected"]), 2),
           reconnected_s_max=round(max(times["recovered"]), 2))
