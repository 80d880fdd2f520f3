"""The products the archive was recorded with: read from the recorder's control records
(docs/lake-layout.md, "Control records"), served back as ``GET /public/products``.

A control record keeps what decoding needs (symbol, family, price and qty scales, listed,
the settle currency's value scale, the tick symbols), not the exchange's whole row. The
payload is therefore rebuilt in today's shape (reference §7, as the emulator's
``catalog_payload``) from those facts, so that any client derives the very scales the
recorder had: COIN-M rows state ``priceScale`` and ``valueScale``; spot rows state
``priceScale`` and take the qty scale from their base currency's ``valueScale`` (as every
client does); USDⓈ-M rows carry decimal strings (``priceScale`` 0). What the archive does not
hold is filled with neutral values and said here: tick sizes and qty steps are one unit of
the scale (the archive keeps no tick size), contract sizes are 1, a COIN-M contract settled
in its coin (value scale 8, like BTCUSD) is inverse, else USD-settled; spot symbols split
into base and quote at a known quote currency.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec

from ticklake.emulator.catalog_payload import plain
from ticklake.emulator.replay.wire import PACK

__all__ = ["CHANNELS", "Listing", "Products"]

# family -> (trade, book, kline, ticker, tick) channels (§4-§6; spot has no tick channel)
CHANNELS: dict[str, tuple[str, str, str, str, str | None]] = {
    "coin-m": ("trade", "orderbook", "kline", "market24h", "tick"),
    "spot": ("trade", "orderbook", "kline", "spot_market24h", None),
    "usd-m": ("trade_p", "orderbook_p", "kline_p", "market24h_p", "tick_p"),
}
_QUOTES = ("USDT", "USDC", "USD", "TRY", "EUR", "BTC", "ETH", "BRZ")  # longest match first
_INVERSE_VALUE_SCALE = 8  # a coin settles an inverse contract (BTC: 8); USD: 4


class _Product(msgspec.Struct):
    symbol: str
    family: str
    price_scale: int
    qty_scale: int
    listed: bool = True
    value_scale: int | None = None
    tick_symbols: list[str] = []


class _Control(msgspec.Struct):
    products: list[_Product] = []
    ticklake: str = ""


_control = msgspec.json.Decoder(_Control)


@dataclass(frozen=True)
class Listing:
    symbol: str
    family: str  # "coin-m", "usd-m" or "spot"
    price_scale: int
    qty_scale: int
    listed: bool
    value_scale: int | None
    tick_symbols: tuple[str, ...]

    @property
    def channels(self) -> tuple[str, str, str, str, str | None]:
        return CHANNELS[self.family]


class Products:
    """The symbols a replay serves and their channels; the REST payload."""

    def __init__(self, listings: Iterable[Listing]) -> None:
        self.listings = {p.symbol: p for p in listings}
        # tick symbol -> its channel (``.BTC`` -> tick, ``.BTCUSDT`` -> tick_p)
        self.ticks: dict[str, str] = {}
        for p in self.listings.values():
            tick = p.channels[4]
            if tick is not None:
                for name in p.tick_symbols:
                    self.ticks.setdefault(name, tick)
        self._body: bytes | None = None

    @classmethod
    def from_control(cls, payloads: Iterable[str], symbols: Iterable[str] = ()) -> Products:
        """The union of the control records' products (a later record wins), keeping only
        ``symbols`` when given. Records that cannot be read are skipped."""
        found: dict[str, Listing] = {}
        for payload in payloads:
            try:
                control = _control.decode(payload)
            except msgspec.DecodeError:
                continue
            if control.ticklake != "decode-params":
                continue
            for p in control.products:
                if p.family in CHANNELS:
                    found[p.symbol] = Listing(p.symbol, p.family, p.price_scale, p.qty_scale,
                                              p.listed, p.value_scale, tuple(p.tick_symbols))
        wanted = set(symbols)
        return cls(v for s, v in sorted(found.items()) if not wanted or s in wanted)

    def channel(self, symbol: str, which: int) -> str | None:
        """The symbol's channel: 0 trade, 1 book, 2 kline, 3 ticker, 4 tick."""
        listing = self.listings.get(symbol)
        return None if listing is None else listing.channels[which]

    def families_of(self, ticker_channel: str) -> frozenset[str]:
        return frozenset(f for f, ch in CHANNELS.items()
                         if ch[3] == ticker_channel or (ticker_channel == PACK and f == "usd-m"))

    def body(self) -> bytes:
        if self._body is None:
            self._body = json.dumps(self.payload(), separators=(",", ":")).encode()
        return self._body

    def payload(self) -> dict[str, Any]:
        currencies: dict[str, int] = {}
        products: list[dict[str, Any]] = []
        perp_v2: list[dict[str, Any]] = []
        for code, p in enumerate(self.listings.values(), start=1):
            if p.family == "coin-m":
                products.append(_coin_m(p, code, currencies))
            elif p.family == "spot":
                products.append(_spot(p, code, currencies))
            else:
                perp_v2.append(_usd_m(p, code, currencies))
        checksum = hashlib.md5(json.dumps([products, perp_v2], sort_keys=True).encode(),
                               usedforsecurity=False).hexdigest()
        return {"code": 0, "msg": "", "data": {
            "ratioScale": 8,
            "currencies": [_currency(c, i, s) for i, (c, s) in
                           enumerate(sorted(currencies.items()), start=1)],
            "products": products, "perpProductsV2": perp_v2, "perpProductsPilot": None,
            "riskLimits": [], "leverages": [], "riskLimitsV2": [], "leveragesV2": [],
            "md5Checksum": checksum,
        }}


