"""A seeded, deterministic market over many symbols (pure: time comes in as an argument).

:class:`Market` is what the server and the benches drive: history before the start time
(:meth:`Market.prefill`), trades up to a clock (:meth:`Market.advance`), halts, sequence
jumps, and labelled swings (:meth:`Market.inject_swing`, :mod:`~ticklake.emulator.swings`).
Each symbol is simulated on its own (:mod:`~ticklake.emulator.simulator`: jump-diffusion mid,
Hawkes arrivals, sweeping fills, optional stochastic volatility) and the symbols' trades are
merged by timestamp.

Same seed, same symbols, the same options and the same sequence of calls (time arguments and
injections) give the same trades.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping
from typing import Literal

from ticklake.emulator.products import Product, lookup
from ticklake.emulator.simulator import SymbolSim, Trade
from ticklake.emulator.swings import SwingLabel, SwingShape, check_swing

# Trade and SwingLabel are what Market returns: importable with it.
__all__ = ["Market", "SwingLabel", "Trade"]


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
        self._sims: dict[str, SymbolSim] = {}
        for symbol in symbols:
            # a catalog product, or a real or synthetic (--extra-symbols) basic one
            product = products.get(symbol) if products is not None else lookup(symbol)
            if product is None:
                msg = f"unknown symbol {symbol!r}"
                raise ValueError(msg)
            self._sims[symbol] = SymbolSim(
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

    @property
    def clock_ns(self) -> int:
        """The time the market was advanced to: every trade up to it has been produced."""
        return self._now_ns

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
                sim.next_ns += sim.draw_gap()
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
        check_swing(start_ns, self._now_ns, size_sigma, duration_s, direction, shape,
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


def _shifted(t: Trade, delta: int) -> Trade:
    return Trade(t.symbol, t.ts_ns + delta, t.side, t.price, t.qty, t.seq)
