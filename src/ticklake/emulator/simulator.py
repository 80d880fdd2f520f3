"""One symbol's simulated trades: the price process and the taker-order arrivals.

* a latent log-mid following a jump-diffusion (Gaussian steps scaled by sqrt(dt), rare
  Poisson jumps) plus a little price impact from sweeping orders;
* taker-order arrivals from a self-exciting (Hawkes, exponential kernel) process whose mean
  intensity is ``rate``; simulated exactly (Dassios & Zhao 2013), event by event, so the
  output does not depend on how ``run_until`` calls are chunked;
* every taker order yields one or more fills sharing one ns timestamp: buys lift the ask,
  sells hit the bid (spread 1–2 ticks), a sweep walks deeper levels; a fill now and then
  repeats the previous fill's quantity at the same level, which makes byte-identical rows;
* heavy-tailed sizes (lognormal body with a Pareto tail), integer multiples of the lot step;
* a per-symbol ``sequence`` counter that book updates between trades also consume, so the
  sequence of trade messages jumps.

Optional, off by default (the default output is byte-for-byte what it was before they
existed):

* stochastic volatility: the log of the diffusion's volatility follows an Ornstein–Uhlenbeck
  process (stationary std ``vol_of_vol``, mean reversion ``vol_reversion_s``), normalised so
  that the mean variance stays the product's; the trade rate can follow it
  (``rate_vol_power``: arrivals scale with vol**power);
* ``jumps=False`` turns the rare Poisson price jumps off (a quiet stream for false-alarm
  measurements: a 15 bp one-trade jump *is* a swing);
* active swings (:mod:`~ticklake.emulator.swings`) offset the log-mid, add burst arrivals and
  bias the taker side.

The volatility path and swing side-effects draw from their own random streams, so switching
them on does not reshuffle the base stream's draws.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass

from ticklake.emulator.products import Product
from ticklake.emulator.swings import STEP_BURST_S, Swing, SwingLabel

__all__ = ["SymbolSim", "Trade"]

_BRANCHING = 0.7  # Hawkes branching ratio: share of arrivals triggered by earlier ones
_DECAY = 4.0  # 1/s: excitation half-life ≈ 170 ms
_JUMP_EVERY_S = 120.0  # mean time between price jumps
_JUMP_SD = 0.0015  # log-size of a jump
_SIDE_PERSISTENCE = 0.6
_SWEEP_CONTINUE = 0.45  # chance that a taker order takes one more fill
_MAX_FILLS = 8
_NEXT_LEVEL = 0.5  # chance that the next fill of a sweep is one tick deeper
_REPEAT_QTY = 0.25  # chance that a fill at the same level repeats the previous quantity
# Mean fills per taker order; arrivals are scaled by it so that ``rate`` counts trades.
_MEAN_FILLS = sum(_SWEEP_CONTINUE**k for k in range(_MAX_FILLS))
_SIZE_SD = 1.4
_TAIL_P = 0.03
_TAIL_ALPHA = 1.3
_MAX_STEPS = 5_000_000


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill. ``price`` and ``qty`` are integer units of the symbol's Product."""

    symbol: str
    ts_ns: int
    side: str  # "Buy" | "Sell" (taker side)
    price: int
    qty: int
    seq: int  # sequence number this fill consumed


