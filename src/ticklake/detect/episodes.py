"""Alert episodes: what is tracked while one is active, and its Anomaly records."""

from __future__ import annotations

import hashlib
import math
from typing import Literal

from ticklake.detect.state import SymbolState
from ticklake.model import Anomaly, AnomalyPhase

__all__ = ["Episode", "anomaly_id"]


def anomaly_id(symbol: str, ts_start_ns: int, params_hash: str) -> str:
    """Deterministic id: a replay of the same input with the same params gives the same id."""
    key = f"{symbol}|{ts_start_ns}|{params_hash}".encode()
    return hashlib.sha1(key, usedforsecurity=False).hexdigest()[:16]


class Episode:
    """One active alert on one symbol."""

    __slots__ = (
        "anomaly_id",
        "detect_ns",
        "direction",
        "due_ns",
        "ext_lp",
        "ext_ns",
        "first_lp",
        "horizon_s",
        "intensity_z",
        "kind",
        "last_emit_ns",
        "last_emit_score",
        "quiet_ns",
        "ref_bar",
        "score",
        "start_bar",
        "start_cnt",
        "start_lp",
        "start_ns",
        "start_sv",
        "start_vol",
    )

    def __init__(self, st: SymbolState, ts_ns: int, lp: float, horizon: int, z: float,
                 params_hash: str, max_episode_ns: int) -> None:
        plan = st.plan
        p = plan.params
        n = plan.ring_n
        self.direction: Literal["up", "down"] = "up" if z > 0 else "down"
        sign = 1.0 if z > 0 else -1.0
        self.horizon_s = p.horizons_s[horizon]
        # The move began at the opposite extreme inside the horizon (not at its left edge):
        # scan the ring once per episode, over bars closed after the anchor (an end, a gap).
        ref_bar = st.bar - 1 - plan.horizon_bars[horizon]
        ring, ring_ts, anchor = st.ring_lp, st.ring_ts, st.anchor_ns
        # Reaching back past the last episode's end, the horizon measured from the re-arm
        # range: the move begins there unless a bar closed since went further the other way.
        from_end = ring_ts[ref_bar % n] < anchor
        if from_end:
            assert st.rearmed
            best_bar = anchor // plan.bar_ns - 1
            best = st.rearm_hi if sign > 0 else st.rearm_lo
        else:
            best_bar, best = ref_bar, ring[ref_bar % n]
        for b in range(ref_bar + 1, st.bar):
            v = ring[b % n]
            if sign * v < sign * best and ring_ts[b % n] >= anchor:
                best_bar, best, from_end = b, v, False
        self.ref_bar = ref_bar
        self.start_bar = best_bar
        self.start_lp = best
        if from_end:
            self.start_ns = anchor
            self.start_cnt, self.start_sv = st.rearm_cnt, st.rearm_sv
            self.start_vol = st.rearm_vol
        else:
            self.start_ns = (best_bar + 1) * plan.bar_ns  # the close of that bar
            self.start_cnt = st.ring_cnt[best_bar % n]
            self.start_sv = st.ring_sv[best_bar % n]
            self.start_vol = st.ring_vol[best_bar % n]
        self.detect_ns = ts_ns
        self.first_lp = lp
        self.ext_lp = lp
        self.ext_ns = ts_ns
        self.score = abs(z)
        self.kind = "grind" if self.horizon_s >= p.grind_horizon_s else "swing"
        quiet = min(p.end_quiet_max_s, max(p.end_quiet_min_s, p.end_quiet_frac * self.horizon_s))
        self.quiet_ns = round(quiet * 1e9)
        self.anomaly_id = anomaly_id(st.symbol, self.start_ns, params_hash)
        self.last_emit_ns = ts_ns
        self.last_emit_score = self.score
        self.intensity_z = st.intensity_z()
        self.due_ns = 0
        self.extend(ts_ns, lp, max_episode_ns)

    def extend(self, ts_ns: int, lp: float, max_episode_ns: int) -> None:
        """A new extreme: the episode ends once no other comes for quiet_ns (or at its max)."""
        self.ext_lp = lp
        self.ext_ns = ts_ns
        self.due_ns = min(ts_ns + self.quiet_ns, self.detect_ns + max_episode_ns)

    def largest_qty(self, st: SymbolState) -> float:
        """Largest trade since the move began (bar maxima in the ring, plus the open bar)."""
        n = st.plan.ring_n
        first = max(self.start_bar + 1, st.bar - n + 1)
        ring = st.ring_qmax
        return max([st.qmax, *(ring[b % n] for b in range(first, st.bar))])

    def record(self, st: SymbolState, phase: AnomalyPhase, exchange: str, version: str,
               params_hash: str, end_ns: int | None = None) -> Anomaly:
        before = math.exp(self.start_lp)
        after = math.exp(self.ext_lp)
        volume = st.cum_vol - self.start_vol
        imbalance = (st.cum_signed - self.start_sv) / volume if volume > 0 else 0.0
        return Anomaly(
            anomaly_id=self.anomaly_id,
            phase=phase,
            exchange=exchange,
            symbol=st.symbol,
            kind=self.kind,
            ts_start_ns=self.start_ns,
            ts_detect_ns=self.detect_ns,
            ts_end_ns=end_ns,
            direction=self.direction,
            horizon_s=self.horizon_s,
            move_bp=(self.ext_lp - self.start_lp) * 1e4,
            move_price=after - before,
            price_before=before,
            price_after=after,
            score=self.score,
            trades=st.count - self.start_cnt,
            intensity_z=self.intensity_z,
            imbalance=imbalance,
            largest_qty=self.largest_qty(st),
            rcf_score=None,
            detector_version=version,
            params_hash=params_hash,
        )

    def classify_end(self, lp_now: float, flash_retrace: float) -> None:
        """A move mostly given back by the end is a flash (V-shaped crash and recovery)."""
        move = self.ext_lp - self.start_lp
        if move and (self.ext_lp - lp_now) / move >= flash_retrace:
            self.kind = "flash"
