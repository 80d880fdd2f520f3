"""The 24 h tickers and the index/mark/funding ticks of the traded symbols (reference §6.3, §6.4).

Everything is an exact integer in the emulator's own units, so the truth is exact:

* prices (open, high, low, last, bid, ask, index, mark) in price units (10**-price_exp);
* volume and open interest in qty units (COIN-M: contracts; USDⓈ-M and spot: base qty);
* turnover in *value units* of 10**-value_exp, per family (:class:`TickerSpec`):

  - COIN-M: the settle currency at its ``valueScale`` as the products payload states it
    (BTCUSD: BTC, 8; ETHUSD: USD, 4). A contract of ``contractSize`` quote units
    (``contractUnderlyingAssets`` = the quote, BTCUSD's 1 USD) is worth qty·size/price settle
    coins (inverse); any other contract qty·size·price quote units (ETHUSD: 0.005 ETH each);
  - spot: the quote currency at the product's price scale (= the quote's valueScale, §7);
  - USDⓈ-M: price·qty exactly, 10**-(price_exp+qty_exp).

  The rule: each trade adds ``floor(its value · 10**value_exp)`` (exact for spot and USDⓈ-M,
  truncated for COIN-M); turnover is the sum of those integers.
* rates (funding, predicted funding) in ``Er`` units of 10**-8, signed.

The 24 h statistics come from per-second buckets of the symbol's trades (history included):
the window at instant T is every bucket whose second is > T's second − 86,400 (the last
86,400 whole seconds, the current one included). open = the first trade's price in it, high
and low over it (monotonic deques), last = the last trade ever (if the window is empty the
statistics are all ``last``, volume 0), volume = Σ qty, turnover = Σ value. Memory is bounded:
at most 86,400 buckets per symbol.

Index, mark, funding and open interest move once per ticker period (:meth:`TickerState.step`,
seeded per symbol; same seed, same calls, same values): the index is a smoothed (EMA) mid
divided by (1 + a slow seeded basis) plus a little seeded noise, on the tick; the premium is
(last − index)/index; mark = index·(1 + EMA of the premium) on the tick; predicted funding =
EMA(premium, fast) + 0.0001 interest, funding = EMA(premium, slow) + 0.0001, both clamped to
±0.00375 (both can be negative); open interest is a seeded random walk driven by the qty traded
since the previous step, in qty steps, never negative. Spot has none of these.

Tick symbols are read from the emulator's own products payload (``indexSymbol``,
``markSymbol``, ``fundingRateSymbol`` = the predicted rate, ``fundingRate8hSymbol`` = the
funding rate), as a client reads them. Where two contracts name the same tick symbol (the
exchange catalogs' ``.BTC`` of BTCUSD and uBTCUSD) the first traded one drives it.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal

from ticklake.emulator.products import Family, Product
from ticklake.emulator.simulator import Trade

__all__ = [
    "RATIO_EXP",
    "TickName",
    "TickerSpec",
    "TickerState",
    "TickerValues",
    "Window",
    "tick_names",
    "ticker_specs",
]

RATIO_EXP = 8  # Er
DAY_S = 86_400
_INTEREST = 0.0001  # per funding interval
_ER = 1e8  # one Er
FUNDING_CAP = 375_000  # ±0.00375 in Er
_TAU_INDEX_S = 3.0  # EMA of the mid
_TAU_PREMIUM_S = 10.0  # mark's premium and the predicted funding rate
_TAU_FUNDING_S = 120.0  # the funding rate
_BASIS_SD = 0.0004  # stationary sd of the basis (perpetual over index), a ratio
_BASIS_REVERSION_S = 60.0
_NOISE_SD = 0.00002  # the index's own noise, a ratio (0.2 bp)
_OI_FILLS = 20_000  # initial open interest ≈ this many median fills

TickKind = Literal["index", "mark", "pred_funding", "funding"]


@dataclass(frozen=True, slots=True)
class TickerSpec:
    """How one traded symbol's values are scaled (see the module docstring)."""

    product: Product
    value_exp: int  # turnover units are 10**-value_exp
    value_mul: int  # value units of one trade: see Window.add
    value_div: int
    inverse: bool
    ticks: tuple[str, ...] = ()  # index, mark, predicted funding, funding tick symbols

    @property
    def family(self) -> Family:
        return self.product.family


@dataclass(frozen=True, slots=True)
class TickName:
    """A tick symbol: which traded (or listed) symbol drives it, and which value it is."""

    channel: str  # "tick" | "tick_p"
    symbol: str
    kind: TickKind


@dataclass(frozen=True, slots=True)
class TickerValues:
    """One symbol's ticker at one instant, in emulator units (None: not in this family)."""

    symbol: str
    open: int
    high: int
    low: int
    last: int
    bid: int | None
    ask: int | None
    index: int | None
    mark: int | None
    volume: int
    turnover: int
    open_interest: int | None
    funding_rate: int | None
    pred_funding_rate: int | None

    def tick(self, kind: TickKind) -> int | None:
        return {"index": self.index, "mark": self.mark, "pred_funding": self.pred_funding_rate,
                "funding": self.funding_rate}[kind]


