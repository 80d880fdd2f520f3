"""24-hour tickers and index/mark/funding ticks (reference §6.3, §6.4), parsed exactly.
Sans-I/O: a decoded frame in, rows out.

Every number becomes an exact integer at the lake's scale (10**8), whatever the wire used:

* COIN-M ``market24h``: ``…Ep``-style prices at the product's ``priceScale``, funding rates
  ``Er`` at the ratio scale (8), volume and open interest in contracts, turnover ``Ev`` at
  the settle currency's ``valueScale`` (the product's ``value_scale``);
* spot ``spot_market24h``: ``…Ep`` at ``priceScale``, ``volumeEv`` at the base currency's
  scale (the product's qty scale), ``turnoverEv`` at the quote currency's (its price scale);
* USDⓈ-M ``market24h_p`` and ``perp_market24h_pack_p``: decimal strings (``Rp``, ``Rq``,
  ``Rv``, ``Rr``). The packed form is read by its ``fields`` names, never by position: a
  column appended later (``bidRp``/``askRp`` in 2024) is read when known and kept in
  ``extra`` (its text) when not, instead of shifting or failing;
* ``tick``: an integer with the message's own ``scale``; ``tick_p``: a decimal string.

Funding rates can be negative, so every value is signed here (trades and books never are).
A value that does not fit the lake's scale exactly, a missing symbol or a malformed row raises
:class:`TickerError` with the reason: the frame is quarantined whole, as a bad trade frame is.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from typing import Any

import msgspec

from ticklake.feed.events import (
    Event,
    FrameRejected,
    TickerRow,
    TickersReceived,
    TickRow,
    TicksReceived,
)
from ticklake.feed.phemex.klines import KlineError, parse_klines
from ticklake.feed.phemex.normalize import BadNumber, scale_decimal, timestamp_ns
from ticklake.feed.phemex.products import Family, Product, ProductTable
from ticklake.tables import DECIMAL_SCALE

RATIO_SCALE = 8  # Phemex's ``Er`` (§7)
ProductOf = Callable[[str], Product | None]  # a symbol's product (None: unknown)

# The normalized columns of a ticker row (docs/lake-layout.md ``tickers``).
# What the lake's decimals hold, unscaled: decimal(18, 8), and decimal(38, 8) for these.
LIMIT, WIDE_LIMIT = 10**18, 10**38
WIDE_COLUMNS = frozenset(("volume", "turnover", "open_interest"))
TICKER_COLUMNS = ("open", "high", "low", "last", "bid", "ask", "index_price", "mark_price",
                  "volume", "turnover", "open_interest", "funding_rate", "pred_funding_rate")

# wire name -> (column, what scales it): "price", "qty", "value", "ratio", "contracts"
_COIN_M = {
    "open": ("open", "price"), "high": ("high", "price"), "low": ("low", "price"),
    "close": ("last", "price"), "indexPrice": ("index_price", "price"),
    "markPrice": ("mark_price", "price"), "volume": ("volume", "contracts"),
    "turnover": ("turnover", "value"), "openInterest": ("open_interest", "contracts"),
    "fundingRate": ("funding_rate", "ratio"), "predFundingRate": ("pred_funding_rate", "ratio"),
}
_SPOT = {
    "openEp": ("open", "price"), "highEp": ("high", "price"), "lowEp": ("low", "price"),
    "lastEp": ("last", "price"), "bidEp": ("bid", "price"), "askEp": ("ask", "price"),
    "volumeEv": ("volume", "qty"), "turnoverEv": ("turnover", "price"),
}
# USDⓈ-M: every value a decimal string; the pack's names and market24h_p's (§6.3)
_USD_M = {
    "openRp": "open", "highRp": "high", "lowRp": "low", "lastRp": "last", "closeRp": "last",
    "bidRp": "bid", "askRp": "ask", "indexRp": "index_price", "indexPriceRp": "index_price",
    "markRp": "mark_price", "markPriceRp": "mark_price", "volumeRq": "volume",
    "turnoverRv": "turnover", "openInterestRv": "open_interest",
    "fundingRateRr": "funding_rate", "predFundingRateRr": "pred_funding_rate",
}
_IGNORED = {"symbol", "timestamp"}


class TickerError(ValueError):
    """A ticker or tick message that cannot be read exactly (the reason is the message)."""


class _Push(msgspec.Struct):
    """The pushes of the channels other than trades and books (§6.2-6.4)."""

    kline: msgspec.Raw = msgspec.Raw()  # (read by ``klines``)
    kline_p: msgspec.Raw = msgspec.Raw()
    market24h: dict[str, Any] | None = None
    spot_market24h: dict[str, Any] | None = None
    market24h_p: dict[str, Any] | None = None
    tick: dict[str, Any] | None = None
    tick_p: dict[str, Any] | None = None
    # perp_market24h_pack_p: column names, then rows of values in their order
    fields: list[str] | None = None
    data: list[list[Any]] | None = None
    timestamp: object = None


_push_decoder = msgspec.json.Decoder(_Push)


def other_push(data: str | bytes, products: ProductOf, symbols: Container[str],
               recv_ns: int) -> list[Event]:
    """A push that is no reply, trade or book message: its kline bars, ticker or tick rows as
    an event, a rejection if it is unreadable or nothing Phemex sends."""
    try:
        push = _push_decoder.decode(data)
        if push.kline or push.kline_p:
            return [parse_klines(data, products, recv_ns)]
        rows = _rows(push, products, recv_ns, symbols)
    except (msgspec.DecodeError, UnicodeError, TickerError, KlineError) as exc:
        return [_rejected(str(exc), data)]
    if rows is None:
        return [_rejected("not a Phemex message (no id, error or known payload key)", data)]
    if not rows:
        return []
    if isinstance(rows[0], TickRow):
        return [TicksReceived(rows, recv_ns)]
    return [TickersReceived(rows, recv_ns)]


def parse_ticker_frame(data: str | bytes, products: ProductTable, recv_ns: int,
                       symbols: Container[str] | None = None) -> list[TickerRow] | list[TickRow]:
    """The rows of one ticker or tick push; :class:`TickerError` if it cannot be read.

    ``symbols``: keep only these symbols' ticker rows (the all-symbol channels carry every
    listed product; a recording keeps those it follows). Others are not read at all, so a
    symbol listed after the products were fetched is no error. Ticks are always kept.
    """
    try:
        push = _push_decoder.decode(data)
    except (msgspec.DecodeError, UnicodeError) as exc:
        raise TickerError(str(exc)) from None
    rows = _rows(push, products.get, recv_ns, symbols)
    if rows is None:
        msg = "no ticker or tick payload"
        raise TickerError(msg)
    return rows


def _rows(push: _Push, products: ProductOf, recv_ns: int,
          symbols: Container[str] | None) -> list[TickerRow] | list[TickRow] | None:
    if push.fields is not None and push.data is not None:
        return _packed(push.fields, push.data, products, _ts(push.timestamp, recv_ns), symbols)
    for channel, body, names in (("market24h", push.market24h, _COIN_M),
                                 ("spot_market24h", push.spot_market24h, _SPOT)):
        if body is not None:
            if symbols is not None and _symbol(body) not in symbols:
                return []
            # (the top-level timestamp; some samples carry one inside the body instead)
            ts_ns = _ts(push.timestamp if push.timestamp is not None
                        else body.get("timestamp"), recv_ns)
            return [_scaled_row(channel, body, names, products, ts_ns)]
    ts_ns = _ts(push.timestamp, recv_ns)
    if push.market24h_p is not None:
        body = push.market24h_p
        if symbols is not None and _symbol(body) not in symbols:
            return []
        return [_text_row("market24h_p", _symbol(body), body.items(), products, ts_ns)]
    if push.tick is not None:
        return [_tick(push.tick, ts_ns)]
    if push.tick_p is not None:
        return [_tick_p(push.tick_p, ts_ns)]
    return None


def _rejected(reason: str, data: str | bytes) -> FrameRejected:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return FrameRejected(reason, text.encode("utf-8", "replace").decode())


def _packed(fields: list[str], data: list[list[Any]], products: ProductOf,
            ts_ns: int, symbols: Container[str] | None) -> list[TickerRow]:
    if "symbol" not in fields:
        msg = "perp_market24h_pack_p: no 'symbol' among its fields"
        raise TickerError(msg)
    at = fields.index("symbol")
    rows = []
    for values in data:
        if len(values) != len(fields):
            msg = (f"perp_market24h_pack_p: a row of {len(values)} values for "
                   f"{len(fields)} fields")
            raise TickerError(msg)
        if symbols is not None and (not isinstance(values[at], str) or values[at] not in symbols):
            continue  # (a symbol that is no text is no followed one: its row is not read)
        body = dict(zip(fields, values, strict=True))
        rows.append(_text_row("perp_market24h_pack_p", _symbol(body), body.items(), products,
                              ts_ns))
    return rows


def _scaled_row(channel: str, body: dict[str, Any], names: dict[str, tuple[str, str]],
                products: ProductOf, ts_ns: int) -> TickerRow:
    symbol = _symbol(body)
    product = products(symbol)
    if product is None:
        msg = f"{channel}: unknown symbol {symbol!r}"
        raise TickerError(msg)
    scales = {"price": product.price_scale, "qty": product.qty_scale, "ratio": RATIO_SCALE,
              "contracts": 0, "value": product.value_scale}
    values: dict[str, int | None] = dict.fromkeys(TICKER_COLUMNS)
    extra: dict[str, str] = {}
    for name, raw in body.items():
        known = names.get(name)
        if known is None:
            if name not in _IGNORED:
                extra[name] = _text(raw)
            continue
        column, kind = known
        values[column] = _fits(column, _at_lake_scale(raw, scales[kind], f"{channel}.{name}"),
                               f"{channel}.{name}")
    return TickerRow(symbol, ts_ns, channel, values, extra)


def _text_row(channel: str, symbol: str, items: Any, products: ProductOf,
              ts_ns: int) -> TickerRow:
    product = products(symbol)
    if product is not None and product.family is not Family.USD_M:
        msg = f"{channel}: {symbol} is not a USDⓈ-M product"
        raise TickerError(msg)
    values: dict[str, int | None] = dict.fromkeys(TICKER_COLUMNS)
    extra: dict[str, str] = {}
    for name, raw in items:
        column = _USD_M.get(name)
        if column is None:
            if name not in _IGNORED:
                extra[name] = _text(raw)
            continue
        if raw is None:
            continue
        if not isinstance(raw, str):
            msg = f"{channel}.{name}: expected a decimal string, got {_text(raw)!r}"
            raise TickerError(msg)
        values[column] = _fits(column, _decimal(raw, f"{channel}.{name}"), f"{channel}.{name}")
    return TickerRow(symbol, ts_ns, channel, values, extra)


def _tick(body: dict[str, Any], ts_ns: int) -> TickRow:
    """(the tick's own timestamp first: the push has none at its top level)"""
    symbol, last, scale = _symbol(body), body.get("last"), body.get("scale")
    if type(scale) is not int or not 0 <= scale <= DECIMAL_SCALE:
        msg = f"tick {symbol}: scale {scale!r} is not an integer in 0..{DECIMAL_SCALE}"
        raise TickerError(msg)
    return TickRow(symbol, _ts(body.get("timestamp"), ts_ns), "tick",
                   _fits("value", _at_lake_scale(last, scale, f"tick {symbol}.last"),
                         f"tick {symbol}.last"))


def _tick_p(body: dict[str, Any], ts_ns: int) -> TickRow:
    symbol, last = _symbol(body), body.get("last")
    if not isinstance(last, str):
        msg = f"tick_p {symbol}.last: expected a decimal string, got {_text(last)!r}"
        raise TickerError(msg)
    return TickRow(symbol, _ts(body.get("timestamp"), ts_ns), "tick_p",
                   _fits("value", _decimal(last, f"tick_p {symbol}.last"),
                         f"tick_p {symbol}.last"))


def _symbol(body: dict[str, Any]) -> str:
    symbol = body.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        msg = "a ticker without a symbol"
        raise TickerError(msg)
    return symbol


def _fits(column: str, value: int, where: str) -> int:
    """The value, if the lake's column holds it exactly (decimal(38, 8) for volumes,
    turnover and open interest, decimal(18, 8) for the rest)."""
    if abs(value) >= (WIDE_LIMIT if column in WIDE_COLUMNS else LIMIT):
        msg = f"{where}: beyond the lake's decimal"
        raise TickerError(msg)
    return value


def _at_lake_scale(raw: object, scale: int | None, where: str) -> int:
    """A scaled wire integer (value = raw / 10**scale) at 10**8, exactly."""
    if not isinstance(raw, int) or isinstance(raw, bool):
        msg = f"{where}: expected an integer, got {_text(raw)!r}"
        raise TickerError(msg)
    if scale is None:
        msg = f"{where}: its currency's valueScale is unknown (not in the products payload)"
        raise TickerError(msg)
    if scale > DECIMAL_SCALE:
        msg = f"{where}: scale {scale} is beyond the lake's {DECIMAL_SCALE} decimals"
        raise TickerError(msg)
    factor: int = 10 ** (DECIMAL_SCALE - scale)
    return raw * factor


def _decimal(text: str, where: str) -> int:
    """A signed decimal string at 10**8, exactly."""
    negative = text.startswith("-")
    try:
        value = scale_decimal(text[1:] if negative else text, DECIMAL_SCALE)
    except BadNumber as exc:
        msg = f"{where}: {exc}"
        raise TickerError(msg) from None
    return -value if negative else value


def _ts(value: object, default: int) -> int:
    try:
        return timestamp_ns(value, default)
    except ValueError as exc:
        raise TickerError(str(exc)) from None


def _text(raw: object) -> str:
    return raw if isinstance(raw, str) else msgspec.json.encode(raw).decode()
