"""Exchange klines (reference §6.2), parsed exactly. Sans-I/O: a frame in, rows out.

``kline`` (COIN-M, spot) rows are ``[ts, interval, lastCloseEp, openEp, highEp, lowEp,
closeEp, volume, turnoverEv]``: scaled integers, at the scales the message states
(``priceScale``, ``valueScale``, ``qtyScale`` on spot: recent messages carry them) or else the
product's: prices at its price scale, volume in contracts (COIN-M) or at the base currency's
scale (spot), turnover at the settle (COIN-M) or quote (spot) currency's. ``kline_p`` rows
(USDⓈ-M) carry the seven numbers as decimal strings. ``ts`` is the bar's start in epoch
**seconds** (every sample; the docs' "nanoseconds" is an erratum). A message is a
``snapshot`` (up to 1,000 bars) or an ``incremental``; a bar comes again each time it changes,
so the last version of a bar (in spool order) is the exchange's final word on it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ticklake.feed.events import KlineRow, KlinesReceived
from ticklake.feed.phemex.normalize import BadNumber, scale_decimal
from ticklake.feed.phemex.products import Family, Product
from ticklake.tables import DECIMAL_SCALE

# The exchange's intervals, seconds (§6.2): anything else is refused with 6001.
INTERVALS = (60, 300, 900, 1800, 3600, 14400, 86400, 604800, 2592000, 7776000, 31104000)
_LIMIT, _WIDE_LIMIT = 10**18, 10**38  # the lake's decimal(18, 8) and decimal(38, 8)
_MAX_TS_S = 2**63 // 10**9
_FIELDS = ("last_close", "open", "high", "low", "close", "volume", "turnover")


class KlineError(ValueError):
    """A kline message that cannot be read exactly (the reason is the message)."""


class _Message(msgspec.Struct):
    kline: list[list[Any]] | None = None
    kline_p: list[list[Any]] | None = None
    symbol: str | None = None
    sequence: int | None = None
    type: str | None = None
    priceScale: int | None = None
    valueScale: int | None = None
    qtyScale: int | None = None


_decoder = msgspec.json.Decoder(_Message)


def parse_klines(data: str | bytes, product_of: Any, recv_ns: int) -> KlinesReceived:
    """The bars of one ``kline``/``kline_p`` message; :class:`KlineError` if unreadable."""
    try:
        message = _decoder.decode(data)
    except (msgspec.DecodeError, UnicodeError) as exc:
        raise KlineError(str(exc)) from None
    text = message.kline_p is not None
    bars = message.kline_p if text else message.kline
    channel = "kline_p" if text else "kline"
    if bars is None:
        msg = "kline message without bars"
        raise KlineError(msg)
    if not message.symbol or message.sequence is None or message.sequence < 0 or (
            message.type not in ("snapshot", "incremental")):
        msg = f"{channel} message without symbol, sequence or type"
        raise KlineError(msg)
    product: Product | None = product_of(message.symbol)
    if product is None:
        msg = f"{channel} for unknown symbol {message.symbol!r}"
        raise KlineError(msg)
    if text != (product.family is Family.USD_M):
        msg = f"{channel} for {message.symbol}, a {product.family.value} product"
        raise KlineError(msg)
    scales = None if text else _scales(message, product)
    rows = [_row(bar, scales, f"{channel} {message.symbol}") for bar in bars]
    return KlinesReceived(message.symbol, channel, message.sequence,
                          message.type == "snapshot", rows, recv_ns)


def _scales(message: _Message, product: Product) -> tuple[int, ...]:
    """The scales of the seven numbers (last close, OHLC, volume, turnover)."""
    price = message.priceScale if message.priceScale is not None else product.price_scale
    if product.family is Family.SPOT:
        qty = message.qtyScale if message.qtyScale is not None else product.qty_scale
    else:
        qty = 0  # contracts
    value = message.valueScale if message.valueScale is not None else product.value_scale
    if value is None:
        msg = f"kline {product.symbol}: no valueScale (in the message or the products payload)"
        raise KlineError(msg)
    for scale in (price, qty, value):
        if not 0 <= scale <= DECIMAL_SCALE:
            msg = f"kline {product.symbol}: scale {scale} outside 0..{DECIMAL_SCALE}"
            raise KlineError(msg)
    return (price,) * 5 + (qty, value)


def _row(bar: list[Any], scales: tuple[int, ...] | None, where: str) -> KlineRow:
    if len(bar) != 9:
        msg = f"{where}: a bar of {len(bar)} values, not 9"
        raise KlineError(msg)
    ts, interval = bar[0], bar[1]
    if not (_int(ts) and 0 <= ts < _MAX_TS_S and _int(interval) and 0 < interval < 2**31):
        msg = f"{where}: bar time {ts!r} / interval {interval!r} not whole seconds"
        raise KlineError(msg)
    values = []
    for i, raw in enumerate(bar[2:]):
        name = _FIELDS[i]
        if scales is None:
            value = _decimal(raw, f"{where} {name}")
        elif _int(raw) and raw >= 0:
            value = raw * 10 ** (DECIMAL_SCALE - scales[i])
        else:
            msg = f"{where} {name}: expected a non-negative integer, got {raw!r}"
            raise KlineError(msg)
        if value >= (_WIDE_LIMIT if i >= 5 else _LIMIT):
            msg = f"{where} {name}: beyond the lake's decimal"
            raise KlineError(msg)
        values.append(value)
    return KlineRow(ts * 10**9, interval, *values)


def _decimal(raw: object, where: str) -> int:
    if not isinstance(raw, str):
        msg = f"{where}: expected a decimal string, got {raw!r}"
        raise KlineError(msg)
    try:
        return scale_decimal(raw, DECIMAL_SCALE)
    except BadNumber as exc:
        msg = f"{where}: {exc}"
        raise KlineError(msg) from None


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
