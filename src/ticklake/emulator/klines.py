"""Each traded symbol's klines (bars, reference §6.2), built from its own trades.

Rules (where the reference is silent, the choice is ours and stated here):

* intervals: 60, 300, 900, 1800, 3600, 14400, 86400, 604800, 2592000, 7776000, 31104000 s;
  a bar starts at ``floor(trade second / interval) * interval`` (epoch-aligned, UTC: weeks
  start on Thursdays, "months" are 30 days), ``ts`` in epoch seconds;
* open = the bar's first trade, high, low, close = its last trade (in exchange order),
  volume = Σ qty, turnover = Σ each trade's value truncated at the turnover scale (the 24 h
  ticker's rule, :class:`~ticklake.emulator.tickers.TickerSpec`: COIN-M in the settle
  currency at its valueScale, qty·size/price for an inverse contract, qty·size·price
  otherwise; spot in the quote currency; USDⓈ-M price·qty exactly);
* lastClose = the previous bar's close; the symbol's very first bar has none and states its
  own open;
* an interval without a trade after the symbol's first bar is a *flat* bar: open = high =
  low = close = lastClose, volume 0, turnover 0 (no bar exists before the first trade);
* the current bar is the one holding the market clock (every trade up to it is out): it can
  still change, every earlier bar is final.

Cost: a trade updates the current minute (a few integer operations); when a minute closes,
it is folded into every interval's newest bar (once a minute, not per trade). Each interval
keeps its newest :data:`MAX_BARS` closed traded bars (flat bars are generated when asked):
a window of MAX_BARS bars holds at most MAX_BARS - 1 closed ones besides the newest, so a
full store always reaches past it (the window's first lastClose is known); memory is bounded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from ticklake.emulator.simulator import Trade
from ticklake.emulator.tickers import TickerSpec

__all__ = ["INTERVALS", "MAX_BARS", "Bar", "Row", "SymbolBars", "rows_between"]

INTERVALS = (60, 300, 900, 1800, 3600, 14400, 86400, 604800, 2592000, 7776000, 31104000)
MAX_BARS = 1000  # bars in a snapshot (reference §6.2: "up to 1000 historical bars")
_MINUTE = INTERVALS[0]  # every interval is a multiple of it
_NS = 1_000_000_000

# A traded bar: (ts, open, high, low, close, volume, turnover), in emulator units.
Bar = tuple[int, int, int, int, int, int, int]
# A bar as published: (ts, lastClose, open, high, low, close, volume, turnover).
Row = tuple[int, int, int, int, int, int, int, int]


def _merge(a: Bar, b: Bar) -> Bar:
    """``b`` (later trades) appended to ``a``: ``a``'s ts and open, ``b``'s close."""
    return (a[0], a[1], max(a[2], b[2]), min(a[3], b[3]), b[4], a[5] + b[5], a[6] + b[6])


class _Series:
    """One interval: its closed traded bars (the newest MAX_BARS) and its newest bar, which
    gathers closed minutes until a minute of a later bar arrives."""

    __slots__ = ("closed", "interval", "newest")

    def __init__(self, interval: int) -> None:
        self.interval = interval
        self.closed: deque[Bar] = deque(maxlen=MAX_BARS)
        self.newest: Bar | None = None

    def fold(self, minute: Bar) -> None:
        ts = minute[0] - minute[0] % self.interval
        newest = self.newest
        if newest is not None and newest[0] == ts:
            self.newest = _merge(newest, minute)
            return
        if newest is not None:
            self.closed.append(newest)
        self.newest = (ts, minute[1], minute[2], minute[3], minute[4], minute[5], minute[6])


class SymbolBars:
    """One traded symbol's bars at every interval (see the module docstring)."""

    __slots__ = ("c", "h", "inverse", "l", "m", "mul", "o", "series", "spec", "t", "v",
                 "value_div")

    def __init__(self, spec: TickerSpec) -> None:
        self.spec = spec
        self.inverse, self.mul, self.value_div = spec.inverse, spec.value_mul, spec.value_div
        self.series = {i: _Series(i) for i in INTERVALS}
        self.m = -1  # the current minute's start (-1: no trade yet)
        self.o = self.h = self.l = self.c = self.v = self.t = 0

    def add(self, trade: Trade) -> None:
        """One trade (trades come in exchange order)."""
        price, qty = trade.price, trade.qty
        if self.inverse:
            value = qty * self.mul // (price * self.value_div)
        else:
            value = qty * price * self.mul // self.value_div
        sec = trade.ts_ns // _NS
        minute = sec - sec % _MINUTE
        if minute > self.m:
            if self.m >= 0:
                bar = (self.m, self.o, self.h, self.l, self.c, self.v, self.t)
                for series in self.series.values():
                    series.fold(bar)
            self.m, self.o, self.h, self.l, self.c, self.v, self.t = (
                minute, price, price, price, price, qty, value)
            return
        if price > self.h:
            self.h = price
        elif price < self.l:
            self.l = price
        self.c = price
        self.v += qty
        self.t += value

    def rows(self, interval: int, clock_ns: int, since: int | None = None,
             limit: int = MAX_BARS) -> list[Row]:
        """The bars of ``interval`` from ``since`` (a bar's ts; None: as far back as
        ``limit`` allows) to the current bar at ``clock_ns``, flat ones included, oldest
        first, at most ``limit`` (<= MAX_BARS: the newest)."""
        if not 1 <= limit <= MAX_BARS:
            msg = f"limit must be in [1, {MAX_BARS}], got {limit}"
            raise ValueError(msg)
        clock_s = clock_ns // _NS
        current = clock_s - clock_s % interval
        low = current - (limit - 1) * interval
        if since is not None:
            low = max(low, since)
        traded, before = self._traded_from(interval, low)
        return rows_between(traded, before, interval, low, current)

    def _traded_from(self, interval: int, low: int) -> tuple[list[Bar], int | None]:
        """The traded bars with ts >= ``low`` (oldest first) and the close of the traded bar
        just before them (None: the first of them is the symbol's first bar)."""
        series = self.series[interval]
        live: list[Bar] = [series.newest] if series.newest is not None else []
        if self.m >= 0:
            minute: Bar = (self.m - self.m % interval, self.o, self.h, self.l, self.c, self.v,
                           self.t)
            if live and live[0][0] == minute[0]:
                live[0] = _merge(live[0], minute)
            else:
                live.append(minute)
        older: list[Bar] = []
        before = None
        for bar in reversed(series.closed):
            if bar[0] < low:
                before = bar[4]
                break
            older.append(bar)
        older.reverse()
        traded = older + live
        while traded and traded[0][0] < low:  # only when ``live`` starts before ``low``
            before = traded.pop(0)[4]
        return traded, before


def rows_between(traded: list[Bar], before: int | None, interval: int, low: int,
                 current: int) -> list[Row]:
    """Every bar from ``low`` (or the first traded bar, if nothing came before it) to
    ``current``: the traded ones with their lastClose, flat ones in the gaps."""
    return list(_rows(traded, before, interval, low, current))


def _rows(traded: list[Bar], before: int | None, interval: int, low: int,
          current: int) -> Iterator[Row]:
    if before is None:
        if not traded:
            return  # nothing traded yet
        ts, last = traded[0][0], traded[0][1]  # the first bar ever: lastClose = its open
    else:
        ts, last = low, before
    i, n = 0, len(traded)
    while ts <= current:
        if i < n and traded[i][0] == ts:
            b = traded[i]
            yield (ts, last, b[1], b[2], b[3], b[4], b[5], b[6])
            last = b[4]
            i += 1
        else:
            yield (ts, last, last, last, last, last, 0, 0)
        ts += interval
