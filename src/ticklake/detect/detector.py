"""SwingDetector: the streaming, sans-I/O, deterministic price-swing detector.

Per trade it does a handful of comparisons: the price against a band precomputed once per
bar (``state.SymbolState.idle_band``), outside which some horizon's volatility-scaled move
reaches its threshold. Only a trade outside the band (rare on quiet data) is examined in
full. See docs/detector.md for the layers and the evaluation.
"""

from __future__ import annotations

import math

from ticklake.detect.episodes import Episode
from ticklake.detect.params import DETECTOR_VERSION, DetectorParams
from ticklake.detect.state import Plan, SymbolState
from ticklake.feed.events import Event, GapDetected, TradesReceived
from ticklake.model import Anomaly

__all__ = ["SwingDetector"]

_INF = math.inf
_LOG = math.log


class SwingDetector:
    """Feed trades in time order per symbol; get Anomaly records (start, update, end)."""

    def __init__(self, params: DetectorParams | None = None, exchange: str = "phemex") -> None:
        self.params = params if params is not None else DetectorParams()
        self.exchange = exchange
        self.params_hash = self.params.hash()
        self.version = DETECTOR_VERSION
        self._plan = Plan(self.params)
        self._stale_ns = self._plan.stale_ns
        self._max_episode_ns = round(self.params.max_episode_s * 1e9)
        self._update_min_ns = round(self.params.update_min_s * 1e9)
        self._states: dict[str, SymbolState] = {}

    # ------------------------------------------------------------------ input

    def on_trade(self, symbol: str, ts_ns: int, price: float, qty: float,
                 buy: bool) -> list[Anomaly] | None:
        """One trade. Older than the symbol's last trade: ignored. None when nothing happens."""
        st = self._states.get(symbol)
        if st is None:
            st = self._states[symbol] = SymbolState(symbol, self._plan, ts_ns, price)
        elif ts_ns < st.last_ns:
            return None
        out = self._roll(st, ts_ns) if ts_ns >= st.next_bar_ns else None
        st.last_ns = ts_ns
        st.count += 1
        st.cum_vol += qty
        if qty > st.qmax:  # noqa: PLR1730 (a builtin call costs more on the hot path)
            st.qmax = qty
        # Noise-reduced price: mid of the last buy and sell prints (bid-ask bounce cancels);
        # the trade price itself when the other side is stale (one-sided flow).
        if buy:
            st.last_buy = price
            st.buy_ns = ts_ns
            st.cum_signed += qty
            p = (price + st.last_sell) * 0.5 if ts_ns - st.sell_ns < self._stale_ns else price
        else:
            st.last_sell = price
            st.sell_ns = ts_ns
            st.cum_signed -= qty
            p = (price + st.last_buy) * 0.5 if ts_ns - st.buy_ns < self._stale_ns else price
        st.price = p
        if p > st.band_hi or p < st.band_lo:
            found = self._examine(st, ts_ns, p)
            if found is not None:
                return found if out is None else out + found
        return out

    def on_gap(self, symbol: str, from_ns: int, to_ns: int) -> list[Anomaly] | None:
        """Trades may be missing in [from_ns, to_ns]: suspend every horizon crossing it."""
        st = self._states.get(symbol)
        if st is None:
            return None
        out = self._end(st, max(st.last_ns, from_ns)) if st.episode is not None else None
        st.suspend(to_ns)
        st.gap_end_ns = max(st.gap_end_ns, to_ns)
        return out

    def on_event(self, event: Event) -> list[Anomaly]:
        """Convenience for the live pipeline: TradesReceived and GapDetected; others ignored."""
        out: list[Anomaly] = []
        if isinstance(event, TradesReceived):
            on_trade = self.on_trade
            for t in event.trades:
                found = on_trade(t.symbol, t.ts_exchange_ns, t.price_e / 10**t.price_scale,
                                 t.qty_e / 10**t.qty_scale, t.side == "buy")
                if found:
                    out.extend(found)
        elif isinstance(event, GapDetected):
            gap = event.gap
            found = self.on_gap(gap.symbol, gap.from_ns, gap.to_ns)
            if found:
                out.extend(found)
        return out

    def finish(self) -> list[Anomaly]:
        """End every open episode (end of input); the state stays usable."""
        out: list[Anomaly] = []
        for symbol in sorted(self._states):
            st = self._states[symbol]
            if st.episode is not None:
                out.extend(self._end(st, st.last_ns))
        return out

    def sigma(self, symbol: str) -> float:
        """Current local volatility estimate of ``symbol`` (log sd per sqrt(s)); 0 if unknown."""
        st = self._states.get(symbol)
        return st.sigma if st is not None else 0.0

    # ------------------------------------------------------------------ bars

    def _roll(self, st: SymbolState, ts_ns: int) -> list[Anomaly] | None:
        """Bar boundary: close bars, update volatility, end episodes, recompute the band."""
        plan = self._plan
        out = None
        if ts_ns - st.last_ns > plan.silence_ns:  # a silence this long is a gap
            if st.episode is not None:
                out = self._end(st, st.last_ns)
            st.suspend(ts_ns)
            st.gap_end_ns = ts_ns
        ep = st.episode
        st.close_bars(ts_ns // plan.bar_ns)
        crossed_gap = st.last_ns < st.gap_end_ns
        st.roll_vol(ts_ns, ep is not None or crossed_gap)
        if crossed_gap:
            st.restart_vol_baseline()
        if ep is not None:
            if ts_ns - ep.ext_ns >= ep.quiet_ns or ts_ns - ep.detect_ns >= self._max_episode_ns:
                ended = self._end(st, ts_ns)
                out = ended if out is None else out + ended
        else:
            st.idle_band(ts_ns)
        return out

    # ------------------------------------------------------------------ episodes

    def _examine(self, st: SymbolState, ts_ns: int, p: float) -> list[Anomaly] | None:
        """A trade outside the band: start an episode, or extend the active one."""
        plan = self._plan
        lp = _LOG(p)
        sig = st.hz_sig  # scale of each horizon, per sqrt(ns)
        ep = st.episode
        if ep is None:
            best, best_i, best_z = 0.0, -1, 0.0
            thresholds = plan.thresholds
            for i, ref, ref_ns in st.refs():
                z = (lp - ref) / (sig[i] * math.sqrt(max(ts_ns - ref_ns, 1)))
                ratio = abs(z) / thresholds[i]
                if ratio > best:
                    best, best_i, best_z = ratio, i, z
            if best < 1.0:
                return None
            ep = Episode(st, ts_ns, lp, best_i, best_z, self.params_hash)
            st.episode = ep
            st.rewind_vol(ep.start_ns)
            self._active_band(st, p, ep)
            return [ep.record(st, "start", self.exchange, self.version, self.params_hash)]
        # A new extreme in the episode's direction.
        ep.ext_lp = lp
        ep.ext_ns = ts_ns
        self._active_band(st, p, ep)
        sign = 1.0 if ep.direction == "up" else -1.0
        for i, ref, ref_ns in st.refs():
            z = sign * (lp - ref) / (sig[i] * math.sqrt(max(ts_ns - ref_ns, 1)))
            ep.score = max(ep.score, z)
        if (ep.score >= ep.last_emit_score * (1.0 + self.params.update_growth)
                and ts_ns - ep.last_emit_ns >= self._update_min_ns):
            ep.last_emit_score = ep.score
            ep.last_emit_ns = ts_ns
            return [ep.record(st, "update", self.exchange, self.version, self.params_hash)]
        return None

    @staticmethod
    def _active_band(st: SymbolState, p: float, ep: Episode) -> None:
        # While active only a new extreme in the episode's direction needs a look.
        if ep.direction == "up":
            st.band_hi, st.band_lo = p, -_INF
        else:
            st.band_hi, st.band_lo = _INF, p

    def _end(self, st: SymbolState, ts_end_ns: int) -> list[Anomaly]:
        ep = st.episode
        assert ep is not None
        st.episode = None
        ep.classify_end(_LOG(st.price), self.params.flash_retrace)
        record = ep.record(st, "end", self.exchange, self.version, self.params_hash,
                           end_ns=max(ts_end_ns, ep.detect_ns))
        # Re-arm on moves measured from here on only: an episode is charged once, and a
        # condition that persists must build up again to re-alert.
        st.suspend(ts_end_ns)
        return [record]
