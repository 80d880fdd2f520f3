"""24 h tickers and index/mark/funding ticks to the subscribed connections (reference §6.3, §6.4).

:class:`TickerFanout` keeps a :class:`~ticklake.emulator.tickers.TickerState` per traded symbol
(fed every trade, history included, by :class:`~ticklake.emulator.fanout.Fanout`), steps them
every ``ticker_interval`` from the server's period loop and pushes every channel at once:

* ``market24h`` (COIN-M), ``spot_market24h`` (spot), ``market24h_p`` (USDⓈ-M): one message
  per symbol; ``[]`` subscribes every traded symbol of the family, ``[symbol]`` that one;
* ``perp_market24h_pack_p``: one message with a row per traded USDⓈ-M symbol; ``[]`` (or a
  USDⓈ-M symbol, which is ignored: the pack is always whole) — one slot; ``type`` is
  ``snapshot`` in the message sent right after the ack, ``incremental`` afterwards (each with
  every row), columns per ``ticker_pack_fields``;
* ``tick`` / ``tick_p``: ``[tick symbol]`` as the products payload names them (``[]`` is
  invalid).

Right after a subscribe's ack the connection gets the current values (a publication of its
own, with its own ts). Periodic pushes stop while the market is halted (as book steps do).
Listed but untraded symbols have no ticker: left out of all-symbol messages, silent when named.

Every publication written to at least one connection is a line of the ticker (or tick) truth
(:mod:`~ticklake.emulator.truth`), and so is every ``ticker_malformed`` fault fired: that
connection's frame carries one broken value (:mod:`~ticklake.emulator.ticker_frames`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ticklake.emulator.catalog_payload import payload
from ticklake.emulator.products import Family
from ticklake.emulator.simulator import Trade
from ticklake.emulator.ticker_frames import (
    coin_m_message,
    market24h_p_message,
    pack_message,
    spot_message,
    tick_message,
    tick_record,
    tick_value,
    ticker_record,
)
from ticklake.emulator.tickers import (
    TickerSpec,
    TickerState,
    TickerValues,
    tick_names,
    ticker_specs,
)
from ticklake.emulator.truth import JsonlWriter, tick_truth_path, ticker_truth_path

if TYPE_CHECKING:
    from ticklake.emulator.connection import Client
    from ticklake.emulator.market import Market
    from ticklake.emulator.server import Emulator

__all__ = ["ALL", "PACK", "TICKER_CHANNELS", "TICK_CHANNELS", "TickerFanout"]

PACK = "perp_market24h_pack_p"
TICKER_CHANNELS: dict[str, Family] = {
    "market24h": "coin_m", "spot_market24h": "spot", "market24h_p": "usdt_m", PACK: "usdt_m",
}
TICK_CHANNELS: dict[str, Family] = {"tick": "coin_m", "tick_p": "usdt_m"}
ALL = "*"  # the symbol of an all-symbols slot: ("market24h", "*")
FAULT = "ticker_malformed"


class TickerFanout:
    """Ticker states of the traded symbols, their subscriptions' pushes, their truth."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        config = emu.config
        body = payload(config.catalog, config.symbols)
        self.specs: dict[str, TickerSpec] = ticker_specs(body, emu.products, config.symbols)
        self.names = tick_names(body, emu.products, config.symbols)
        self.states: dict[str, TickerState] = {}
        self.by_family: dict[Family, list[str]] = {"coin_m": [], "usdt_m": [], "spot": []}
        for symbol, spec in self.specs.items():
            self.by_family[spec.family].append(symbol)
        self._next_at: float | None = None
        self._truth: JsonlWriter | None = None
        self._tick_truth: JsonlWriter | None = None

    def open(self, market: Market) -> None:
        """A state per traded symbol at the market's touch; the truth files created."""
        seed, now_ns = self.emu.config.seed, self.emu.now_ns()
        self.states = {s: TickerState(spec, seed, market.touch(s), now_ns)
                       for s, spec in self.specs.items()}
        truth = self.emu.config.truth_path
        if truth is not None:
            tickers, ticks = ticker_truth_path(truth), tick_truth_path(truth)
            self._truth = JsonlWriter(tickers) if tickers is not None else None
            self._tick_truth = JsonlWriter(ticks) if ticks is not None else None

    def close(self) -> None:
        for writer in (self._truth, self._tick_truth):
            if writer is not None:
                writer.close()
        self._truth = self._tick_truth = None

    def record(self, trades: list[Trade]) -> None:
        """Every trade into its symbol's 24 h buckets (cheap: a few integer operations)."""
        states = self.states
        for trade in trades:
            states[trade.symbol].add(trade)

    # ---------------------------------------------------------------- requests

    def slot_symbol(self, channel: str, params: object, *, unsubscribe: bool) -> str | None:
        """The slot's symbol a request names (``ALL`` for ``[]``), None if invalid. Only the
        first param is honoured."""
        if not isinstance(params, list):
            return None
        tick = channel in TICK_CHANNELS
        if not params:
            return ALL if unsubscribe or not tick else None
        first = params[0]
        if not isinstance(first, str):
            return None
        if tick:
            name = self.names.get(first)
            return first if name is not None and name.channel == channel else None
        product = self.emu.products.get(first)
        if product is None or product.family != TICKER_CHANNELS[channel]:
            return None
        return ALL if channel == PACK else first

    def send_now(self, client: Client, channel: str, symbol: str) -> None:
        """The current values to one connection, right after its subscribe's ack."""
        self._publish(self.emu.now_ns(), {channel: {symbol: [client]}}, snapshot=True)

    # ---------------------------------------------------------------- every period

    def on_period(self, now: float) -> None:
        """Called every batch period: every ``ticker_interval`` step and push everything."""
        interval = self.emu.config.ticker_interval
        if self._next_at is None:
            self._next_at = now + interval
            return
        if now < self._next_at:
            return
        self._next_at = max(self._next_at + interval, now)
        market = self.emu.market
        if market is None or market.halted:
            return
        # Paced in real seconds (``now``), stepped and stamped in exchange time: the 24 h
        # windows and the funding EMAs move with the exchange's clock, whatever its speed.
        now_ns = self.emu.now_ns()
        for symbol, state in self.states.items():
            state.step(now_ns, market.touch(symbol))
        wanted: dict[str, dict[str, list[Client]]] = {}
        for client in self.emu.clients.values():
            if client.closing:
                continue
            for channel, symbol in client.subscriptions:
                if channel in TICKER_CHANNELS or channel in TICK_CHANNELS:
                    wanted.setdefault(channel, {}).setdefault(symbol, []).append(client)
        if wanted:
            self._publish(now_ns, wanted, snapshot=False)

    def _publish(self, now_ns: int, wanted: dict[str, dict[str, list[Client]]], *,
                 snapshot: bool) -> None:
        cache: dict[str, TickerValues] = {}

        def values(symbol: str) -> TickerValues:
            v = cache.get(symbol)
            if v is None:
                v = cache[symbol] = self.states[symbol].values(now_ns)
            return v

        for channel, slots in wanted.items():
            if channel in TICK_CHANNELS:
                self._ticks(now_ns, channel, slots, values)
            elif channel == PACK:
                clients = list(dict.fromkeys(c for group in slots.values() for c in group))
                self._pack(now_ns, clients, values, "snapshot" if snapshot else "incremental")
            else:
                self._per_symbol(now_ns, channel, slots, values)

    def _listeners(self, channel: str, slots: dict[str, list[Client]]) -> dict[str, list[Client]]:
        """Traded symbol -> its connections (once each), in the configured symbols' order."""
        family = TICKER_CHANNELS[channel]
        out: dict[str, dict[Client, None]] = {s: {} for s in self.by_family[family]}
        for symbol, clients in slots.items():
            for s in (out if symbol == ALL else [symbol] if symbol in out else []):
                out[s].update(dict.fromkeys(clients))
        return {s: list(c) for s, c in out.items() if c}

    def _per_symbol(self, now_ns: int, channel: str, slots: dict[str, list[Client]],
                    values: Callable[[str], TickerValues]) -> None:
        cfg = self.emu.config
        for symbol, clients in self._listeners(channel, slots).items():
            spec, v = self.specs[symbol], values(symbol)

            def text(broken: bool, spec: TickerSpec = spec, v: TickerValues = v) -> str:
                if channel == "market24h":
                    return coin_m_message(v, now_ns, inner_ts=cfg.ticker_inner_timestamp,
                                          broken=broken)
                if channel == "spot_market24h":
                    return spot_message(v, now_ns, broken=broken)
                return market24h_p_message(spec, v, now_ns, broken=broken)

            broken_to = self._send_all(clients, text)
            if broken_to is not None:
                self._write_ticker(ticker_record(channel, spec, v, now_ns))
                self._write_faults(channel, symbol, now_ns, broken_to)

    def _pack(self, now_ns: int, clients: list[Client],
              values: Callable[[str], TickerValues], kind: str) -> None:
        symbols = self.by_family["usdt_m"]
        if not symbols:
            return
        fields = self.emu.config.ticker_pack_fields
        rows = [(self.specs[s], values(s)) for s in symbols]

        def text(broken: bool) -> str:
            return pack_message(rows, fields, kind, now_ns, broken_row=0 if broken else None)

        broken_to = self._send_all(clients, text)
        if broken_to is None:
            return
        for spec, v in rows:
            self._write_ticker(ticker_record(PACK, spec, v, now_ns, fields))
        self._write_faults(PACK, symbols[0], now_ns, broken_to)

    def _ticks(self, now_ns: int, channel: str, slots: dict[str, list[Client]],
               values: Callable[[str], TickerValues]) -> None:
        for name_text, clients in slots.items():
            name = self.names.get(name_text)
            if name is None or name.symbol not in self.states:
                continue  # a tick of a listed but untraded contract: silent
            value, scale = tick_value(name, self.specs[name.symbol], values(name.symbol))
            text = tick_message(name_text, name, value, scale, now_ns)
            if any([self._send(c, text) for c in clients]) and self._tick_truth is not None:
                self._tick_truth.write(tick_record(channel, name_text, now_ns, value, scale))

    # ---------------------------------------------------------------- sending, truth

    def _send(self, client: Client, text: str) -> bool:
        """Write one data frame; whether it went out (a stalled or closing one does not)."""
        before = client.frames_sent
        self.emu.send(client, text, data=True)
        return client.frames_sent > before

    def _send_all(self, clients: list[Client],
                  text: Callable[[bool], str]) -> list[Client] | None:
        """Send to each connection (a broken frame to those with ``ticker_malformed`` armed);
        the connections that got a broken one, or None if nobody got anything."""
        good: str | None = None
        sent, broken_to = False, []
        for client in clients:
            if client.plan.ticker_malformed > 0:
                if self._send(client, text(True)):
                    client.plan.ticker_malformed -= 1
                    broken_to.append(client)
                    sent = True
                continue
            if good is None:
                good = text(False)
            sent = self._send(client, good) or sent
        return broken_to if sent else None

    def _write_ticker(self, record: dict[str, object]) -> None:
        if self._truth is not None:
            self._truth.write(record)

    def _write_faults(self, channel: str, symbol: str, ts_ns: int,
                      broken_to: list[Client]) -> None:
        if self._truth is None:
            return
        for client in broken_to:
            self._truth.write({"fault": FAULT, "channel": channel, "symbol": symbol,
                               "conn": client.id, "ts_ns": ts_ns})
