"""Bad trades never reach the detector's arithmetic: zero, negative, NaN, infinite and null
prices and quantities are counted and left out (never a traceback, never an anomaly), and
recorded gaps fed offline suspend it exactly as the live detector is suspended."""

from __future__ import annotations

import math
import statistics

import pyarrow as pa
import pytest

from ticklake.detect import SwingDetector
from ticklake.detect.offline import GapFeed, detect_table, feed_table

from .streams import LARGE_SWINGS, SEC, T0, Row, stream

BAD_VALUES = [0.0, -87000.0, math.nan, math.inf]


def table(rows: list[Row], nulls: dict[int, str] | None = None) -> pa.Table:
    nulls = nulls or {}
    return pa.table({
        "symbol": [r[0] for r in rows], "ts_ns": [r[1] for r in rows],
        "price": [None if nulls.get(i) == "price" else r[2] for i, r in enumerate(rows)],
        "qty": [None if nulls.get(i) == "qty" else r[3] for i, r in enumerate(rows)],
        "side": ["buy" if r[4] else "sell" for r in rows],
    })


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    return stream(3, 1200, swings=LARGE_SWINGS[:3], first_s=400, every_s=250)[0]


@pytest.mark.parametrize("bad", BAD_VALUES)
@pytest.mark.parametrize("field", [2, 3])  # price, quantity
def test_a_bad_value_anywhere_is_counted_and_changes_nothing(
        rows: list[Row], bad: float, field: int) -> None:
    clean = detect_table(table(rows))
    assert clean  # the swings are found
    spoiled = list(rows)
    for index in (0, len(rows) // 3, len(rows) // 2):  # the first row, and mid-stream
        row = list(spoiled[index])  # (a copy of the row at index, inserted before it)
        row[field] = bad
        spoiled.insert(index, tuple(row))  # type: ignore[arg-type]
    detector = SwingDetector()
    got = feed_table(detector, table(spoiled)) + detector.finish()
    assert got == clean
    assert detector.quarantined == 3


def test_nulls_are_counted_and_left_out(rows: list[Row]) -> None:
    clean = detect_table(table(rows))
    spoiled = list(rows)
    for index in (0, len(rows) // 2):  # an extra copy of a row, just before it, made null
        spoiled.insert(index, spoiled[index])
    extra = {0: "price", len(rows) // 2: "qty"}
    detector = SwingDetector()
    got = feed_table(detector, table(spoiled, extra)) + detector.finish()
    assert got == clean
    assert detector.quarantined == 2


def test_a_recorded_gap_suspends_the_detector_offline_as_live(rows: list[Row]) -> None:
    # A jump of the price across a hole the recorder reported: live, the gap arrives just
    # before the trades that follow it, and the detector does not alert on the jump.
    hole_from, hole_to = T0 + 600 * SEC, T0 + 630 * SEC
    before = [r for r in rows if r[1] <= hole_from]
    after = [(s, t, p * 1.004, q, b) for s, t, p, q, b in rows if t >= hole_to]
    trades = table(before + after).append_column(
        "spool_offset", pa.array(range(len(before) + len(after)), pa.int64()))
    live = SwingDetector()
    records = []
    for i, row in enumerate(before + after):
        if i == len(before):
            records += live.on_gap("BTCUSD", hole_from, hole_to) or []
        records += live.on_trade(*row) or []
    records += live.finish()
    offline = SwingDetector()
    gaps = GapFeed([(after[0][1], len(before), "BTCUSD", hole_from)])
    assert feed_table(offline, trades, gaps) + offline.finish() == records
    blind = detect_table(trades)  # the same trades, the gap not known
    assert blind != records  # the jump alone is an alarm: the gap is what prevents it
    jump = [a for a in blind if a.phase == "start" and hole_to <= a.ts_detect_ns]
    assert jump and jump[0].ts_detect_ns < hole_to + 5 * SEC


@pytest.mark.parametrize("hole_s", [25, 45, 59])
def test_a_silence_does_not_deflate_the_volatility_estimate(hole_s: int) -> None:
    # The price keeps moving while nobody trades; the estimate after the hole must not read
    # the hole's seconds as seconds of no move (it fell by about a tenth on average, up to
    # a quarter). Averaged over streams and places: one hole's own luck is noise.
    ratios = []
    for seed in range(1, 7):
        rows, _ = stream(seed, 900, vol_of_vol=0.0)
        for start_s in (400, 600, 800 - hole_s):
            start = T0 + start_s * SEC
            holed = [r for r in rows if not start < r[1] < start + hole_s * SEC]
            after = next(r[1] for r in rows if r[1] >= start + hole_s * SEC) + 3 * SEC
            ratios.append(sigma_at(holed, after) / sigma_at(rows, after))
    assert 0.96 < statistics.mean(ratios) < 1.08, ratios


def sigma_at(trades: list[Row], until_ns: int) -> float:
    detector = SwingDetector()
    for row in trades:
        if row[1] > until_ns:
            break
        detector.on_trade(*row)
    return detector.sigma("BTCUSD")
