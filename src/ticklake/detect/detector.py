"""SwingDetector: the streaming, sans-I/O, deterministic price-swing detector.

Per trade it does a handful of comparisons: the price against a band precomputed once per
bar (``state.SymbolState.idle_band``), outside which some horizon's volatility-scaled move
reaches its threshold. Only a trade outside the band (rare on quiet data) is examined in
full. See docs/detector.md for the layers and the evaluation.
"""

from __future__ import annotations

import math

from ticklake.detect import snapshot as snapshots
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
        self.quarantined = 0  # trades refused: a price or quantity not a finite number > 0

    # ------------------------------------------------------------------ input

    def on_trade(self, symbol: str, ts_ns: int, price: float, qty: float,
                 buy: bool) -> list[Anomaly] | None:
        """One trade. Older than the symbol's last trade: ignored. A price or quantity that
        is not a finite number > 0 (zero, negative, NaN, infinite): counted in
        ``quarantined``, never seen (a log price of it is no move). None when nothing
        happens."""
        if not (0.0 < price < _INF and 0.0 < qty < _INF):  # (NaN compares false)
            self.quarantined += 1
            return None
        st = self._states.get(symbol)
        if st is None:
            st = self._states[symbol] = SymbolState(symbol, self._plan, ts_ns, price)
        elif ts_ns < st.last_ns:
            return None
        out = self._roll(st, ts_ns) if ts_ns >= st.due_ns else None
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

    def on_clock(self, now_ns: int) -> list[Anomaly]:
        """Time passed: end every episode due by ``now_ns`` (its symbol may have gone silent).

        ``now_ns`` is on the exchange's clock and the caller promises no trade older than it
        will come (live: the latest trade time seen, plus wall time since, minus a latency
        margin). An episode ends at its deadline whether a trade or the clock finds it due,
        so the records do not depend on when or whether the clock ticks.
        """
        out: list[Anomaly] = []
        for symbol in sorted(self._states):
            st = self._states[symbol]
            ep = st.episode
            if ep is not None and now_ns >= ep.due_ns:
                out.extend(self._end(st, ep.due_ns))
                st.idle_band(ep.due_ns)
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

    # ------------------------------------------------------------------ state

    def snapshot(self) -> bytes:
        """Every symbol's state, exactly (a few kB per symbol); see ``restore``."""
        return snapshots.dump(self, self._states)

    @classmethod
    def restore(cls, snapshot: bytes, params: DetectorParams | None = None) -> SwingDetector:
        """A detector that continues exactly where ``snapshot`` was taken.

        ``params`` must be those of the detector that took it (``SnapshotMismatch``, a
        ``ConfigError``, otherwise, as for a damaged or foreign snapshot).
        """
        detector = cls(params)
        detector.exchange, detector._states = snapshots.load(snapshot, detector._plan)
        return detector

    def sigma(self, symbol: str) -> float:
        """Current local volatility estimate of ``symbol`` (log sd per sqrt(s)); 0 if unknown."""
        st = self._states.get(symbol)
        return st.sigma if st is not None else 0.0

    # ------------------------------------------------------------------ bars

    def _roll(self, st: SymbolState, ts_ns: int) -> list[Anomaly] | None:
        """A bar boundary or an episode's deadline: end the episode if due, close bars,
        update volatility, recompute the band."""
        plan = self._plan
        out = None
        ep = st.episode
        if ep is not None and ts_ns >= ep.due_ns:
            # At its deadline, before this trade or bar closes: as on_clock would have.
            out = self._end(st, ep.due_ns)
            ep = None
        if ts_ns >= st.next_bar_ns:
            if ts_ns - st.last_ns > plan.silence_ns:  # a silence this long is a gap
                if ep is not None:
                    ended = self._end(st, st.last_ns)
                    out = ended if out is None else out + ended
                    ep = None
                st.suspend(ts_ns)
                st.gap_end_ns = ts_ns
            st.close_bars(ts_ns // plan.bar_ns)
            crossed_gap = st.last_ns < st.gap_end_ns
            # Frozen from an episode's detection for vol_freeze_s, to the volatility bar it
            # ended in at the latest.
            frozen = st.vbar * plan.vol_bar_ns <= st.frozen_to_ns
            st.roll_vol(ts_ns, frozen or crossed_gap)
            if crossed_gap:
                st.restart_vol_baseline()
        if ep is None:
            st.idle_band(ts_ns)
        else:
            st.due_ns = min(st.next_bar_ns, ep.due_ns)
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
            for i, ref, ref_ns in st.refs(ts_ns, lp):
                z = (lp - ref) / (sig[i] * math.sqrt(max(ts_ns - ref_ns, 1)))
                ratio = abs(z) / thresholds[i]
                if ratio > best:
                    best, best_i, best_z = ratio, i, z
            if best < 1.0:
                return None
            ep = Episode(st, ts_ns, lp, best_i, best_z, self.params_hash,
                         self._max_episode_ns)
            st.episode = ep
            st.due_ns = min(st.next_bar_ns, ep.due_ns)
            st.frozen_to_ns = ts_ns + plan.freeze_ns
            st.rewind_vol(ep.start_ns)
            self._active_band(st, p, ep)
            return [ep.record(st, "start", self.exchange, self.version, self.params_hash)]
        # A new extreme in the episode's direction: it postpones the end.
        ep.extend(ts_ns, lp, self._max_episode_ns)
        st.due_ns = min(st.next_bar_ns, ep.due_ns)
        self._active_band(st, p, ep)
        sign = 1.0 if ep.direction == "up" else -1.0
        for i, ref, ref_ns in st.refs(ts_ns, lp):
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
        end_ns = max(ts_end_ns, ep.detect_ns)
        record = ep.record(st, "end", self.exchange, self.version, self.params_hash,
                           end_ns=end_ns)
        # Re-arm on moves measured from the end price: an episode is charged once, a
        # condition that persists must build up again to re-alert, and a new swing right
        # after the end is measured from there.
        st.rearm(end_ns, ep.ext_lp)
        st.due_ns = st.next_bar_ns
        return [record]