def _unit(scale: int) -> str:
    return plain(Decimal(1).scaleb(-scale))


def _status(p: Listing) -> str:
    return "Listed" if p.listed else "Delisted"


def _ticks(p: Listing) -> dict[str, str]:
    keys = ("indexSymbol", "markSymbol", "fundingRateSymbol", "fundingRate8hSymbol")
    return dict(zip(keys, p.tick_symbols, strict=False))


def _currency(currency: str, code: int, scale: int) -> dict[str, Any]:
    return {"currency": currency, "name": currency, "code": code, "valueScale": scale,
            "minValueEv": 1, "maxValueEv": 5_000_000_000_000_000_000, "needAddrTag": 0,
            "status": "Listed", "displayCurrency": currency, "inAssetsDisplay": 1,
            "perpetual": 0, "stableCoin": 0, "assetsPrecision": min(8, scale)}


def _coin_m(p: Listing, code: int, currencies: dict[str, int]) -> dict[str, Any]:
    base = p.symbol.removesuffix("USD")
    inverse = p.value_scale == _INVERSE_VALUE_SCALE
    settle = base if inverse else "USD"
    row: dict[str, Any] = {
        "symbol": p.symbol, "code": code, "type": "Perpetual",
        "displaySymbol": f"{base} / USD", **_ticks(p),
        "contractUnderlyingAssets": "USD" if inverse else base,
        "settleCurrency": settle, "quoteCurrency": "USD", "contractSize": 1.0, "lotSize": 1,
        "tickSize": float(Decimal(1).scaleb(-p.price_scale)), "priceScale": p.price_scale,
        "ratioScale": 8, "pricePrecision": p.price_scale, "minPriceEp": 1,
        "maxPriceEp": 10 ** (p.price_scale + 9), "maxOrderQty": 20_000_000,
        "status": _status(p), "listTime": 0,
    }
    if p.value_scale is not None:
        row["valueScale"] = p.value_scale
        currencies.setdefault(settle, p.value_scale)
    return row


def _spot(p: Listing, code: int, currencies: dict[str, int]) -> dict[str, Any]:
    pair = p.symbol.removeprefix("s")
    quote = next((q for q in _QUOTES if pair.endswith(q) and pair != q), "USDT")
    base = pair.removesuffix(quote)
    currencies.setdefault(base, p.qty_scale)
    currencies.setdefault(quote, p.price_scale)
    return {
        "symbol": p.symbol, "code": code, "type": "Spot", "displaySymbol": f"{base} / {quote}",
        "quoteCurrency": quote, "baseCurrency": base, "priceScale": p.price_scale,
        "ratioScale": 8, "valueScale": p.price_scale, "pricePrecision": p.price_scale,
        "baseTickSize": f"{_unit(p.qty_scale)} {base}", "baseTickSizeEv": 1,
        "quoteTickSize": f"{_unit(p.price_scale)} {quote}", "quoteTickSizeEv": 1,
        "baseQtyPrecision": p.qty_scale, "quoteQtyPrecision": p.price_scale,
        "minOrderValue": f"1 {quote}", "minOrderValueEv": 10**p.price_scale,
        "maxOrderValue": f"5,000,000 {quote}", "maxOrderValueEv": 5 * 10 ** (6 + p.price_scale),
        "defaultTakerFee": "0.001", "defaultTakerFeeEr": 100_000,
        "defaultMakerFee": "0.001", "defaultMakerFeeEr": 100_000,
        "status": _status(p), "listTime": 0,
    }


def _usd_m(p: Listing, code: int, currencies: dict[str, int]) -> dict[str, Any]:
    quote = "USDC" if p.symbol.endswith("USDC") else "USDT"
    base = p.symbol.removesuffix(quote)
    currencies.setdefault(quote, 8)
    return {
        "perpProductSubType": "Normal", "symbol": p.symbol, "code": code,
        "type": "PerpetualV2", "displaySymbol": f"{base} / {quote}", **_ticks(p),
        "contractUnderlyingAssets": base, "settleCurrency": quote, "quoteCurrency": quote,
        "tickSize": _unit(p.price_scale), "priceScale": 0, "ratioScale": 0,
        "pricePrecision": p.price_scale, "baseCurrency": base, "status": _status(p),
        "listTime": 0, "maxLeverage": 100, "qtyPrecision": p.qty_scale,
        "qtyStepSize": _unit(p.qty_scale), "minOrderValueRv": "1",
    }
