"""Labelled swings and stochastic volatility in the simulated market."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import statistics

import pytest

from ticklake.emulator import Market
from ticklake.emulator.market import SwingLabel, Trade

T0 = 1_764_824_672_000_000_000
SEC = 1_000_000_000
ALL = ("BTCUSD", "ETHUSD", "BTCUSDT", "sBTCUSDT")
# Hash of the default market's output computed before SV and swings existed (seed 7, rate 50,
# prefill 100, 120 half-second steps): the new options must not change the default stream.
GOLDEN = "a7ceedc5e3d71fd47be95d2a947fa15a8dcd3060a271cd4e380f2d5c21f9c1a3"


def digest(trades: list[Trade]) -> str:
    h = hashlib.sha256()
    for t in trades:
        h.update(f"{t.symbol},{t.ts_ns},{t.side},{t.price},{t.qty},{t.seq};".encode())
    return h.hexdigest()


def test_default_output_unchanged() -> None:
    market = Market(ALL, seed=7, rate=50.0, start_ns=T0)
    out = market.prefill(100)
    for i in range(1, 121):
        out.extend(market.advance(T0 + i * SEC // 2))
    assert len(out) == 11928
    assert digest(out) == GOLDEN


def mid_at(trades: list[Trade], lo_ns: int, hi_ns: int) -> float:
    """Median trade price in a window (robust to bounce and sweeps)."""
    prices = [t.price for t in trades if lo_ns <= t.ts_ns < hi_ns]
    assert prices, (lo_ns, hi_ns)
    return float(statistics.median(prices))


@pytest.mark.parametrize(
    ("shape", "duration", "direction"),
    [("step", 0.0, "up"), ("ramp", 10.0, "down"), ("grind", 120.0, "up"), ("v", 20.0, "down")],
)
def test_swing_moves_price_by_label(shape: str, duration: float, direction: str) -> None:
    market = Market(("BTCUSD",), seed=3, rate=20.0, start_ns=T0, jumps=False)
    trades = market.advance(T0 + 60 * SEC)
    start = T0 + 60 * SEC
    label = market.inject_swing("BTCUSD", start_ns=start, size_sigma=12.0, duration_s=duration,
                                direction=direction, shape=shape)  # type: ignore[arg-type]
    trades += market.advance(label.end_ns + 30 * SEC)
    assert market.labels == (label,)
    assert label.end_ns == start + round(duration * SEC)
    expected = 12.0 * 1e-4 * math.sqrt(max(duration, 1.0))  # BTCUSD vol 1e-4 /sqrt(s)
    assert label.move_bp == pytest.approx(expected * 1e4)
    before = mid_at(trades, start - 2 * SEC, start)
    sign = 1.0 if direction == "up" else -1.0
    # Natural noise over the window: vol * sqrt(window + 2 s) in log units.
    noise = 1e-4 * math.sqrt(duration + 4.0)
    if shape == "v":
        half = start + round(duration * SEC / 2)
        peak = mid_at(trades, half - SEC // 2, half + SEC // 2)
        assert sign * math.log(peak / before) == pytest.approx(expected, abs=4 * noise)
        after = mid_at(trades, label.end_ns, label.end_ns + 2 * SEC)
        assert math.log(after / before) == pytest.approx(0.0, abs=4 * noise)
    else:
        after = mid_at(trades, label.end_ns + SEC, label.end_ns + 3 * SEC)
        assert sign * math.log(after / before) == pytest.approx(expected, abs=4 * noise)
    if shape == "step":  # one trade carries the whole jump
        moves = [abs(math.log(b.price / a.price)) for a, b in itertools.pairwise(trades)
                 if start <= b.ts_ns]
        assert max(moves) > 0.8 * expected


def test_label_record_is_json() -> None:
    market = Market(("ETHUSD",), seed=1, rate=10.0, start_ns=T0, vol_of_vol=0.8)
    market.advance(T0 + SEC)
    label = market.inject_swing("ETHUSD", start_ns=T0 + 2 * SEC, size_sigma=6, duration_s=2,
                                direction="down", shape="ramp", burst_rate=50, one_sided=0.8)
    record = json.loads(json.dumps(label.to_record()))
    assert record["shape"] == "ramp" and record["direction"] == "down"
    assert record["sigma_local"] == label.sigma_local == market.volatility("ETHUSD")
    assert SwingLabel(**record) == label


def run_sv(seed: int, swings: bool) -> tuple[list[Trade], tuple[SwingLabel, ...]]:
    market = Market(("BTCUSD",), seed=seed, rate=10.0, start_ns=T0, vol_of_vol=0.7,
                    vol_reversion_s=300.0, rate_vol_power=1.0, jumps=False)
    out: list[Trade] = []
    for i in range(1, 601):
        now = T0 + i * SEC
        if swings and i % 100 == 0 and i < 600:
            market.inject_swing("BTCUSD", start_ns=now, size_sigma=8, duration_s=5,
                                direction="up" if i % 200 else "down", shape="ramp",
                                burst_rate=30.0, one_sided=0.9)
        out.extend(market.advance(now))
    return out, market.labels


def test_determinism_with_sv_and_swings() -> None:
    a, labels_a = run_sv(5, swings=True)
    b, labels_b = run_sv(5, swings=True)
    assert a == b and labels_a == labels_b and len(labels_a) == 5
    c, _ = run_sv(6, swings=True)
    assert a != c


def test_burst_and_one_sided_flow() -> None:
    quiet, _ = run_sv(5, swings=False)
    loud, labels = run_sv(5, swings=True)
    assert len(loud) > len(quiet)
    for label in labels:
        inside = [t for t in loud if label.start_ns <= t.ts_ns < label.end_ns]
        side = "Buy" if label.direction == "up" else "Sell"
        assert len(inside) > 5 * 20  # ~30 extra trades/s for 5 s, plus the base rate
        assert sum(t.side == side for t in inside) > 0.8 * len(inside)


def test_stochastic_volatility_moves_and_keeps_mean() -> None:
    market = Market(("BTCUSD",), seed=2, rate=5.0, start_ns=T0, vol_of_vol=1.0,
                    vol_reversion_s=60.0, jumps=False)
    levels = []
    for i in range(1, 4001):
        market.advance(T0 + i * SEC)
        levels.append(market.volatility("BTCUSD"))
    logs = [math.log(v / 1e-4) for v in levels]
    assert statistics.pstdev(logs) == pytest.approx(1.0, rel=0.3)
    mean_var = statistics.fmean(v * v for v in levels)
    assert mean_var == pytest.approx(1e-8, rel=0.5)


def test_bad_swings_are_refused() -> None:
    market = Market(("BTCUSD",), seed=2, rate=5.0, start_ns=T0)
    market.advance(T0 + 10 * SEC)
    with pytest.raises(ValueError, match="before the market clock"):
        market.inject_swing("BTCUSD", start_ns=T0, size_sigma=6, duration_s=2,
                            direction="up", shape="ramp")
    with pytest.raises(ValueError, match="grind needs"):
        market.inject_swing("BTCUSD", start_ns=T0 + 10 * SEC, size_sigma=6, duration_s=2,
                            direction="up", shape="grind")
    with pytest.raises(ValueError, match="unknown symbol"):
        market.inject_swing("XRPUSD", start_ns=T0 + 10 * SEC, size_sigma=6, duration_s=2,
                            direction="up", shape="ramp")
    with pytest.raises(ValueError, match="vol_of_vol"):
        Market(("BTCUSD",), start_ns=T0, vol_of_vol=-1.0)
