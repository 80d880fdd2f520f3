"""Per-horizon thresholds: the tilt that gives long horizons a share of the false-alarm
budget, its floor, and the per-horizon scales on top (issue 16)."""

from __future__ import annotations

import math

import pytest

from ticklake.detect import DetectorParams, SwingDetector
from ticklake.errors import ConfigError

from .streams import SEC, T0, Row, stream

HORIZONS = (0.5, 1.0, 5.0, 60.0, 600.0)


def test_no_tilt_is_one_threshold_for_every_horizon() -> None:
    params = DetectorParams(horizons_s=HORIZONS, threshold=5.0, threshold_tilt=0.0)
    assert params.thresholds() == (5.0,) * len(HORIZONS)


def test_a_full_tilt_follows_the_scan_asymptotics_down_to_its_floor() -> None:
    params = DetectorParams(horizons_s=HORIZONS, threshold=5.0, threshold_tilt=1.0,
                            tilt_floor=0.75)
    got = params.thresholds()
    assert got[0] == 5.0  # the shortest horizon keeps the threshold
    for w, t in zip(HORIZONS, got, strict=True):
        # A window W crosses a level as often as 1/W: same rate as the shortest at
        # t² = threshold² - 2 ln(W / shortest), unless that is below the floor.
        expected = math.sqrt(25.0 - 2.0 * math.log(w / HORIZONS[0]))
        assert t == pytest.approx(max(expected, 3.75))
    assert got[-1] == pytest.approx(3.75)  # 600 s would be 3.26: floored
    assert list(got) == sorted(got, reverse=True)


def test_half_a_tilt_is_half_the_step_in_squared_threshold() -> None:
    full = DetectorParams(horizons_s=HORIZONS, threshold=5.0, threshold_tilt=1.0,
                          tilt_floor=0.1).thresholds()
    half = DetectorParams(horizons_s=HORIZONS, threshold=5.0, threshold_tilt=0.5,
                          tilt_floor=0.1).thresholds()
    for f, h in zip(full, half, strict=True):
        assert 25.0 - h * h == pytest.approx((25.0 - f * f) / 2)


def test_horizon_scales_multiply_the_tilted_thresholds() -> None:
    scales = (1.0, 1.1, 1.0, 0.9, 1.0)
    plain = DetectorParams(horizons_s=HORIZONS, threshold_tilt=1.0).thresholds()
    scaled = DetectorParams(horizons_s=HORIZONS, threshold_tilt=1.0,
                            horizon_scale=scales).thresholds()
    assert scaled == pytest.approx([p * s for p, s in zip(plain, scales, strict=True)])


@pytest.mark.parametrize(("field", "value"), [
    ("threshold_tilt", -0.5), ("threshold_tilt", math.nan), ("tilt_floor", 0.0),
    ("tilt_floor", 1.5), ("vol_freeze_s", -1.0), ("vol_stale_inflation", -0.1),
    ("vol_stale_min_s", math.inf)])
def test_bad_tilt_and_volatility_settings_name_the_field(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=field):
        DetectorParams(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize("freeze_s", [60.0, 2.0])
def test_the_volatility_estimate_is_frozen_for_vol_freeze_s_after_a_detection(
        freeze_s: float) -> None:
    """A swing must not inflate the scale that measures it (frozen whole episode, the old
    way); a volatility rise read as a swing must not freeze the estimate that explains it
    (frozen only for vol_freeze_s, after a rewind to before the move)."""
    rows, _ = stream(5, 900, swings=(("ramp", 60, 8, "down"),), first_s=400)
    detector = SwingDetector(DetectorParams(vol_freeze_s=freeze_s))
    detected_ns: int | None = None
    during: list[tuple[float, float]] = []  # (seconds since detection, sigma) while open
    phases = []
    for row in rows:
        for anomaly in detector.on_trade(*row) or ():
            phases.append(anomaly.phase)
            if anomaly.phase == "start":
                detected_ns = row[1]
            elif anomaly.phase == "end":
                detected_ns = None
        if detected_ns is not None:
            during.append(((row[1] - detected_ns) / SEC, detector.sigma(row[0])))
    assert phases[0] == "start" and phases[-1] == "end"
    assert during[-1][0] > 30  # a long episode: the ramp goes on after its detection
    frozen = {s for t, s in during if t < freeze_s - 1}
    assert len(frozen) == 1  # nothing moves the estimate inside the freeze
    after = {s for t, s in during if t > freeze_s + 1}
    if freeze_s < during[-1][0]:
        assert len(after) > 10  # ... and it follows the market after it
    else:
        assert not after


def _score_of_step(rows: list[Row], step_ns: int, params: DetectorParams) -> float:
    """The start score (|z| on the alerting horizon) of a 0.5 % step at ``step_ns``."""
    detector = SwingDetector(params)
    for symbol, ts, price, qty, buy in rows:
        moved = price * 1.005 if ts >= step_ns else price
        for anomaly in detector.on_trade(symbol, ts, moved, qty, buy) or ():
            if anomaly.phase == "start" and anomaly.ts_detect_ns >= step_ns:
                return anomaly.score
    msg = "the step was not seen"
    raise AssertionError(msg)


@pytest.mark.parametrize(("silence_s", "boost"), [
    (50.0, 0.5 * (1 - 0.5 ** (50 / 30)) * 0.5 ** (10 / 30)), (8.0, 0.0)])
def test_after_a_long_silence_scales_grow_by_the_stale_boost(
        silence_s: float, boost: float) -> None:
    """The estimate is a silence old: 10 s after a 50 s one, scales are larger by 0.5 x the
    fast estimator's weight lost in it, worn down by 10 s of its half-life (30 s); the same
    step scores that much less. Silences under vol_stale_min_s (10 s) change nothing."""
    rows, _ = stream(7, 720, vol_of_vol=0.0)
    cut = T0 + 600 * SEC
    rows = [r for r in rows if not cut <= r[1] < cut + round(silence_s * SEC)]
    step_ns = cut + round((silence_s + 10) * SEC)
    plain = _score_of_step(rows, step_ns, DetectorParams(vol_stale_inflation=0.0))
    stale = _score_of_step(rows, step_ns, DetectorParams(vol_stale_inflation=0.5))
    assert plain / stale == pytest.approx(1 + boost, rel=0.01)