def _fraction(value: object) -> Fraction:
    return Fraction(Decimal(str(value)))


def ticker_specs(payload: Mapping[str, Any], products: Mapping[str, Product],
                 symbols: Iterable[str]) -> dict[str, TickerSpec]:
    """The spec of every traded symbol in ``symbols``, from the emulator's products payload."""
    data = payload["data"]
    scales = {c["currency"]: int(c["valueScale"]) for c in data["currencies"]}
    rows = {r["symbol"]: r for r in [*data["products"], *(data.get("perpProductsV2") or [])]}
    out: dict[str, TickerSpec] = {}
    for symbol in symbols:
        p = products[symbol]
        row = rows.get(symbol, {})
        ticks = tuple(row.get(k, "") for k in ("indexSymbol", "markSymbol", "fundingRateSymbol",
                                                "fundingRate8hSymbol"))
        if p.family == "spot":
            out[symbol] = TickerSpec(p, p.price_exp, 1, 10**p.qty_exp, False)
        elif p.family == "usdt_m":
            out[symbol] = TickerSpec(p, p.price_exp + p.qty_exp, 1, 1, False, ticks)
        else:
            settle = row["settleCurrency"]
            vexp = int(row.get("valueScale", scales[settle]))
            size = _fraction(row["contractSize"])
            inverse = row.get("contractUnderlyingAssets") == row.get("quoteCurrency", "USD")
            if inverse:  # qty·size/price: mul / (price · div) with price in units
                f = size * 10 ** (vexp + p.price_exp)
            else:  # qty·size·price: price · mul / div
                f = size * Fraction(10**vexp, 10**p.price_exp)
            out[symbol] = TickerSpec(p, vexp, f.numerator, f.denominator, inverse, ticks)
    return out


def tick_names(payload: Mapping[str, Any], products: Mapping[str, Product],
               traded: Iterable[str]) -> dict[str, TickName]:
    """Every tick symbol of a subscribable contract in the payload; a traded contract wins a
    name two contracts share."""
    traded_set = set(traded)
    data = payload["data"]
    out: dict[str, TickName] = {}
    keys: tuple[tuple[str, TickKind], ...] = (
        ("indexSymbol", "index"), ("markSymbol", "mark"),
        ("fundingRateSymbol", "pred_funding"), ("fundingRate8hSymbol", "funding"))
    for row in [*data["products"], *(data.get("perpProductsV2") or [])]:
        product = products.get(row["symbol"])
        if product is None or product.family == "spot":
            continue
        channel = "tick_p" if product.family == "usdt_m" else "tick"
        for key, kind in keys:
            name = row.get(key)
            if not name:
                continue
            old = out.get(name)
            if old is None or (old.symbol not in traded_set and product.symbol in traded_set):
                out[name] = TickName(channel, product.symbol, kind)
    return out


class Window:
    """Rolling 24 h statistics from per-second buckets (cheap per trade)."""

    __slots__ = ("buckets", "h", "highs", "l", "last", "lows", "o", "sec", "t", "total_qty",
                 "turnover", "v", "volume")

    def __init__(self, last: int) -> None:
        # closed buckets: (second, open, high, low, volume, turnover)
        self.buckets: deque[tuple[int, int, int, int, int, int]] = deque()
        self.highs: deque[tuple[int, int]] = deque()  # (second, high), highs decreasing
        self.lows: deque[tuple[int, int]] = deque()  # (second, low), lows increasing
        self.volume = 0  # over the closed buckets
        self.turnover = 0
        self.sec = -1  # the open bucket (-1: none)
        self.o = self.h = self.l = self.v = self.t = 0
        self.last = last
        self.total_qty = 0  # ever traded (drives open interest)

    def add(self, sec: int, price: int, qty: int, value: int) -> None:
        if sec > self.sec:
            if self.sec >= 0:
                self._close()
            self.sec, self.o, self.h, self.l, self.v, self.t = sec, price, price, price, qty, value
        else:
            if price > self.h:
                self.h = price
            elif price < self.l:
                self.l = price
            self.v += qty
            self.t += value
        self.last = price
        self.total_qty += qty

    def _close(self) -> None:
        sec, h, lo = self.sec, self.h, self.l
        self.buckets.append((sec, self.o, h, lo, self.v, self.t))
        self.volume += self.v
        self.turnover += self.t
        highs, lows = self.highs, self.lows
        while highs and highs[-1][1] <= h:
            highs.pop()
        highs.append((sec, h))
        while lows and lows[-1][1] >= lo:
            lows.pop()
        lows.append((sec, lo))
        self.sec = -1

    def stats(self, now_s: int) -> tuple[int, int, int, int, int, int]:
        """(open, high, low, last, volume, turnover) over the 24 h to second ``now_s``."""
        cutoff = now_s - DAY_S
        if 0 <= self.sec <= cutoff:
            self._close()
        buckets = self.buckets
        while buckets and buckets[0][0] <= cutoff:
            old = buckets.popleft()
            self.volume -= old[4]
            self.turnover -= old[5]
        while self.highs and self.highs[0][0] <= cutoff:
            self.highs.popleft()
        while self.lows and self.lows[0][0] <= cutoff:
            self.lows.popleft()
        last = self.last
        live = self.sec >= 0
        if not buckets and not live:
            return last, last, last, last, 0, 0
        his = [self.highs[0][1]] if self.highs else []
        los = [self.lows[0][1]] if self.lows else []
        if live:
            his.append(self.h)
            los.append(self.l)
        first = buckets[0][1] if buckets else self.o
        volume = self.volume + (self.v if live else 0)
        turnover = self.turnover + (self.t if live else 0)
        return first, max(his), min(los), last, volume, turnover


