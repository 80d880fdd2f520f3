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

Optional, off by default (the default output is byte-for-byte what it was before they
existed):

* stochastic volatility: the log of the diffusion's volatility follows an Ornstein–Uhlenbeck
  process (stationary std ``vol_of_vol``, mean reversion ``vol_reversion_s``), normalised so
  that the mean variance stays the product's; the trade rate can follow it
  (``rate_vol_power``: arrivals scale with vol**power);
* ``jumps=False`` turns the rare Poisson price jumps off (a quiet stream for false-alarm
  measurements: a 15 bp one-trade jump *is* a swing);
* labelled swings (:meth:`Market.inject_swing`): a deterministic offset of the log-mid (step,
  ramp, V-shaped crash-and-recover, slow grind) sized in multiples of the *local* volatility,
  optionally with a burst of extra trades and one-sided taker flow. Every swing returns and
  keeps a :class:`SwingLabel`, the ground truth for detector evaluation.

Same seed, same symbols, the same options and the same sequence of calls (time arguments and
injections) give the same trades. The volatility path and swing side-effects draw from their
own random streams, so switching them on does not reshuffle the base stream's draws.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ticklake.emulator.products import Product, lookup

__all__ = ["SWING_SHAPES", "Market", "SwingLabel", "SwingShape", "Trade"]

SwingShape = Literal["step", "ramp", "v", "grind"]
SWING_SHAPES: tuple[str, ...] = ("step", "ramp", "v", "grind")
_STEP_BURST_S = 2.0  # a step has no duration: its optional trade burst lasts this long

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


@dataclass(frozen=True, slots=True)
class SwingLabel:
    """Ground truth of one injected swing (JSON-ready through :meth:`to_record`).

    The log-mid moves by ``size_sigma * sigma_local * sqrt(max(duration_s, 1))``
    (``move_bp`` = that, in basis points, a magnitude) in ``direction`` between ``start_ns`` and
    ``end_ns``; a ``v`` reaches that peak half way and returns to where it started.
    ``sigma_local`` is the volatility (log-price sd per sqrt(second)) at injection time, so
    sizes are relative to the local regime under stochastic volatility.
    """

    symbol: str
    start_ns: int
    end_ns: int
    size_sigma: float
    sigma_local: float
    duration_s: float
    direction: Literal["up", "down"]
    shape: SwingShape
    move_bp: float
    burst_rate: float = 0.0  # extra trades/s during the swing
    one_sided: float = 0.0  # share of taker orders forced to the swing's side
    mid_before: float = 0.0  # mid (price units) when injected

    def to_record(self) -> dict[str, Any]:
        return asdict(self)


class _Swing:
    """An active swing: the log-mid offset it adds at time t (folded in once it ends)."""

    __slots__ = ("amp", "end", "final", "label", "one_sided", "shape", "start")

    def __init__(self, label: SwingLabel) -> None:
        sign = 1.0 if label.direction == "up" else -1.0
        self.label = label
        self.start = label.start_ns
        self.end = label.end_ns
        self.shape = label.shape
        self.amp = sign * label.move_bp / 1e4
        self.final = 0.0 if label.shape == "v" else self.amp
        self.one_sided = label.one_sided

    def offset(self, ts_ns: int) -> float:
        if ts_ns < self.start:
            return 0.0
        if ts_ns >= self.end:
            return self.final
        u = (ts_ns - self.start) / (self.end - self.start)
        if self.shape == "ramp":
            return self.amp * u
        if self.shape == "grind":  # smooth start and stop: a drift, not a kink
            return self.amp * 0.5 * (1.0 - math.cos(math.pi * u))
        return self.amp * (1.0 - abs(2.0 * u - 1.0))  # "v"


class _SymbolSim:
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
        self.swings: list[_Swing] = []
        self.extra: list[int] = []  # burst arrivals (ns), a min-heap
        self.log_mid = math.log(product.start_price_units)
        self.seq = product.sequence_base
        self.side = "Buy"
        self.mu0 = rate * (1.0 - _BRANCHING) / _MEAN_FILLS
        self.mu = self.mu0 * self._rate_factor()
        self.alpha = _BRANCHING * _DECAY
        self.excitation = 0.0
        self.last_ns = start_ns
        self.next_ns = start_ns + self._draw_gap()
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
            self.next_ns += self._draw_gap()
        return out

    def shift(self, delta_ns: int) -> None:
        self.last_ns += delta_ns
        self.next_ns += delta_ns

    def add_swing(self, label: SwingLabel) -> None:
        self.swings.append(_Swing(label))
        if label.burst_rate > 0:
            # Poisson burst arrivals over the swing, drawn now from the swing stream.
            stop = label.end_ns if label.end_ns > label.start_ns else (
                label.start_ns + round(_STEP_BURST_S * 1e9))
            t = float(label.start_ns)
            orders_per_s = label.burst_rate / _MEAN_FILLS
            while True:
                t += self.swing_rng.expovariate(orders_per_s) * 1e9
                if t > stop:
                    break
                heapq.heappush(self.extra, max(round(t), self.last_ns))


