"""The local volatility estimate of a symbol, and the scales and band factors it sets.

Runs once per volatility bar (and when an episode starts or a gap ends), never per trade.
These are methods of ``state.SymbolState`` (bound there), written out here: the state keeps
one flat ``__slots__``, which the snapshot format reads field by field.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ticklake.detect.state import SymbolState

__all__ = ["VolSnap", "restart_vol_baseline", "rewind_vol", "roll_vol", "set_sigma"]

_LOG = math.log

# (vol bar, vol_s, vol_m, vol_w, fast_s, fast_m, fast_w, short_s, short_m, short_w, sigma,
# short sigma) at a vol bar's close: what an episode's start rewinds to.
VolSnap = tuple[int, float, float, float, float, float, float, float, float, float, float,
                float]


def roll_vol(st: SymbolState, ts_ns: int, frozen: bool) -> None:
    """Close volatility bars up to ``ts_ns``; the estimate is frozen during an alert."""
    plan = st.plan
    vb = ts_ns // plan.vol_bar_ns
    elapsed = vb - st.vbar
    if elapsed <= 0:
        return
    # The return known now runs to the last trade, not to ``ts_ns``: after a silence the
    # bars since that trade hold no information (counted as seconds of no move, a 59 s
    # hole deflated sigma by a fifth). The next return spans them: one observation of the
    # variance over the silence, weighted as one bar (a single return is one degree of
    # freedom whatever its span). Dropping it left the estimate a silence behind a
    # volatility that moved meanwhile (issue 16: alarms after 40-59 s silences).
    known = min(max(st.last_ns // plan.vol_bar_ns + 1 - st.vbar, 1), elapsed)
    bars = known + st.vol_extra
    st.vol_extra = elapsed - known
    if plan.stale_inflation:
        st.stale_boost *= plan.stale_decay**elapsed
        if st.vol_extra >= plan.stale_min_bars:
            st.stale_boost = max(st.stale_boost, plan.stale_inflation
                                 * (1.0 - plan.stale_decay**st.vol_extra))
    st.vbar = vb
    lp = _LOG(st.price)
    r = lp - st.vol_lp  # NaN after a gap: this bar only sets the new baseline
    st.vol_lp = lp
    d = plan.rate_decay**elapsed
    st.rate_s = st.rate_s * d + (st.count - st.vol_count)
    st.rate_w = st.rate_w * d + elapsed
    st.vol_count = st.count
    if frozen or math.isnan(r):
        return
    if st.vol_w > 0:
        # Winsorise at winsor_sigma local sigmas over the span: a jump cannot blow up
        # the scale that is supposed to reveal it.
        cap = plan.winsor * st.sigma * math.sqrt(bars * plan.params.vol_bar_s)
        r = max(-cap, min(cap, r))
    # Per bar: the return and its square over the bars it spans, weighted as one bar.
    r = r / bars if bars > 1 else r
    r2 = r * r * bars
    span = plan.params.vol_bar_s
    d = plan.vol_decay**elapsed
    st.vol_m = st.vol_m * d + r
    st.vol_s = st.vol_s * d + r2
    st.vol_w = st.vol_w * d + span
    var = _variance(st.vol_s, st.vol_m, st.vol_w, plan.demean)
    if plan.fast_decay:
        d = plan.fast_decay**elapsed
        st.fast_m = st.fast_m * d + r
        st.fast_s = st.fast_s * d + r2
        st.fast_w = st.fast_w * d + span
        var = max(var, _variance(st.fast_s, st.fast_m, st.fast_w, plan.demean))
    short_sigma = 0.0
    if plan.short_decay:
        d = plan.short_decay**elapsed
        st.short_m = st.short_m * d + r
        st.short_s = st.short_s * d + r2
        st.short_w = st.short_w * d + span
        short_sigma = math.sqrt(_variance(st.short_s, st.short_m, st.short_w,
                                          plan.demean))
    sigma = math.sqrt(max(var, plan.floor2))
    st.vol_snap[vb % plan.snap_n] = (
        vb, st.vol_s, st.vol_m, st.vol_w, st.fast_s, st.fast_m, st.fast_w,
        st.short_s, st.short_m, st.short_w, sigma, short_sigma)
    set_sigma(st, sigma, _lagged_short(st, vb))


def _lagged_short(st: SymbolState, vb: int) -> float:
    """The short-horizon estimate as of short_lag vol bars ago (0 if none)."""
    plan = st.plan
    if not plan.short_decay:
        return 0.0
    snap = st.vol_snap[(vb - plan.short_lag) % plan.snap_n]
    return snap[11] if snap is not None and snap[0] == vb - plan.short_lag else 0.0


def rewind_vol(st: SymbolState, to_ns: int) -> None:
    """Restore the volatility estimate of the last vol bar before ``to_ns``.

    Called when an episode starts: the bars of the move before it was detected must not
    inflate the scale that measures it (nor the next swing's).
    """
    plan = st.plan
    vb = to_ns // plan.vol_bar_ns
    for back in range(plan.snap_n):
        snap = st.vol_snap[(vb - back) % plan.snap_n]
        if snap is not None and snap[0] == vb - back:
            (_, st.vol_s, st.vol_m, st.vol_w, st.fast_s, st.fast_m, st.fast_w,
             st.short_s, st.short_m, st.short_w, sigma, _) = snap
            set_sigma(st, sigma, _lagged_short(st, snap[0]))
            return
        if snap is not None and snap[0] < vb - back:
            return  # no snapshot that old is kept (or a frozen stretch): keep as is


def set_sigma(st: SymbolState, sigma: float, short_sigma: float = 0.0) -> None:
    """New scales (per sqrt(ns), one per horizon) and band factors, computed once here.

    Short horizons use max(sigma, the lagged short-window estimate): it catches a
    volatility rise within seconds, and being lagged it never contains the short swing
    it is measuring. Every scale also carries the stale boost after a silence (roll_vol).
    """
    st.sigma = sigma
    plan = st.plan
    grow = 3.1622776601683795e-05 * (1.0 + st.stale_boost)
    per_ns = sigma * grow
    fine_ns = max(sigma, short_sigma) * grow
    st.hz_sig = [fine_ns] * plan.n_fine + [per_ns] * (len(plan.thresholds) - plan.n_fine)
    k = [t * q for t, q in zip(plan.thresholds, st.hz_sig, strict=True)]
    st.fine_k = k[: plan.n_fine]
    st.coarse_k = k[plan.n_fine:]
    st.coarse_at = -1


def restart_vol_baseline(st: SymbolState) -> None:
    """The next volatility bar only sets a baseline (a return across a gap is no return)."""
    st.vol_lp = math.nan


def _variance(s2: float, s1: float, w: float, demean: bool) -> float:
    """Per-second variance from EW sums of r² and r over w seconds (bias-corrected).

    Demeaned, a steady drift (a ramp, a grind) does not inflate the scale that measures it;
    on quiet data the mean is ~0 and this changes nothing.
    """
    if not demean:
        return s2 / w
    mean = s1 / w
    return max(s2 / w - mean * mean, 0.0)
