"""Episode ends: re-arming from the end price, and ending on time when a symbol goes silent."""

from __future__ import annotations

import math

import pytest

from ticklake.detect import SwingDetector
from ticklake.model import Anomaly

from .streams import SEC, Row, stream

FIRST_SWING = (("step", 0, 12, "up"),)


def feed(detector: SwingDetector, rows: list[Row]) -> list[Anomaly]:
    out: list[Anomaly] = []
    for row in rows:
        out.extend(detector.on_trade(*row) or ())
    return out


def first_episode_end(rows: list[Row]) -> tuple[Anomaly, float]:
    """The first episode's end record, and the local sigma (log sd per sqrt(s)) at its end."""
    detector = SwingDetector()
    for row in rows:
        for anomaly in detector.on_trade(*row) or ():
            if anomaly.phase == "end":
                return anomaly, detector.sigma(row[0])
    msg = "no episode ended"
    raise AssertionError(msg)


@pytest.mark.parametrize("direction", [1, -1])
@pytest.mark.parametrize("after_ms", [1, 100, 300])
def test_a_swing_right_after_an_end_is_caught_at_once(direction: int, after_ms: int) -> None:
    rows, _ = stream(31, 600, rate=20.0, swings=FIRST_SWING)
    end, sigma = first_episode_end(rows)
    assert end.ts_end_ns is not None
    step_ns = end.ts_end_ns + after_ms * 1_000_000
    # A 12-sigma step a moment after the end (the first episode's price level is kept).
    # Two prints (a buy and a sell) at the step, so the mid moves there and then.
    factor = math.exp(direction * 12 * sigma)
    before = [r for r in rows if r[1] < step_ns]
    price = before[-1][2] * factor
    prints = [("BTCUSD", step_ns, price, 1.0, True), ("BTCUSD", step_ns + 1000, price, 1.0, False)]
    stepped = before + prints + [(r[0], r[1], r[2] * factor, r[3], r[4])
                                 for r in rows if r[1] > step_ns + 1000]
    first_after = step_ns
    out = feed(SwingDetector(), stepped)
    assert next(a for a in out if a.phase == "end") == end, "the first episode is unchanged"
    starts = [a for a in out if a.phase == "start" and a.ts_detect_ns >= step_ns]
    assert starts, "the step right after the end was missed"
    # Caught by the step's prints, not ~0.75 s later when a bar reference comes live.
    assert starts[0].ts_detect_ns - first_after <= 1000
    assert starts[0].direction == ("up" if direction > 0 else "down")
    # Measured from the end price: the new episode begins at the end, not inside the old one.
    assert starts[0].ts_start_ns >= end.ts_end_ns
    assert starts[0].anomaly_id != end.anomaly_id


def test_on_clock_ends_an_episode_of_a_silent_symbol_on_time() -> None:
    rows, _ = stream(31, 600, rate=20.0, swings=FIRST_SWING)
    end, _ = first_episode_end(rows)
    assert end.ts_end_ns is not None
    # The symbol goes silent just before the episode's deadline: no trade comes to end it.
    silent = [r for r in rows if r[1] < end.ts_end_ns]
    detector = SwingDetector()
    out = feed(detector, silent)
    assert [a.phase for a in out if a.anomaly_id == end.anomaly_id][-1] != "end"
    assert detector.on_clock(end.ts_end_ns - 1) == []
    ended = detector.on_clock(end.ts_end_ns + 5 * SEC)
    # The same record as with trades flowing: the end is the deadline, not the clock's time.
    assert ended == [end]
    assert detector.on_clock(end.ts_end_ns + 10 * SEC) == []


def test_clock_ticks_do_not_change_the_records() -> None:
    """Live, the clock ticks between trades; a replay without ticks gives the same records."""
    rows, _ = stream(32, 1500, rate=5.0, swings=(
        ("step", 0, 12, "up"), ("ramp", 10, 12, "down"), ("v", 2, 12, "up"),
        ("ramp", 60, 12, "down"), ("step", 0, 12, "down")))
    plain = feed(SwingDetector(), rows)
    assert len([a for a in plain if a.phase == "end"]) >= 4  # the last step falls in a 4 s silence
    ticking = SwingDetector()
    out: list[Anomaly] = []
    for i, row in enumerate(rows):
        out.extend(ticking.on_trade(*row) or ())
        if i % 3 == 0 and i + 1 < len(rows):
            out.extend(ticking.on_clock(rows[i + 1][1]))  # no trade older than the next comes
    # Same records, possibly earlier in the sequence: an end needs no further trade.
    assert sorted(out, key=repr) == sorted(plain, key=repr)