class Market:
    """All simulated symbols. Call :meth:`advance` with a non-decreasing clock."""

    def __init__(
        self,
        symbols: Iterable[str],
        *,
        seed: int = 7,
        rate: float = 50.0,
        start_ns: int,
        vol_of_vol: float = 0.0,
        vol_reversion_s: float = 1800.0,
        rate_vol_power: float = 0.0,
        jumps: bool = True,
        products: Mapping[str, Product] | None = None,
    ) -> None:
        """``products`` resolves symbols (a catalog's products); default: ``lookup``."""
        if rate < 0 or not math.isfinite(rate):
            msg = f"rate must be a finite number >= 0, got {rate!r}"
            raise ValueError(msg)
        if not (math.isfinite(vol_of_vol) and 0 <= vol_of_vol <= 3):
            msg = f"vol_of_vol must be in [0, 3], got {vol_of_vol!r}"
            raise ValueError(msg)
        if not (math.isfinite(vol_reversion_s) and vol_reversion_s > 0):
            msg = f"vol_reversion_s must be > 0, got {vol_reversion_s!r}"
            raise ValueError(msg)
        if not (math.isfinite(rate_vol_power) and 0 <= rate_vol_power <= 3):
            msg = f"rate_vol_power must be in [0, 3], got {rate_vol_power!r}"
            raise ValueError(msg)
        self._sims: dict[str, _SymbolSim] = {}
        for symbol in symbols:
            # a catalog product, or a real or synthetic (--extra-symbols) basic one
            product = products.get(symbol) if products is not None else lookup(symbol)
            if product is None:
                msg = f"unknown symbol {symbol!r}"
                raise ValueError(msg)
            self._sims[symbol] = _SymbolSim(
                product, seed, rate, start_ns, vol_of_vol=vol_of_vol,
                vol_reversion_s=vol_reversion_s, rate_vol_power=rate_vol_power, jumps=jumps)
        self._labels: list[SwingLabel] = []
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

    def volatility(self, symbol: str) -> float:
        """Current local volatility: log-price sd per sqrt(second) (the SV level)."""
        return self._sims[symbol].vol

    @property
    def labels(self) -> tuple[SwingLabel, ...]:
        """Every swing injected so far, in injection order."""
        return tuple(self._labels)

    def inject_swing(
        self,
        symbol: str,
        *,
        start_ns: int,
        size_sigma: float,
        duration_s: float,
        direction: Literal["up", "down"],
        shape: SwingShape,
        burst_rate: float = 0.0,
        one_sided: float = 0.0,
    ) -> SwingLabel:
        """Schedule a labelled price swing on ``symbol`` and return its label.

        The mid moves by ``size_sigma`` local sigmas scaled to the duration
        (``size_sigma * vol * sqrt(max(duration_s, 1))``): ``step`` jumps at the first trade
        at or after ``start_ns`` (duration 0); ``ramp`` drifts linearly over ``duration_s``;
        ``grind`` drifts smoothly over minutes (``duration_s`` >= 60); ``v`` reaches the move
        half way and comes back by the end. ``burst_rate`` adds that many trades/s during the
        swing (2 s after a step); ``one_sided`` in [0, 1] forces that share of taker orders to
        the swing's side. ``start_ns`` must not be before the market clock.
        """
        sim = self._sims.get(symbol)
        if sim is None:
            msg = f"unknown symbol {symbol!r}"
            raise ValueError(msg)
        _check_swing(start_ns, self._now_ns, size_sigma, duration_s, direction, shape,
                     burst_rate, one_sided)
        dur = 0.0 if shape == "step" else float(duration_s)
        move = size_sigma * sim.vol * math.sqrt(max(dur, 1.0))
        label = SwingLabel(
            symbol=symbol, start_ns=start_ns, end_ns=start_ns + round(dur * 1e9),
            size_sigma=float(size_sigma), sigma_local=sim.vol, duration_s=dur,
            direction=direction, shape=shape, move_bp=move * 1e4,
            burst_rate=float(burst_rate), one_sided=float(one_sided),
            mid_before=math.exp(sim.log_mid),
        )
        sim.add_swing(label)
        self._labels.append(label)
        return label


def _check_swing(start_ns: int, now_ns: int, size_sigma: float, duration_s: float,
                 direction: str, shape: str, burst_rate: float, one_sided: float) -> None:
    problems = []
    if start_ns < now_ns:
        problems.append(f"start_ns {start_ns} is before the market clock {now_ns}")
    if not (math.isfinite(size_sigma) and 0 < size_sigma <= 1000):
        problems.append(f"size_sigma must be in (0, 1000], got {size_sigma!r}")
    if direction not in ("up", "down"):
        problems.append(f"direction must be 'up' or 'down', got {direction!r}")
    if shape not in SWING_SHAPES:
        problems.append(f"shape must be one of {SWING_SHAPES}, got {shape!r}")
    if not (math.isfinite(duration_s) and 0 <= duration_s <= 86_400):
        problems.append(f"duration_s must be in [0, 86400], got {duration_s!r}")
    elif shape in ("ramp", "v") and duration_s <= 0:
        problems.append(f"a {shape} needs duration_s > 0")
    elif shape == "grind" and duration_s < 60:
        problems.append("a grind needs duration_s >= 60")
    if not (math.isfinite(burst_rate) and 0 <= burst_rate <= 100_000):
        problems.append(f"burst_rate must be in [0, 100000], got {burst_rate!r}")
    if not (math.isfinite(one_sided) and 0 <= one_sided <= 1):
        problems.append(f"one_sided must be in [0, 1], got {one_sided!r}")
    if problems:
        msg = "; ".join(problems)
        raise ValueError(msg)


def _shifted(t: Trade, delta: int) -> Trade:
    return Trade(t.symbol, t.ts_ns + delta, t.side, t.price, t.qty, t.seq)
