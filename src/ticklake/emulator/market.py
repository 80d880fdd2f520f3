"""A seeded, deterministic market simulator (pure: time comes in as an argument).

Per symbol:

* a latent log-mid following a jump-diffusion (Gaussian steps scaled by sqrt(dt), rare
  Poisson jumps) plus a little price impact from sweeping orders;
* taker-order arrivals from a self-exciting (Hawkes, exponential kernel) process whose mean
  intensity is ``rate``; simulated exactly (Dassios & Zhao 2013), event by event, so the
  output does not depend on how ``advance`` calls are chunked;
* every taker order yields one or more fills sharing one ns timestamp: buys lift the ask,
  sells hit the bid (spread 1–2 ticks), a sweep walks deeper levels; a fill now and then
  repeats the previous fill's quantity at the same level, which makes byte-identical rows;
* heavy-tailed sizes (lognormal body with a Pareto tail), integer multiples of the lot step;
* a per-symbol ``sequence`` counter that book updates between trades also consume, so the
  sequence of trade messages jumps.

Same seed, same symbols and the same sequence of time arguments give the same trades.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass

from ticklake.emulator.products import PRODUCTS, Product

__all__ = ["Market", "Trade"]

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


class _SymbolSim:
    def __init__(self, product: Product, seed: int, rate: float, start_ns: int) -> None:
        self.p = product
        self.rng = random.Random(f"ticklake-emulator:{seed}:{product.symbol}")
        self.log_mid = math.log(product.start_price_units)
        self.seq = product.sequence_base
        self.side = "Buy"
        self.mu = rate * (1.0 - _BRANCHING) / _MEAN_FILLS
        self.alpha = _BRANCHING * _DECAY
        self.excitation = 0.0
        self.last_ns = start_ns
        self.next_ns = start_ns + self._draw_gap()
        self.produced = 0
        bid = product.start_price_units // product.tick_units
        self.touch = (bid, bid + 1)  # best bid / ask in ticks after the last order

    def _draw_gap(self) -> int:
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
        self.log_mid += p.volatility * math.sqrt(dt) * rng.gauss(0.0, 1.0)
        if rng.random() < -math.expm1(-dt / _JUMP_EVERY_S):
            self.log_mid += rng.gauss(0.0, _JUMP_SD)
        self.seq += rng.randint(1, 12)  # book updates since the last trade
        mid_ticks = math.exp(self.log_mid) / p.tick_units
        spread = 1 if rng.random() < 0.8 else 2
        bid = max(1 + _MAX_FILLS, math.floor(mid_ticks - spread / 2))
        ask = bid + spread
        self.touch = (bid, ask)
        if rng.random() >= _SIDE_PERSISTENCE:
            self.side = "Sell" if self.side == "Buy" else "Buy"
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
        while self.next_ns <= limit_ns:
            out.extend(self.order(self.next_ns))
            self.next_ns += self._draw_gap()
        return out

    def shift(self, delta_ns: int) -> None:
        self.last_ns += delta_ns
        self.next_ns += delta_ns


class Market:
    """All simulated symbols. Call :meth:`advance` with a non-decreasing clock."""

    def __init__(
        self, symbols: Iterable[str], *, seed: int = 7, rate: float = 50.0, start_ns: int
    ) -> None:
        if rate < 0 or not math.isfinite(rate):
            msg = f"rate must be a finite number >= 0, got {rate!r}"
            raise ValueError(msg)
        self._sims: dict[str, _SymbolSim] = {}
        for symbol in symbols:
            if symbol not in PRODUCTS:
                msg = f"unknown symbol {symbol!r}"
                raise ValueError(msg)
            self._sims[symbol] = _SymbolSim(PRODUCTS[symbol], seed, rate, start_ns)
        self._now_ns = start_ns
        self._halted_at: int | None = None
        self._started = False

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self._sims)

    @property
    def halted(self) -> bool:
        return self._halted_at is not None

    def prefill(self, count: int) -> list[Trade]:
        """``count`` trades per symbol with timestamps before the start time (history).

        Must be called before the first :meth:`advance`. Returned in production order per
        symbol, merged across symbols by timestamp.
        """
        if self._started:
            msg = "prefill() must be called before advance()"
            raise RuntimeError(msg)
        per_symbol: list[list[Trade]] = []
        for sim in self._sims.values():
            origin = sim.last_ns
            trades: list[Trade] = []
            while len(trades) < count:
                trades.extend(sim.order(sim.next_ns))
                sim.next_ns += sim._draw_gap()
            del trades[count:]
            sim.produced = len(trades)
            if not trades:
                per_symbol.append([])
                continue
            # Translate the generated stretch so that the start time falls at a random point
            # of the gap between the last history trade and the next pending arrival.
            last = trades[-1].ts_ns
            delta = origin - last - sim.rng.randint(1, max(1, sim.next_ns - last))
            sim.shift(delta)
            per_symbol.append([_shifted(t, delta) for t in trades])
        self._started = True
        return list(heapq.merge(*per_symbol, key=lambda t: t.ts_ns))

    def advance(self, now_ns: int) -> list[Trade]:
        """All trades with ts in (previous now, now_ns], in production order.

        While halted, only trades up to the halt time come out. A clock that goes backwards
        produces nothing.
        """
        self._started = True
        if now_ns <= self._now_ns:
            return []
        self._now_ns = now_ns
        limit = now_ns if self._halted_at is None else min(now_ns, self._halted_at)
        batches = [sim.run_until(limit) for sim in self._sims.values()]
        if len(batches) == 1:
            return batches[0]
        return list(heapq.merge(*batches, key=lambda t: t.ts_ns))

    def halt(self, now_ns: int) -> None:
        """Freeze the market at ``now_ns`` (no trades after it until :meth:`resume`)."""
        if self._halted_at is None:
            self._halted_at = max(now_ns, self._now_ns)

    def resume(self, now_ns: int) -> None:
        """Unfreeze; the latent process continues as if the halted interval did not exist."""
        if self._halted_at is None:
            return
        delta = max(0, now_ns - self._halted_at)
        self._halted_at = None
        for sim in self._sims.values():
            sim.shift(delta)

    def sequence(self, symbol: str) -> int:
        """Current value of the symbol's sequence counter."""
        return self._sims[symbol].seq

    def jump_sequence(self, symbol: str, amount: int) -> None:
        """Advance the symbol's sequence counter (legal on the wire: other channels' updates)."""
        if amount < 0:
            msg = f"sequence jump must be >= 0, got {amount}"
            raise ValueError(msg)
        self._sims[symbol].seq += amount

    def produced(self, symbol: str) -> int:
        return self._sims[symbol].produced

    def touch(self, symbol: str) -> tuple[int, int]:
        """Best bid and ask, in ticks, as of the last order (for the order book)."""
        return self._sims[symbol].touch


def _shifted(t: Trade, delta: int) -> Trade:
    return Trade(t.symbol, t.ts_ns + delta, t.side, t.price, t.qty, t.seq)
