"""DetectorParams turned into the integers and factors the per-bar work reads."""

from __future__ import annotations

import math

from ticklake.detect.params import DetectorParams

__all__ = ["Plan"]


class Plan:
    """DetectorParams turned into integers and precomputed factors (built once)."""

    def __init__(self, params: DetectorParams) -> None:
        p = params
        self.params = p
        self.bar_ns = round(p.bar_s * 1e9)
        self.vol_bar_ns = round(p.vol_bar_s * 1e9)
        self.horizon_bars = tuple(max(1, round(h / p.bar_s)) for h in p.horizons_s)
        # Shortest span measured from an episode's end price (see refs).
        self.rearm_floor_ns = max(self.horizon_bars[0] * self.bar_ns,
                                  round(p.rearm_floor_s * 1e9))
        self.thresholds = p.thresholds()
        # Horizons from coarse_from_s on take their reference on the volatility-bar grid
        # (it moves once per vol bar, not per bar): their band part is computed once per vol
        # bar, which keeps the per-bar work to the few short horizons.
        self.per_vol_bar = round(p.vol_bar_s / p.bar_s)
        self.n_fine = sum(1 for h in p.horizons_s if h < p.coarse_from_s)
        self.fine_bars = self.horizon_bars[: self.n_fine]
        self.coarse_bars = self.horizon_bars[self.n_fine:]
        self.ring_n = max(self.horizon_bars) + round(p.vol_bar_s / p.bar_s) + 2
        self.vol_decay = 0.5 ** (p.vol_bar_s / p.vol_half_life_s)
        self.fast_decay = (0.5 ** (p.vol_bar_s / p.vol_fast_half_life_s)
                           if p.vol_fast_half_life_s > 0 else 0.0)
        self.rate_decay = 0.5 ** (p.vol_bar_s / p.intensity_slow_half_life_s)
        self.short_decay = (0.5 ** (p.vol_bar_s / p.vol_short_half_life_s)
                            if p.vol_short_half_life_s > 0 else 0.0)
        self.stale_decay = self.fast_decay or self.vol_decay
        self.stale_inflation = p.vol_stale_inflation
        self.stale_min_bars = max(1, round(p.vol_stale_min_s / p.vol_bar_s))
        self.short_lag = max(1, round(p.vol_short_lag_s / p.vol_bar_s))
        # Volatility snapshots, one per vol bar, as far back as the longest horizon.
        self.snap_n = math.ceil(max(p.horizons_s) / p.vol_bar_s) + 2
        self.winsor = p.winsor_sigma
        self.demean = p.vol_demean
        self.floor2 = p.vol_floor**2
        self.warmup_ns = round(p.warmup_s * 1e9)
        self.freeze_ns = round(p.vol_freeze_s * 1e9)
        self.silence_ns = round(p.max_silence_s * 1e9)
        self.stale_ns = round(p.mid_stale_s * 1e9)
        self.intensity_bars = max(1, round(p.intensity_fast_s / p.bar_s))
