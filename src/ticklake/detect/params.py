"""Every tunable of the swing detector, its validation and its hash (docs/detector.md)."""

from __future__ import annotations

import hashlib
import math

import msgspec

from ticklake.errors import ConfigError

__all__ = ["DETECTOR_VERSION", "DetectorParams", "parse_params"]

# Bump when the same params would give different output (the lake keeps both).
# 1.1: episodes end at their deadline; re-arm range. 1.2: a silence ages the volatility
# estimate instead of counting as seconds of no move. 1.3: tilted per-horizon thresholds,
# denser horizons, the estimate frozen only for the detection's volatility bar.
DETECTOR_VERSION = "swing-1.3"


class DetectorParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Tunables with the defaults calibrated by ``bench/detect_eval.py`` (docs/detector.md).

    Times are seconds. Volatility is a log-price sd per sqrt(second).
    """

    # L2 horizons: a move over W seconds is compared with sigma * sqrt(W). Dense at the short
    # end (delay of 1-2 s swings), up to 10 min (grinds). The reference of a horizon is a bar
    # close, so its real span is W .. W + bar_s.
    horizons_s: tuple[float, ...] = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0,
                                     30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)
    bar_s: float = 0.25
    # Horizons from this one on take references on the vol_bar_s grid (span W .. W + 1 s).
    coarse_from_s: float = 5.0
    # L3: alert when |z_W| >= threshold * scale_W; scale_W defaults to 1 for every horizon.
    # Calibrated by bench/detect_eval2.py: 0.5 FA/h on both generators' calibration streams.
    threshold: float = 5.29
    horizon_scale: tuple[float, ...] = ()
    # Longer horizons get lower thresholds: horizon W alerts at
    # sqrt(threshold² - 2 * tilt * ln(W / shortest)). A window of W seconds, watched without
    # pause, crosses a level as often as 1/W (Siegmund's scan asymptotics), so at one threshold
    # the long horizons would spend almost none of the false-alarm budget and be slow on slow
    # ramps; tilt 1 gives every horizon the same share, 0 one threshold for all.
    threshold_tilt: float = 1.0
    # ... but never below this share of the threshold (long horizons are where real markets
    # trend, and where a stale volatility estimate weighs most).
    tilt_floor: float = 0.7
    # L1 volatility: bias-corrected EWMA of winsorised squared returns on vol_bar_s bars.
    vol_bar_s: float = 1.0
    vol_half_life_s: float = 120.0
    # Optional faster estimator; the scale is then max(slow, fast) (reacts to vol rising).
    vol_fast_half_life_s: float = 30.0
    # Short horizons (< coarse_from_s) also use a short-window estimate lagged by
    # vol_short_lag_s (0 = off): fast on volatility rises, blind to the short swing itself.
    vol_short_half_life_s: float = 5.0
    vol_short_lag_s: float = 2.0
    winsor_sigma: float = 4.0
    # The estimate is rewound to before the move when an episode starts, then frozen for this
    # long (or to the episode's end): a swing must not inflate the scale that measures it. A
    # volatility rise read as a swing must not freeze the estimate that would explain it.
    vol_freeze_s: float = 0.0
    # After a silence of vol_stale_min_s or more, scales grow by this share of the weight the
    # fast estimator lost in it (1 - decay**silence): the estimate is that old, and the
    # volatility may have moved meanwhile. The extra wears off with the fast half-life.
    vol_stale_inflation: float = 0.5
    vol_stale_min_s: float = 10.0
    vol_demean: bool = True  # variance around the EW mean return (drift-robust)
    vol_floor: float = 1e-6  # 0.01 bp/sqrt(s): a frozen price never gives infinite z
    warmup_s: float = 120.0  # no alert before this much history of the symbol
    # L1 price: mid of the last buy and last sell print (filters bid-ask bounce) unless the
    # other side printed more than this long ago (one-sided flow: use the trade price).
    mid_stale_s: float = 1.0
    # L0: a silence this long is treated as a gap (horizons across it are suspended).
    max_silence_s: float = 60.0
    # Episodes: end when no new extreme for quiet_frac * trigger horizon (clamped), or after
    # max_episode_s (then re-arm: a detector that stays on re-alerts and is charged).
    end_quiet_frac: float = 0.5
    end_quiet_min_s: float = 3.0
    end_quiet_max_s: float = 30.0
    max_episode_s: float = 60.0
    # Right after an end, until the shortest horizon has a reference after it, moves are
    # measured from the end price (or beyond the episode's extreme) over at least this span:
    # a step of > 6.4 local sigmas starting then is caught; noise after a false alarm's end, when
    # the frozen scale is stale, is not read as a second one (bench: 1 s costs 4 more false
    # positives in 48 h of event streams and 1 in 24 h quiet; 2 s: 1 and 0).
    rearm_floor_s: float = 2.0
    update_growth: float = 0.25  # emit an update when the score grew by this share ...
    update_min_s: float = 1.0  # ... and at most this often
    flash_retrace: float = 0.5  # share of the move given back by the end: kind "flash"
    grind_horizon_s: float = 120.0  # trigger horizon from which an episode is a "grind"
    # L4 context: trade intensity over intensity_fast_s against a slow EWMA rate.
    intensity_fast_s: float = 10.0
    intensity_slow_half_life_s: float = 1800.0

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem is not None:
            name, why = problem
            raise ConfigError(name, getattr(self, name), why)

    def _problem(self) -> tuple[str, str] | None:
        """The first invalid field and why, or None."""
        for name in ("bar_s", "vol_bar_s", "threshold", "vol_half_life_s", "winsor_sigma",
                     "vol_floor", "max_silence_s", "end_quiet_min_s", "max_episode_s",
                     "intensity_fast_s", "intensity_slow_half_life_s"):
            if not (_finite(getattr(self, name)) and getattr(self, name) > 0):
                return name, "must be a finite number > 0"
        for name in ("vol_fast_half_life_s", "vol_short_half_life_s", "vol_short_lag_s",
                     "warmup_s", "mid_stale_s", "update_growth", "rearm_floor_s",
                     "update_min_s", "end_quiet_frac", "threshold_tilt",
                     "vol_freeze_s", "vol_stale_inflation", "vol_stale_min_s"):
            if not (_finite(getattr(self, name)) and getattr(self, name) >= 0):
                return name, "must be a finite number >= 0"
        if abs(self.vol_bar_s / self.bar_s - round(self.vol_bar_s / self.bar_s)) > 1e-9:
            return "vol_bar_s", "must be a whole multiple of bar_s"
        if not (_finite(self.coarse_from_s) and self.coarse_from_s >= 0):
            return "coarse_from_s", "must be a finite number >= 0"
        hz = self.horizons_s
        if not hz or any(not (_finite(h) and h >= self.bar_s) for h in hz):
            return "horizons_s", "each must be a finite number >= bar_s"
        if list(hz) != sorted(set(hz)):
            return "horizons_s", "must be strictly increasing"
        if self.horizon_scale and len(self.horizon_scale) != len(hz):
            return "horizon_scale", "needs one scale per horizon"
        if any(not (_finite(s) and s > 0) for s in self.horizon_scale):
            return "horizon_scale", "each must be a finite number > 0"
        if not (_finite(self.tilt_floor) and 0 < self.tilt_floor <= 1):
            return "tilt_floor", "must be a number in (0, 1]"
        if self.end_quiet_max_s < self.end_quiet_min_s:
            return "end_quiet_max_s", "must be >= end_quiet_min_s"
        return None

    def scales(self) -> tuple[float, ...]:
        return self.horizon_scale or (1.0,) * len(self.horizons_s)

    def thresholds(self) -> tuple[float, ...]:
        """The |z| each horizon alerts at: threshold, tilted, times its scale."""
        t2 = self.threshold * self.threshold
        shortest = self.horizons_s[0]
        out = []
        for w, scale in zip(self.horizons_s, self.scales(), strict=True):
            tilted = math.sqrt(max(t2 - 2.0 * self.threshold_tilt * math.log(w / shortest),
                                   0.0))
            out.append(max(tilted, self.tilt_floor * self.threshold) * scale)
        return tuple(out)

    def hash(self) -> str:
        """Short hex digest of every field and the detector version (``params_hash``)."""
        blob = msgspec.json.encode([DETECTOR_VERSION, msgspec.structs.asdict(self)])
        return hashlib.sha1(blob, usedforsecurity=False).hexdigest()[:12]


def parse_params(items: list[str]) -> DetectorParams:
    """``NAME=VALUE`` overrides (VALUE in JSON, e.g. ``warmup_s=30``) on the defaults."""
    option = "--param"
    overrides: dict[str, object] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(option, item, "expected NAME=VALUE")
        try:
            overrides[name.strip()] = msgspec.json.decode(text)
        except msgspec.DecodeError:
            overrides[name.strip()] = text  # a bare string
    try:
        return msgspec.convert(overrides, DetectorParams)
    except msgspec.ValidationError as exc:
        raise ConfigError(option, None, str(exc)) from None


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
