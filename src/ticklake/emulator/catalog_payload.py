"""The REST products payload of each catalog, in two shapes.

``current`` (catalog ``exchange``): today's layout, as in ROQ's 2025 capture
(test/json_products_ack.cpp) and the ``basic`` payload: ``products`` (COIN-M ``Perpetual`` and
``Spot`` rows), ``perpProductsV2`` (USDⓈ-M), ``currencies`` with their full field set, risk
limits and leverages for both generations, ``md5Checksum``.

``2021`` (catalog ``exchange-2021``): the payload as Phemex served it in 2021. Each difference
rests on a document:

* no ``perpProductsV2`` / ``perpProductsPilot`` / ``riskLimitsV2`` / ``leveragesV2``:
  USDⓈ-M perpetuals did not exist yet (their listTime is 2022: ccxt's static markets;
  the hedged-perpetual doc H was created in Nov 2022);
* spot rows without ``priceScale``, ``ratioScale``, ``valueScale`` (and without ``code``,
  ``description``, ``listTime``): ccxt's 2021 ``fetch_markets``/``parse_spot_market`` samples
  of ``/exchange/public/cfg/v2/products``, and S of Jul-Dec 2021 stating in prose that "all
  spot symbols use the same price and ratio scale factors" (ccxt hard-coded priceScale 8) —
  a client must derive the scales from the quote and base currencies' ``valueScale`` (§7);
* ``Perpetual`` rows without ``valueScale`` (and without ``code``/``description``/
  ``listTime``): the same ccxt sample; ccxt read ``valueScale`` from
  ``/v1/exchange/public/products`` for that reason (reference §7);
* currencies as ``{"currency","valueScale","minValueEv","maxValueEv","name"}`` and the
  envelope's ``"msg":"OK"``, no ``md5Checksum``: the same sample.

The trade snapshot of 1,000 instead of 200 (C, commit d58c1eb) is the config's business:
:attr:`EmulatorConfig.snapshot_trades`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from ticklake.emulator.catalog import Catalog, Listing, decimals, exchange_catalog, value_scale
from ticklake.emulator.products import products_payload

__all__ = ["payload"]

_NAMES = {"BTC": "Bitcoin", "ETH": "Ethereum", "USD": "USD", "USDT": "TetherUS",
          "USDC": "USD Coin", "TRY": "Turkish Lira"}
_FIXED_CODES = {"BTC": 1, "USD": 2, "USDT": 3, "ETH": 4}
_LEVERAGE_OPTIONS = [1.0, 2.0, 3.0, 5.0, 10.0, 25.0, 50.0, 100.0]


def payload(catalog: str, symbols: Iterable[str] = ()) -> dict[str, Any]:
    """Body of ``GET /public/products`` (and ``/exchange/public/cfg/v2/products``)."""
    if catalog == "basic":
        return products_payload(symbols)
    cat = exchange_catalog(catalog)
    return _current(cat) if catalog == "exchange" else _shape_2021(cat)


def plain(value: Decimal) -> str:
    """``Decimal`` without exponent or trailing zeros: 0.00001, 10, 0.5."""
    return f"{value.normalize():f}"


def _grouped(value: Decimal) -> str:
    return f"{value.normalize():,f}"


def _ev(value: Decimal, scale: int) -> int:
    return int(value.scaleb(scale))


def _currencies(cat: Catalog) -> list[str]:
    seen: dict[str, None] = {}
    for row in cat.listings.values():
        for cur in (row.base, row.quote, row.settle):
            if cur is not None:
                seen[cur] = None
    fixed = [c for c in _FIXED_CODES if c in seen]
    return fixed + [c for c in seen if c not in _FIXED_CODES]


def _currency_row(currency: str, code: int, *, current: bool) -> dict[str, Any]:
    scale = value_scale(currency)
    name = _NAMES.get(currency, currency)
    if not current:
        return {"currency": currency, "valueScale": scale, "minValueEv": 1,
                "maxValueEv": 5_000_000_000_000_000_000, "name": name}
    stable = currency in ("USDT", "USDC")
    return {
        "currency": currency, "name": name, "code": code, "valueScale": scale,
        "minValueEv": 1, "maxValueEv": 5_000_000_000_000_000_000, "needAddrTag": 0,
        "status": "Listed", "displayCurrency": currency, "inAssetsDisplay": 1,
        "perpetual": 2 if stable else 0, "stableCoin": 1 if stable else 0,
        "assetsPrecision": 2 if currency in ("USD", "TRY") else min(8, scale),
    }


def _coin_m_row(row: Listing, *, current: bool) -> dict[str, Any]:
    base = row.base
    p = row.product
    size = f"{plain(row.contract_size)} {row.contract_unit}"
    out: dict[str, Any] = {
        "symbol": row.symbol,
        "displaySymbol": f"{base} / USD",
        "indexSymbol": f".{base}",
        "markSymbol": f".M{base}",
        "fundingRateSymbol": f".{base}FR",
        "fundingRate8hSymbol": f".{base}FR8H",
        "contractUnderlyingAssets": row.contract_unit,
        "settleCurrency": row.settle,
        "quoteCurrency": "USD",
        "contractSize": float(row.contract_size),
        "lotSize": 1,
        "tickSize": float(row.tick),
        "priceScale": 4,
        "ratioScale": 8,
        "pricePrecision": decimals(row.tick),
        "minPriceEp": max(p.tick_units, p.start_price_units // 100 // p.tick_units * p.tick_units),
        "maxPriceEp": p.start_price_units * 100,
        "maxOrderQty": 20_000_000,
        "type": "Perpetual",
        "status": row.status,
        "tipOrderQty": 5_000_000,
    }
    if not current:
        return out
    return {"code": row.code} | out | {
        "valueScale": value_scale(row.settle or "USD"),
        "description": (f"{base}/USD perpetual contracts are priced on the .{base} Index. "
                        f"Each contract is worth {size}. Funding fees are paid and received "
                        "every 8 hours at UTC time: 00:00, 08:00 and 16:00."),
        "listTime": row.list_time,
        "majorSymbol": row.symbol in ("BTCUSD", "ETHUSD"),
        "defaultLeverage": "-10",
        "fundingInterval": 28_800,
        "maxLeverage": 100,
        "leverageMargin": 1034,
        "maxOI": -1.0,
    }


def _spot_row(row: Listing, *, current: bool) -> dict[str, Any]:
    qscale, bscale = value_scale(row.quote), value_scale(row.base)
    base, quote = row.base, row.quote
    max_base = row.step * 10_000_000
    min_value = Decimal(1) if quote != "TRY" else Decimal(17)
    out: dict[str, Any] = {
        "symbol": row.symbol,
        "displaySymbol": f"{base} / {quote}",
        "quoteCurrency": quote,
        "pricePrecision": decimals(row.tick),
        "type": "Spot",
        "baseCurrency": base,
        "baseTickSize": f"{plain(row.step)} {base}",
        "baseTickSizeEv": _ev(row.step, bscale),
        "quoteTickSize": f"{plain(row.tick)} {quote}",
        "quoteTickSizeEv": _ev(row.tick, qscale),
        "baseQtyPrecision": decimals(row.step),
        "quoteQtyPrecision": 2,
        "minOrderValue": f"{plain(min_value)} {quote}",
        "minOrderValueEv": _ev(min_value, qscale),
        "maxBaseOrderSize": f"{_grouped(max_base)} {base}",
        "maxBaseOrderSizeEv": _ev(max_base, bscale),
        "maxOrderValue": f"500,000 {quote}",
        "maxOrderValueEv": _ev(Decimal(500_000), qscale),
        "defaultTakerFee": "0.001",
        "defaultTakerFeeEr": 100_000,
        "defaultMakerFee": "0.001",
        "defaultMakerFeeEr": 100_000,
        "status": row.status,
        "tipOrderQty": 20,
    }
    if not current:
        return out
    return {"symbol": row.symbol, "code": row.code} | out | {
        "priceScale": qscale,  # the quote currency's valueScale (§7, NS)
        "ratioScale": 8,
        "valueScale": qscale,  # values (minOrderValueEv, …) are in the quote currency
        "description": (f"{base}{quote} is a {base}/{quote} spot trading pair. "
                        f"Minimum order value is {plain(min_value)} {quote}"),
        "listTime": row.list_time,
        "buyPriceUpperLimitPct": 110,
        "sellPriceLowerLimitPct": 90,
    }


def _perp_v2_row(row: Listing) -> dict[str, Any]:
    symbol, base = row.symbol, row.base
    unit = f"{plain(row.contract_size)} {base}"
    name = symbol.removesuffix("USDT")
    return {
        "perpProductSubType": "Normal",
        "symbol": symbol,
        "code": row.code,
        "type": "PerpetualV2",
        "displaySymbol": f"{name} / USDT",
        "indexSymbol": f".{symbol}",
        "markSymbol": f".M{symbol}",
        "fundingRateSymbol": f".{symbol}FR",
        "fundingRate8hSymbol": f".{symbol}FR8H",
        "contractUnderlyingAssets": base,
        "settleCurrency": "USDT",
        "quoteCurrency": "USDT",
        "tickSize": plain(row.tick),
        "priceScale": 0,
        "ratioScale": 0,
        "pricePrecision": decimals(row.tick),
        "baseCurrency": base,
        "description": (f"{name}/USDT perpetual contracts are priced on the .{symbol} Index. "
                        f"Each contract is worth {unit}. Funding fees are paid and received "
                        "every 8 hours at UTC time: 00:00, 08:00 and 16:00."),
        "status": row.status,
        "tipOrderQty": 0,
        "listTime": row.list_time,
        "majorSymbol": symbol in ("BTCUSDT", "ETHUSDT"),
        "defaultLeverage": "-10",
        "fundingInterval": 28_800,
        "maxLeverage": 100 if symbol in ("BTCUSDT", "ETHUSDT") else 50,
        "leverageMargin": 1002,
        "maxOI": -1.0,
        "maxOrderQtyRq": plain(row.step * 1_000_000),
        "maxPriceRp": plain(row.price * 100),
        "minOrderValueRv": "1",
        "minPriceRp": plain(max(row.tick, (row.price / 100).quantize(row.tick))),
        "qtyPrecision": decimals(row.step),
        "qtyStepSize": plain(row.step),
        "tipOrderQtyRq": plain(row.step * 200_000),
        "maxOpenPosLeverage": 100.0 if symbol in ("BTCUSDT", "ETHUSDT") else 50.0,
    }


def _risk_limits(cat: Catalog) -> list[dict[str, Any]]:
    return [{"symbol": s, "steps": "50", "riskLimits": [
        {"limit": 100, "initialMargin": "1.0%", "initialMarginEr": 1_000_000,
         "maintenanceMargin": "0.5%", "maintenanceMarginEr": 500_000}]}
        for s, row in cat.listings.items() if row.family == "coin_m"]


def _leverages() -> list[dict[str, Any]]:
    return [{"initialMargin": "1.0%", "initialMarginEr": 1_000_000,
             "options": _LEVERAGE_OPTIONS}]


def _products(cat: Catalog, *, current: bool) -> list[dict[str, Any]]:
    return [_coin_m_row(r, current=current) if r.family == "coin_m" else
            _spot_row(r, current=current)
            for r in cat.listings.values() if r.family != "usdt_m"]


def _current(cat: Catalog) -> dict[str, Any]:
    products = _products(cat, current=True)
    perp_v2 = [_perp_v2_row(r) for r in cat.listings.values() if r.family == "usdt_m"]
    checksum = hashlib.md5(
        json.dumps([products, perp_v2], sort_keys=True).encode(), usedforsecurity=False
    ).hexdigest()
    currencies = _currencies(cat)
    codes = _codes(currencies)
    return {"code": 0, "msg": "", "data": {
        "ratioScale": 8,
        "currencies": [_currency_row(c, codes[c], current=True) for c in currencies],
        "products": products,
        "perpProductsV2": perp_v2,
        "perpProductsPilot": None,
        "riskLimits": _risk_limits(cat),
        "leverages": _leverages(),
        "riskLimitsV2": [{"symbol": s, "steps": "0K", "riskLimits": [
            {"limit": 2_000_000, "initialMarginRr": "0.01", "maintenanceMarginRr": "0.005"}]}
            for s, r in cat.listings.items() if r.family == "usdt_m"],
        "leveragesV2": [{"options": _LEVERAGE_OPTIONS, "initialMarginRr": "0.01"}],
        "md5Checksum": checksum,
    }}


def _shape_2021(cat: Catalog) -> dict[str, Any]:
    currencies = _currencies(cat)
    return {"code": 0, "msg": "OK", "data": {
        "ratioScale": 8,
        "currencies": [_currency_row(c, 0, current=False) for c in currencies],
        "products": _products(cat, current=False),
        "riskLimits": _risk_limits(cat),
        "leverages": _leverages(),
    }}


def _codes(currencies: list[str]) -> dict[str, int]:
    codes = dict(_FIXED_CODES)
    next_code = max(codes.values()) + 1
    for cur in currencies:
        if cur not in codes:
            codes[cur] = next_code
            next_code += 1
    return codes
