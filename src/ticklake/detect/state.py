"""Per-symbol state: bar rings, local volatility, trade intensity and the alert band.

Everything here runs once per bar (``bar_s``) or once per volatility bar, never per trade:
the per-trade path (``detector.SwingDetector.on_trade``) only compares the price with the
band this module precomputes. The volatility estimate's methods are written out in
``volatility``, the params turned into integers in ``plan``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ticklake.detect import volatility
from ticklake.detect.plan import Plan

if TYPE_CHECKING:
    from ticklake.detect.episodes import Episode

__all__ = ["Plan", "SymbolState"]

_INF = math.inf
_LOG = math.log


class SymbolState:
    """Everything the detector keeps for one symbol (slots: the hot path reads these)."""

    __slots__ = (
        "anchor_ns",
        "band_hi",
        "band_lo",
        "bar",
        "buy_ns",
        "coarse_at",
        "coarse_hi",
        "coarse_k",
        "coarse_lo",
        "count",
        "cum_signed",
        "cum_vol",
        "due_ns",
        "episode",
        "fast_m",
        "fast_s",
        "fast_w",
        "fine_k",
        "first_ns",
        "frozen_to_ns",
        "gap_end_ns",
        "hz_sig",
        "last_buy",
        "last_ns",
        "last_sell",
        "next_bar_ns",
        "plan",
        "price",
        "qmax",
        "rate_s",
        "rate_w",
        "rearm_cnt",
        "rearm_hi",
        "rearm_lo",
        "rearm_sv",
        "rearm_vol",
        "rearmed",
        "ring_cnt",
        "ring_lp",
        "ring_qmax",
        "ring_sv",
        "ring_ts",
        "ring_vol",
        "sell_ns",
        "short_m",
        "short_s",
        "short_w",
        "sigma",
        "stale_boost",
        "symbol",
        "vbar",
        "vol_count",
        "vol_extra",
        "vol_lp",
        "vol_m",
        "vol_s",
        "vol_snap",
        "vol_w",
        "warm_ns",
    )

    def __init__(self, symbol: str, plan: Plan, ts_ns: int, price: float) -> None:
        self.symbol = symbol
        self.plan = plan
        n = plan.ring_n
        lp = _LOG(price)
        self.ring_lp = [lp] * n  # log price at each bar's close
        # Time of the last trade at each bar's close; before the first trade, older than the
        # anchor, so that no horizon reaches back before the data.
        self.ring_ts = [ts_ns - 1] * n
        self.ring_cnt = [0] * n  # cumulative trade count at each bar's close
        self.ring_sv = [0.0] * n  # cumulative signed volume
        self.ring_vol = [0.0] * n  # cumulative volume
        self.ring_qmax = [0.0] * n  # largest trade inside the bar
        self.bar = ts_ns // plan.bar_ns
        self.next_bar_ns = (self.bar + 1) * plan.bar_ns
        # The next trade time with work beyond the band check: a bar close, an episode's end.
        self.due_ns = self.next_bar_ns
        # A reference is live only if its trade is at or after this time (start, gap, end).
        self.anchor_ns = ts_ns
        self.first_ns = ts_ns
        self.warm_ns = ts_ns + plan.warmup_ns
        self.last_ns = ts_ns
        self.price = price
        self.last_buy = self.last_sell = price
        self.buy_ns = self.sell_ns = ts_ns
        self.count = 0
        self.cum_signed = 0.0
        self.cum_vol = 0.0
        self.qmax = 0.0
        self.vbar = ts_ns // plan.vol_bar_ns
        self.vol_lp = lp
        self.vol_count = 0
        self.vol_extra = 0  # silent volatility bars the next return spans as well
        self.stale_boost = 0.0  # scales' extra share after a silence (vol_stale_inflation)
        self.vol_s = self.vol_m = self.vol_w = 0.0
        self.fast_s = self.fast_m = self.fast_w = 0.0
        self.rate_s = self.rate_w = 0.0
        self.sigma = 0.0
        self.fine_k: list[float] = []
        self.coarse_k: list[float] = []
        self.short_s = self.short_m = self.short_w = 0.0
        self.hz_sig: list[float] = []  # scale of each horizon, per sqrt(ns)
        self.vol_snap: list[volatility.VolSnap | None] = [None] * plan.snap_n
        self.gap_end_ns = 0  # the end of the last gap (explicit, or a long silence)
        # Volatility bars that start at or before this are not counted (an episode's move).
        self.frozen_to_ns = 0
        # Right after an episode's end, the shortest horizon measures from the range between
        # the end price and the episode's extreme (see refs), and the counters at the end.
        self.rearmed = False
        self.rearm_hi = self.rearm_lo = 0.0
        self.rearm_cnt = 0
        self.rearm_sv = self.rearm_vol = 0.0
        self.coarse_at = -1  # first bar of the vol bar the coarse band part was built for
        self.coarse_hi, self.coarse_lo = _INF, -_INF
        self.band_hi = _INF  # price above which a trade must be examined
        self.band_lo = -_INF
        self.episode: Episode | None = None  # while an alert is active

    # ------------------------------------------------------------------ bars

    def close_bars(self, bar: int) -> None:
        """Close every bar before ``bar`` at the current price (the ring holds closes)."""
        n = self.plan.ring_n
        first = self.bar if bar - self.bar <= n else bar - n
        lp = _LOG(self.price)
        ring_lp, ring_cnt, ring_sv = self.ring_lp, self.ring_cnt, self.ring_sv
        ring_vol, ring_qmax, ring_ts = self.ring_vol, self.ring_qmax, self.ring_ts
        cnt, sv, vol, last_ns = self.count, self.cum_signed, self.cum_vol, self.last_ns
        for b in range(first, bar):
            i = b % n
            ring_lp[i] = lp
            ring_ts[i] = last_ns
            ring_cnt[i] = cnt
            ring_sv[i] = sv
            ring_vol[i] = vol
            ring_qmax[i] = 0.0
        if first == self.bar:
            ring_qmax[first % n] = self.qmax
        self.qmax = 0.0
        self.bar = bar
        self.next_bar_ns = self.due_ns = (bar + 1) * self.plan.bar_ns

    # ------------------------------------------------------------------ volatility

    roll_vol = volatility.roll_vol
    rewind_vol = volatility.rewind_vol
    set_sigma = volatility.set_sigma
    restart_vol_baseline = volatility.restart_vol_baseline

    # ------------------------------------------------------------------ horizons

    def refs(self, ts_ns: int, lp: float) -> list[tuple[int, float, int]]:
        """(horizon index, reference log price, its trade's time) of each live horizon.

        The reference of horizon W is the close of the bar that ended W (rounded to bars)
        before the open bar; the price there is the last trade's, which may be older when
        trading is sparse. Scales use the real span since that trade: the variance of a
        move between two trades is sigma² times the time between them, not times W.
        Right after an episode's end, until the shortest horizon has a reference after it,
        that horizon measures ``lp`` over max(time since the end, rearm_floor_s) from the
        end price, or from the episode's extreme for a move beyond it: a swing starting then
        is not missed, and the move the episode was charged for does not alert again.
        """
        plan = self.plan
        n = plan.ring_n
        cur = self.bar - 1
        m = plan.per_vol_bar
        coarse = self.bar // m * m - 1  # last bar of the previous vol bar
        n_fine = plan.n_fine
        anchor = self.anchor_ns
        ring, ring_ts = self.ring_lp, self.ring_ts
        out = []
        for i, nb in enumerate(plan.horizon_bars):
            j = ((cur if i < n_fine else coarse) - nb) % n
            ref_ns = ring_ts[j]
            if ref_ns < anchor:
                if i == 0 and self.rearmed:
                    ref = self.rearm_ref(lp)
                    if ref is not None:
                        out.append((0, ref, min(anchor, ts_ns - plan.rearm_floor_ns)))
                break  # horizons are increasing: the longer ones reach further back
            out.append((i, ring[j], ref_ns))
        return out

    def idle_band(self, ts_ns: int) -> None:
        """Prices beyond which some horizon's |z| may reach its threshold (or no band).

        Widths use the shortest span any trade of the open bar (vol bar, for the coarse
        horizons) can have, so the band never hides an alert; the detector's ``_examine``
        computes the exact z. Once per bar: keep it lean (no builtins, no slicing).
        """
        if ts_ns < self.warm_ns:
            self.band_hi, self.band_lo = _INF, -_INF
            return
        plan = self.plan
        n = plan.ring_n
        bar = self.bar
        anchor = self.anchor_ns
        ring, ring_ts = self.ring_lp, self.ring_ts
        sqrt = math.sqrt
        vb_first = bar // plan.per_vol_bar * plan.per_vol_bar
        if self.coarse_at != vb_first:  # once per vol bar (or after a suspend)
            self.coarse_at = vb_first
            hi, lo = _INF, -_INF
            start = vb_first * plan.bar_ns
            cur = vb_first - 1
            for nb, k in zip(plan.coarse_bars, self.coarse_k, strict=True):
                i = (cur - nb) % n
                ref_ns = ring_ts[i]
                if ref_ns < anchor:
                    break  # horizons are increasing: the longer ones reach further back
                ref = ring[i]
                w = k * sqrt(start - ref_ns)
                if ref + w < hi:  # noqa: PLR1730 (builtins cost more here)
                    hi = ref + w
                if ref - w > lo:  # noqa: PLR1730
                    lo = ref - w
            self.coarse_hi, self.coarse_lo = hi, lo
        hi, lo = self.coarse_hi, self.coarse_lo
        cur = bar - 1
        start = bar * plan.bar_ns
        for nb, k in zip(plan.fine_bars, self.fine_k, strict=True):
            i = (cur - nb) % n
            ref_ns = ring_ts[i]
            if ref_ns < anchor:
                break
            ref = ring[i]
            w = k * sqrt(start - ref_ns)
            if ref + w < hi:  # noqa: PLR1730
                hi = ref + w
            if ref - w > lo:  # noqa: PLR1730
                lo = ref - w
        if self.rearmed:
            hi, lo = self._rearm_band(hi, lo, vb_first)
        self.band_hi = math.exp(hi) if hi < _INF else _INF
        self.band_lo = math.exp(lo) if lo > -_INF else -_INF

    def _rearm_band(self, hi: float, lo: float, vb_first: int) -> tuple[float, float]:
        """The band with the end price as the shortest horizon's reference, while its own
        reference is before the end (as in ``refs``); then the re-arm is over."""
        plan = self.plan
        fine = plan.n_fine > 0
        first_bar = self.bar if fine else vb_first  # the open (vol) bar: the shortest span
        ref_ns = self.ring_ts[(first_bar - 1 - plan.horizon_bars[0]) % plan.ring_n]
        if ref_ns >= self.anchor_ns:
            self.rearmed = False
            return hi, lo
        k = self.fine_k[0] if fine else self.coarse_k[0]
        w = k * math.sqrt(max(first_bar * plan.bar_ns - self.anchor_ns, plan.rearm_floor_ns))
        return min(hi, self.rearm_hi + w), max(lo, self.rearm_lo - w)

    def suspend(self, to_ns: int) -> None:
        """Horizons whose reference trade is before ``to_ns`` are suspended (a gap, an end)."""
        self.anchor_ns = max(self.anchor_ns, to_ns)
        self.band_hi, self.band_lo = _INF, -_INF
        self.coarse_at = -1
        self.rearmed = False

    def rearm_ref(self, lp: float) -> float | None:
        """The reference of ``lp`` right after an end: the near edge of the re-arm range."""
        if lp > self.rearm_hi:
            return self.rearm_hi
        if lp < self.rearm_lo:
            return self.rearm_lo
        return None

    def rearm(self, end_ns: int, ext_lp: float) -> None:
        """An episode that went as far as ``ext_lp`` ended at ``end_ns``: re-arm (refs)."""
        self.suspend(end_ns)
        self.frozen_to_ns = min(self.frozen_to_ns, end_ns)
        self.rearmed = True
        lp = _LOG(self.price)
        self.rearm_hi, self.rearm_lo = max(lp, ext_lp), min(lp, ext_lp)
        self.rearm_cnt = self.count
        self.rearm_sv = self.cum_signed
        self.rearm_vol = self.cum_vol

    def intensity_z(self) -> float:
        """Trades over the last intensity_fast_s against the slow rate (Poisson z)."""
        plan = self.plan
        if self.rate_w <= 0:
            return 0.0
        nb = min(plan.intensity_bars, plan.ring_n - 1)
        recent = self.count - self.ring_cnt[(self.bar - nb) % plan.ring_n]
        expected = self.rate_s / self.rate_w / plan.params.vol_bar_s * nb * plan.params.bar_s
        return (recent - expected) / math.sqrt(max(expected, 1.0))