class SymbolSim:
    """One symbol's latent mid, volatility, arrivals and sequence counter."""

    def __init__(
        self,
        product: Product,
        seed: int,
        rate: float,
        start_ns: int,
        *,
        vol_of_vol: float = 0.0,
        vol_reversion_s: float = 1800.0,
        rate_vol_power: float = 0.0,
        jumps: bool = True,
    ) -> None:
        self.p = product
        self.rng = random.Random(f"ticklake-emulator:{seed}:{product.symbol}")
        # Separate streams: volatility path and swing side effects never shift the base draws.
        self.vol_rng = random.Random(f"ticklake-emulator-vol:{seed}:{product.symbol}")
        self.swing_rng = random.Random(f"ticklake-emulator-swing:{seed}:{product.symbol}")
        self.vol_of_vol = vol_of_vol
        self.vol_reversion_s = vol_reversion_s
        self.rate_vol_power = rate_vol_power
        self.jumps = jumps
        # Start the log-vol in its stationary law so that a stream has no warm-up regime.
        self.log_vol_dev = self.vol_rng.gauss(0.0, vol_of_vol) if vol_of_vol > 0 else 0.0
        self.vol = self._vol_level()
        self.swings: list[Swing] = []
        self.extra: list[int] = []  # burst arrivals (ns), a min-heap
        self.log_mid = math.log(product.start_price_units)
        self.seq = product.sequence_base
        self.side = "Buy"
        self.mu0 = rate * (1.0 - _BRANCHING) / _MEAN_FILLS
        self.mu = self.mu0 * self._rate_factor()
        self.alpha = _BRANCHING * _DECAY
        self.excitation = 0.0
        self.last_ns = start_ns
        self.next_ns = start_ns + self.draw_gap()
        self.produced = 0
        bid = product.start_price_units // product.tick_units
        self.touch = (bid, bid + 1)  # best bid / ask in ticks after the last order

    def _vol_level(self) -> float:
        # exp(h - s²) with h ~ N(0, s²) keeps E[vol²] equal to the product's variance.
        s, base = self.vol_of_vol, self.p.volatility
        return base * math.exp(self.log_vol_dev - s * s) if s > 0 else base

    def _rate_factor(self) -> float:
        k, s = self.rate_vol_power, self.vol_of_vol
        if k == 0 or s == 0:
            return 1.0
        return math.exp(k * self.log_vol_dev - 0.5 * k * k * s * s)  # mean 1 under the OU law

    def _evolve_vol(self, dt: float) -> None:
        """Exact OU step of the log-vol deviation over ``dt`` seconds."""
        a = math.exp(-dt / self.vol_reversion_s)
        noise = self.vol_of_vol * math.sqrt(max(0.0, 1.0 - a * a))
        self.log_vol_dev = self.log_vol_dev * a + noise * self.vol_rng.gauss(0.0, 1.0)
        self.vol = self._vol_level()
        if self.rate_vol_power:
            self.mu = self.mu0 * self._rate_factor()

    def _swing_offset(self, ts_ns: int) -> tuple[float, float, str]:
        """Summed log offset of active swings; the strongest one-sided flow and its side."""
        total, flow, flow_side = 0.0, 0.0, ""
        done = False
        for sw in self.swings:
            total += sw.offset(ts_ns)
            if ts_ns >= sw.end:
                done = True
            elif ts_ns >= sw.start and sw.one_sided > flow:
                flow, flow_side = sw.one_sided, "Buy" if sw.amp > 0 else "Sell"
        if done:  # fold finished swings into the latent mid: the list stays short
            for sw in self.swings:
                if ts_ns >= sw.end:
                    self.log_mid += sw.final
                    total -= sw.final
            self.swings = [sw for sw in self.swings if ts_ns < sw.end]
        return total, flow, flow_side

    def draw_gap(self) -> int:
        """Nanoseconds to the next arrival (exact Hawkes step); updates the excitation."""
        rng = self.rng
        s1 = -math.log(1.0 - rng.random()) / self.mu if self.mu > 0 else math.inf
        s2 = math.inf
        u = 1.0 - rng.random()
        if self.excitation > 0:
            d = 1.0 + _DECAY * math.log(u) / self.excitation
            if d > 0:
                s2 = -math.log(d) / _DECAY
        dt = min(s1, s2)
        if math.isinf(dt):
            return 1 << 62
        self.excitation = self.excitation * math.exp(-_DECAY * dt) + self.alpha
        return max(1, round(dt * 1e9))

    def _draw_qty(self) -> int:
        rng = self.rng
        steps = math.exp(rng.gauss(math.log(self.p.qty_median_steps), _SIZE_SD))
        if rng.random() < _TAIL_P:
            steps *= rng.paretovariate(_TAIL_ALPHA)
        return max(1, min(_MAX_STEPS, int(steps))) * self.p.qty_step_units

    def order(self, ts_ns: int) -> list[Trade]:
        """One taker order at ``ts_ns``: move the mid, then produce its fills."""
        rng, p = self.rng, self.p
        dt = max(0.0, (ts_ns - self.last_ns) / 1e9)
        self.last_ns = ts_ns
        if self.vol_of_vol > 0 and dt > 0:
            self._evolve_vol(dt)
        self.log_mid += self.vol * math.sqrt(dt) * rng.gauss(0.0, 1.0)
        if rng.random() < -math.expm1(-dt / _JUMP_EVERY_S):
            jump = rng.gauss(0.0, _JUMP_SD)  # drawn even when off: the base stream stays put
            if self.jumps:
                self.log_mid += jump
        self.seq += rng.randint(1, 12)  # book updates since the last trade
        offset, flow, flow_side = self._swing_offset(ts_ns) if self.swings else (0.0, 0.0, "")
        mid_ticks = math.exp(self.log_mid + offset) / p.tick_units
        spread = 1 if rng.random() < 0.8 else 2
        bid = max(1 + _MAX_FILLS, math.floor(mid_ticks - spread / 2))
        ask = bid + spread
        self.touch = (bid, ask)
        if rng.random() >= _SIDE_PERSISTENCE:
            self.side = "Sell" if self.side == "Buy" else "Buy"
        if flow and self.swing_rng.random() < flow:
            self.side = flow_side  # liquidation-like one-sided flow during a swing
        side = self.side
        fills: list[Trade] = []
        level, qty = 0, 0
        for i in range(_MAX_FILLS):
            if i > 0 and rng.random() >= _SWEEP_CONTINUE:
                break
            deeper = i > 0 and rng.random() < _NEXT_LEVEL
            if deeper:
                level += 1
            if i == 0 or deeper or rng.random() >= _REPEAT_QTY:
                qty = self._draw_qty()
            ticks = ask + level if side == "Buy" else bid - level
            self.seq += 1
            fills.append(Trade(p.symbol, ts_ns, side, ticks * p.tick_units, qty, self.seq))
        if level:
            impact = level * p.tick_units / math.exp(self.log_mid) * 0.5
            self.log_mid += impact if side == "Buy" else -impact
        self.produced += len(fills)
        return fills

    def run_until(self, limit_ns: int) -> list[Trade]:
        out: list[Trade] = []
        extra = self.extra
        while True:
            if extra and extra[0] < self.next_ns:
                if extra[0] > limit_ns:
                    break
                out.extend(self.order(heapq.heappop(extra)))
                continue
            if self.next_ns > limit_ns:
                break
            out.extend(self.order(self.next_ns))
            self.next_ns += self.draw_gap()
        return out

    def shift(self, delta_ns: int) -> None:
        self.last_ns += delta_ns
        self.next_ns += delta_ns

    def add_swing(self, label: SwingLabel) -> None:
        self.swings.append(Swing(label))
        if label.burst_rate > 0:
            # Poisson burst arrivals over the swing, drawn now from the swing stream.
            stop = label.end_ns if label.end_ns > label.start_ns else (
                label.start_ns + round(STEP_BURST_S * 1e9))
            t = float(label.start_ns)
            orders_per_s = label.burst_rate / _MEAN_FILLS
            while True:
                t += self.swing_rng.expovariate(orders_per_s) * 1e9
                if t > stop:
                    break
                heapq.heappush(self.extra, max(round(t), self.last_ns))

