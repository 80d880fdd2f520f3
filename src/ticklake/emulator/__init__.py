"""Phemex-compatible exchange emulator: the exchange's twin over a real socket.

A *witness* for the client: it imports nothing from ``ticklake`` outside this package and
encodes its frames itself (shared/docs/phemex-protocol.md, §9 "Emulator must…").

Modules: ``config`` (EmulatorConfig), ``clock`` (exchange time, ``clock_speed`` times real
time: every exchange timestamp and window reads it; pacing stays real), ``products`` (the
basic product table and REST payload),
``catalog``/``catalog_data``/``catalog_payload`` (the exchange-shaped catalogs: hundreds of
symbols, ``exchange`` and ``exchange-2021`` payload shapes; ``catalog.symbol_specs`` and
``catalog.listed_symbols`` are the truth client tests compare against), ``market``
(seeded simulator over all symbols; ``simulator``: one symbol's price and arrivals;
``swings``: labelled swings), ``book`` (order book channel), ``tickers`` (each traded
symbol's 24 h statistics, index, mark, funding and open interest), ``klines`` (each traded
symbol's bars at every interval), ``truth`` (ground-truth log: trades, and beside them the
true books, the published tickers, ticks and bars), ``frames`` / ``ticker_frames`` /
``kline_frames`` (server frames), ``fanout`` (trades and books to subscribers),
``ticker_fanout`` (24 h tickers and ticks to subscribers), ``kline_fanout`` (klines to
subscribers), ``book_faults`` (one step's book
messages to one view, and the book faults), ``dispatch`` (client requests), ``rest`` (HTTP:
products, control),
``faults``/``injector`` (fault kinds, plans, application), ``connection`` (per-client state),
``server`` (Emulator, run_emulator).

Choices where the reference is silent or uncertain:

* served channels: ``trade``, ``trade_p``, ``orderbook``, ``orderbook_p``, ``market24h``,
  ``spot_market24h``, ``market24h_p``, ``perp_market24h_pack_p``, ``tick``, ``tick_p``,
  ``kline``, ``kline_p``;
* unknown method → ``{"code": 6002, "message": "method not found"}`` (configurable);
  real-but-unserved channels (aop, aop_p, wo) and ``user.auth`` → 6001;
* a frame that is not a JSON object with an int ``id`` (also binary frames) → 6001, id null;
* more than ``max_subscriptions`` (channel, symbol) slots → close frame 1008, no reply;
  ``max_requests_per_second`` exceeded → 1008; ``max_connections`` reached → HTTP 429;
* heartbeat timeout, ``close``, ``server_drop``, ``refuse`` → TCP abort (client sees 1006);
* a listed but untraded symbol → ack + empty snapshot, then nothing; so is a catalog row in
  status ``BeingSettled``; a ``Delisted`` row is an unknown symbol (6001, reference §9.5);
* incremental rows are in production order (ascending time); snapshot newest first;
* ``dts``/``mts`` go on every ``_p`` message (trades and books) when ``extra_keys``;
* ``orderbook(_p).unsubscribe []`` drops that channel's book slots, ``[sym]`` is a no-op;
* tickers: ``market24h`` / ``spot_market24h`` / ``market24h_p`` take ``[]`` (every traded
  symbol of the family) or ``[symbol]``; the pack takes ``[]`` (a symbol is ignored); ticks
  need a tick symbol of the products payload; everything every ``ticker_interval`` (1 s) and
  once right after the ack; COIN-M turnover in the settle currency, spot in the quote, each
  trade's value truncated at that currency's scale (:mod:`~ticklake.emulator.tickers`);
* klines (:mod:`~ticklake.emulator.klines`): bars epoch-aligned (``ts`` = floor(trade second /
  interval) · interval), from the symbol's own trades with the tickers' turnover rule; an
  interval without a trade after the first bar is a flat bar (every price = lastClose,
  volume 0); the first bar's lastClose is its own open; snapshot newest first (as H's and
  ROQ's samples), the changed bars pushed every batch period (``kline_push_interval``)
  oldest first, each bar's last version a connection gets being its final one.
"""

from ticklake.emulator.config import UNKNOWN_METHOD_CODE, EmulatorConfig
from ticklake.emulator.faults import FaultKind
from ticklake.emulator.market import Market, Trade
from ticklake.emulator.server import Emulator, run_emulator

__all__ = [
    "UNKNOWN_METHOD_CODE",
    "Emulator",
    "EmulatorConfig",
    "FaultKind",
    "Market",
    "Trade",
    "run_emulator",
]
