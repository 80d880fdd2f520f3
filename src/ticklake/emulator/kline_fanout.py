"""Klines to the subscribed connections (reference §6.2): ``kline`` (COIN-M and spot) and
``kline_p`` (USDⓈ-M).

:class:`KlineFanout` keeps a :class:`~ticklake.emulator.klines.SymbolBars` per traded symbol,
fed every trade (history included) by :class:`~ticklake.emulator.fanout.Fanout`.

* ``kline(_p).subscribe [symbol, interval]`` (interval an int of
  :data:`~ticklake.emulator.klines.INTERVALS`; further params are ignored): one slot per
  (symbol, interval), shown as ``kline:BTCUSD@60``. Right after the ack a ``snapshot`` of the
  newest :data:`~ticklake.emulator.klines.MAX_BARS` bars, **newest first** as in every sample
  (H's ``kline_p`` sample, ROQ's 2025 ``kline`` capture), the current bar included.
* ``kline(_p).unsubscribe []`` drops every kline slot of the channel, ``[symbol]`` every
  interval of that symbol (a second param is ignored: only the first is honoured, §9.6).
* Every ``kline_push_interval`` (0: every batch period, the 20 ms of H's text) each
  subscribed (symbol, interval) gets one ``incremental`` with the bars that changed since
  its previous push, oldest first: the bar that was current then (if it changed: its final
  version once it closed), every bar after it (flat ones included) and the current bar. So
  the last version of a bar a connection receives is its final one, the current bar aside
  (a connection that joins between pushes may get a bar again, never an older version).
  Nothing is pushed while the market is halted (as for books and tickers); after a halt
  longer than MAX_BARS intervals only the newest MAX_BARS bars are pushed.
* ``sequence`` is the symbol's counter at the push (the latest trade or book number, as a
  trade snapshot's): non-decreasing, and repeated when only the clock moved.

A listed but untraded symbol: ack, an empty snapshot, then nothing. Every bar version written
to at least one connection is a line of the kline truth (:mod:`~ticklake.emulator.truth`), and
so is every ``kline_malformed`` fault fired: that connection's frame carries one broken value
(:mod:`~ticklake.emulator.kline_frames`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ticklake.emulator.catalog_payload import payload
from ticklake.emulator.kline_frames import kline_message, kline_record
from ticklake.emulator.klines import INTERVALS, Row, SymbolBars
from ticklake.emulator.simulator import Trade
from ticklake.emulator.tickers import TickerSpec, ticker_specs
from ticklake.emulator.truth import JsonlWriter, kline_truth_path

if TYPE_CHECKING:
    from ticklake.emulator.connection import Client
    from ticklake.emulator.server import Emulator

__all__ = ["ALL", "KLINE_CHANNELS", "KlineFanout", "kline_slot", "parse_kline_slot"]

KLINE_CHANNELS = ("kline", "kline_p")
ALL = "*"  # what ``unsubscribe []`` names: every symbol
FAULT = "kline_malformed"
_NS = 1_000_000_000


def kline_slot(symbol: str, interval: int) -> str:
    """The symbol part of a kline subscription slot: ``BTCUSD@60``."""
    return f"{symbol}@{interval}"


def parse_kline_slot(name: str) -> tuple[str, int]:
    symbol, _, interval = name.rpartition("@")
    return symbol, int(interval)


class KlineFanout:
    """Bars of the traded symbols, their subscriptions' pushes, their truth."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.specs: dict[str, TickerSpec] = dict(emu.tickers.specs)  # the traded symbols'
        self.bars: dict[str, SymbolBars] = {}
        # (symbol, interval) -> the current bar as last pushed to its subscribers
        self.pushed: dict[tuple[str, int], Row] = {}
        self._next_at: float | None = None
        self._truth: JsonlWriter | None = None

    def open(self) -> None:
        """Empty bars per traded symbol (the history follows); the truth file created."""
        self.bars = {s: SymbolBars(spec) for s, spec in self.specs.items()}
        truth = self.emu.config.truth_path
        path = kline_truth_path(truth) if truth is not None else None
        self._truth = JsonlWriter(path) if path is not None else None

    def close(self) -> None:
        if self._truth is not None:
            self._truth.close()
            self._truth = None

    def record(self, trades: list[Trade]) -> None:
        """Every trade into its symbol's current minute (a few integer operations)."""
        bars = self.bars
        for trade in trades:
            bars[trade.symbol].add(trade)

    # ---------------------------------------------------------------- requests

    def _channel_of(self, symbol: str) -> str | None:
        product = self.emu.products.get(symbol)
        if product is None:
            return None
        return "kline_p" if product.family == "usdt_m" else "kline"

    def subscribe_params(self, channel: str, params: object) -> tuple[str, int] | None:
        """(symbol, interval) of a ``[symbol, interval]`` subscribe, None if invalid."""
        if not isinstance(params, list) or len(params) < 2:
            return None
        symbol, interval = params[0], params[1]
        if not isinstance(symbol, str) or self._channel_of(symbol) != channel:
            return None
        if type(interval) is not int or interval not in INTERVALS:
            return None  # a bool, a string, a float or another number of seconds
        return symbol, interval

    def unsubscribe_symbol(self, channel: str, params: object) -> str | None:
        """The symbol an unsubscribe names (``ALL`` for ``[]``), None if invalid."""
        if not isinstance(params, list):
            return None
        if not params:
            return ALL
        symbol = params[0]
        return symbol if isinstance(symbol, str) and self._channel_of(symbol) == channel else None

    def send_snapshot(self, client: Client, channel: str, symbol: str, interval: int) -> None:
        """The newest bars to one connection, right after its subscribe's ack."""
        market = self.emu.market
        assert market is not None  # a server is running
        clock = market.clock_ns
        bars = self.bars.get(symbol)
        rows = bars.rows(interval, clock) if bars is not None else []
        if rows:  # the first subscriber's snapshot is where its pushes start
            self.pushed.setdefault((symbol, interval), rows[-1])
        self._publish(channel, symbol, interval, "snapshot", rows[::-1], [client], clock)

    # ---------------------------------------------------------------- every period

    def on_period(self, now: float) -> None:
        """Called every batch period: push what changed, every ``kline_push_interval``."""
        period = self.emu.config.kline_push_interval
        if period > 0:
            if self._next_at is None:
                self._next_at = now + period
                return
            if now < self._next_at:
                return
            self._next_at = max(self._next_at + period, now)
        market = self.emu.market
        if market is None or market.halted:
            return
        wanted: dict[tuple[str, str, int], list[Client]] = {}
        for client in self.emu.clients.values():
            if client.closing:
                continue
            for channel, name in client.subscriptions:
                if channel in KLINE_CHANNELS:
                    wanted.setdefault((channel, *parse_kline_slot(name)), []).append(client)
        watched = {(symbol, interval) for _, symbol, interval in wanted}
        for key in [k for k in self.pushed if k not in watched]:
            del self.pushed[key]  # nobody left: the next subscriber's snapshot starts anew
        clock = market.clock_ns
        for (channel, symbol, interval), clients in wanted.items():
            bars = self.bars.get(symbol)
            if bars is None:
                continue  # listed but untraded: silent
            last = self.pushed.get((symbol, interval))
            rows = bars.rows(interval, clock, None if last is None else last[0])
            if last is not None and rows and rows[0] == last:
                rows = rows[1:]  # unchanged since it was pushed
            if not rows:
                continue
            self.pushed[(symbol, interval)] = rows[-1]
            self._publish(channel, symbol, interval, "incremental", rows, clients, clock)

    # ---------------------------------------------------------------- sending, truth

    def _spec(self, symbol: str) -> TickerSpec:
        spec = self.specs.get(symbol)
        if spec is None:  # a listed but untraded symbol: its scales for the empty snapshot
            config = self.emu.config
            body = payload(config.catalog, config.symbols)
            spec = self.specs[symbol] = ticker_specs(body, self.emu.products, [symbol])[symbol]
        return spec

    def _sequence(self, symbol: str) -> int:
        market = self.emu.market
        if market is not None and symbol in self.bars:
            return market.sequence(symbol)
        return self.emu.products[symbol].sequence_base  # untraded: a constant counter

    def _publish(self, channel: str, symbol: str, interval: int, kind: str,
                 rows: Sequence[Row], clients: list[Client], clock_ns: int) -> None:
        spec, sequence = self._spec(symbol), self._sequence(symbol)
        scales = self.emu.config.kline_scales
        good: str | None = None
        sent, broken_to = False, []
        for client in clients:
            if client.plan.kline_malformed > 0 and rows:
                text = kline_message(spec, kind, sequence, interval, rows, scales=scales,
                                     broken=True)
                if self._send(client, text):
                    client.plan.kline_malformed -= 1
                    broken_to.append(client)
                    sent = True
                continue
            if good is None:
                good = kline_message(spec, kind, sequence, interval, rows, scales=scales)
            sent = self._send(client, good) or sent
        if not sent or self._truth is None:
            return
        ts_ns = self.emu.now_ns()  # publication time, exchange time (bars are on clock_ns)
        clock_s = clock_ns // _NS
        current = clock_s - clock_s % interval
        for row in sorted(rows):
            self._truth.write(kline_record(channel, spec, interval, row, kind=kind,
                                           final=row[0] < current, sequence=sequence,
                                           ts_ns=ts_ns))
        for client in broken_to:
            self._truth.write({"fault": FAULT, "channel": channel, "symbol": symbol,
                               "interval": interval, "conn": client.id, "ts_ns": ts_ns,
                               "sequence": sequence})

    def _send(self, client: Client, text: str) -> bool:
        """Write one data frame; whether it went out (a stalled or closing one does not)."""
        before = client.frames_sent
        self.emu.send(client, text, data=True)
        return client.frames_sent > before