class TickerState:
    """One traded symbol: its 24 h window and its index/mark/funding/open-interest process."""

    def __init__(self, spec: TickerSpec, seed: int, touch: tuple[int, int], now_ns: int) -> None:
        p = spec.product
        self.spec = spec
        self.rng = random.Random(f"ticklake-emulator-ticker:{seed}:{p.symbol}")
        self.touch = touch
        mid = (touch[0] + touch[1]) * p.tick_units / 2
        self.window = Window(self._on_tick(mid))
        self.derivative = p.family != "spot"
        self.t_ns = now_ns
        self.mid_ema = mid
        rng = self.rng
        self.basis = rng.gauss(0.0, _BASIS_SD)
        self.prem_fast = self.prem_slow = self.basis
        self.index = self._on_tick(mid / (1 + self.basis))
        self.mark = self._on_tick(self.index * (1 + self.prem_fast))
        self.pred_funding = self._rate(self.prem_fast)
        self.funding = self._rate(self.prem_slow)
        self.oi_target = max(1, round(p.qty_median_steps * _OI_FILLS * rng.uniform(0.5, 1.5)))
        self.oi_steps = self.oi_target  # open interest in qty steps
        self.qty_seen = 0

    def _on_tick(self, price: float) -> int:
        tick = self.spec.product.tick_units
        return max(tick, round(price / tick) * tick)

    @staticmethod
    def _rate(premium: float) -> int:
        er = round((premium + _INTEREST) * _ER)
        return max(-FUNDING_CAP, min(FUNDING_CAP, er))

    def add(self, trade: Trade) -> None:
        spec = self.spec
        if spec.inverse:
            value = trade.qty * spec.value_mul // (trade.price * spec.value_div)
        else:
            value = trade.qty * trade.price * spec.value_mul // spec.value_div
        self.window.add(trade.ts_ns // 1_000_000_000, trade.price, trade.qty, value)

    def step(self, now_ns: int, touch: tuple[int, int]) -> None:
        """One ticker period: the touch moves the index; the premium, mark, funding and open
        interest follow (spot: only the touch is kept)."""
        self.touch = touch
        if not self.derivative:
            return
        p, rng = self.spec.product, self.rng
        dt = max(0.0, (now_ns - self.t_ns) / 1e9)
        self.t_ns = max(self.t_ns, now_ns)
        mid = (touch[0] + touch[1]) * p.tick_units / 2
        self.mid_ema += -math.expm1(-dt / _TAU_INDEX_S) * (mid - self.mid_ema)
        keep = math.exp(-dt / _BASIS_REVERSION_S)
        self.basis = self.basis * keep + _BASIS_SD * math.sqrt(1 - keep * keep) * rng.gauss(0, 1)
        noise = rng.gauss(0.0, _NOISE_SD)
        self.index = self._on_tick(self.mid_ema / (1 + self.basis) * (1 + noise))
        premium = (self.window.last - self.index) / self.index
        self.prem_fast += -math.expm1(-dt / _TAU_PREMIUM_S) * (premium - self.prem_fast)
        self.prem_slow += -math.expm1(-dt / _TAU_FUNDING_S) * (premium - self.prem_slow)
        self.mark = self._on_tick(self.index * (1 + self.prem_fast))
        self.pred_funding = self._rate(self.prem_fast)
        self.funding = self._rate(self.prem_slow)
        traded = self.window.total_qty - self.qty_seen
        self.qty_seen = self.window.total_qty
        steps = traded / p.qty_step_units
        pull = 0.05 * (self.oi_target - self.oi_steps) / self.oi_target
        self.oi_steps = max(0, self.oi_steps + round(steps * (rng.gauss(0.0, 0.4) + pull)))

    def values(self, now_ns: int) -> TickerValues:
        p = self.spec.product
        o, h, lo, last, volume, turnover = self.window.stats(now_ns // 1_000_000_000)
        family = p.family
        bid = ask = None
        if family != "coin_m":
            bid, ask = self.touch[0] * p.tick_units, self.touch[1] * p.tick_units
        if not self.derivative:
            return TickerValues(p.symbol, o, h, lo, last, bid, ask, None, None, volume,
                                turnover, None, None, None)
        return TickerValues(p.symbol, o, h, lo, last, bid, ask, self.index, self.mark, volume,
                            turnover, self.oi_steps * p.qty_step_units, self.funding,
                            self.pred_funding)
