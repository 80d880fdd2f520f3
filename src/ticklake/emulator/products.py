"""The emulated product table and the REST products payload.

The emulator is a witness: these numbers are written down here from the protocol reference
(§7) and ROQ's 2025 products capture, independently of the client's own product table.

Prices and quantities are kept as integers in *units* of 10**-price_exp and 10**-qty_exp:

* COIN-M (BTCUSD, ETHUSD): price units are ``priceEp`` (exp 4), qty units are contracts (exp 0).
* USDⓈ-M (BTCUSDT): exact decimals printed as strings on the wire; price exp 4, qty exp 3.
* Spot (sBTCUSDT): price units are ``priceEp`` (exp 8), qty units are base ``Ev`` (exp 8).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

__all__ = [
    "PRODUCTS",
    "Product",
    "format_units",
    "lookup",
    "products_payload",
    "synthetic_symbols",
]

Family = Literal["coin_m", "usdt_m", "spot"]


@dataclass(frozen=True, slots=True)
class Product:
    """One listed product and the parameters of its simulated market."""

    symbol: str
    family: Family
    channel: str  # "trade" or "trade_p": the subscribe channel that serves its trades
    price_exp: int  # price units are 10**-price_exp
    qty_exp: int  # qty units are 10**-qty_exp
    tick_units: int  # tick size in price units
    qty_step_units: int  # lot / qty step in qty units
    start_price_units: int  # initial mid, in price units
    volatility: float  # log-price sd per sqrt(second)
    qty_median_steps: float  # median fill size, in qty steps
    sequence_base: int  # first value of the per-symbol sequence counter

    @property
    def key(self) -> str:
        """Payload key of trade messages: ``trades`` or ``trades_p``."""
        return "trades_p" if self.channel == "trade_p" else "trades"

    @property
    def book_channel(self) -> str:
        return "orderbook_p" if self.channel == "trade_p" else "orderbook"

    @property
    def book_key(self) -> str:
        """Payload key of book messages: ``book`` or ``orderbook_p``."""
        return "orderbook_p" if self.channel == "trade_p" else "book"

    def price_str(self, units: int) -> str:
        return format_units(units, self.price_exp)

    def qty_str(self, units: int) -> str:
        return format_units(units, self.qty_exp)


def format_units(units: int, exp: int) -> str:
    """Exact decimal string of ``units * 10**-exp`` without trailing zeros ("20699", "0.669")."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**exp)
    if exp == 0 or frac == 0:
        return f"{sign}{whole}"
    digits = str(frac).rjust(exp, "0").rstrip("0")
    return f"{sign}{whole}.{digits}"


PRODUCTS: dict[str, Product] = {
    p.symbol: p
    for p in (
        Product("BTCUSD", "coin_m", "trade", 4, 0, 1_000, 1, 900_000_000, 1.0e-4, 150.0,
                20_254_182_892),
        Product("ETHUSD", "coin_m", "trade", 4, 0, 500, 1, 30_000_000, 1.4e-4, 40.0,
                9_871_230_117),
        Product("BTCUSDT", "usdt_m", "trade_p", 4, 3, 1_000, 1, 900_000_000, 1.0e-4, 15.0,
                54_193_715_981),
        Product("sBTCUSDT", "spot", "trade", 8, 8, 1_000_000, 100, 9_000_000_000_000, 1.0e-4,
                40.0, 1_118_993_873),
    )
}

# Synthetic products (``--extra-symbols N``) to test recorders with more than one connection's
# worth of symbols. Their names say what they are: base currency ``Z<nnn>``, the family taken
# in turn from the index (COIN-M ``Z001USD``, USDⓈ-M ``Z002USDT``, spot ``sZ003USDT``, ...).
# Each is a copy of the real product of its family with its own price, sequence base and seed
# (the market seeds every symbol by name), so each has its own market and ground truth.
_SYNTHETIC = re.compile(r"^(s?)Z(\d{3})(USDT?)$")
_SYNTHETIC_TEMPLATES = ("ETHUSD", "BTCUSDT", "sBTCUSDT")  # by (index - 1) % 3
MAX_SYNTHETIC = 999


def _synthetic_name(index: int) -> str:
    family = (index - 1) % 3
    base = f"Z{index:03d}"
    return (f"{base}USD", f"{base}USDT", f"s{base}USDT")[family]


def synthetic_symbols(count: int) -> tuple[str, ...]:
    """The first ``count`` synthetic symbols: Z001USD, Z002USDT, sZ003USDT, Z004USD, ..."""
    if not 0 <= count <= MAX_SYNTHETIC:
        msg = f"extra symbols must be in [0, {MAX_SYNTHETIC}], got {count}"
        raise ValueError(msg)
    return tuple(_synthetic_name(i) for i in range(1, count + 1))


def _synthetic(symbol: str) -> Product | None:
    match = _SYNTHETIC.match(symbol)
    if match is None or int(match[2]) == 0 or _synthetic_name(int(match[2])) != symbol:
        return None
    index = int(match[2])
    template = PRODUCTS[_SYNTHETIC_TEMPLATES[(index - 1) % 3]]
    dollars = 100 + 37 * index  # distinct prices, far from the real products'
    start = dollars * 10**template.price_exp
    return replace(template, symbol=symbol, start_price_units=start - start % template.tick_units,
                   sequence_base=1_000_000_000 + 7_919_117 * index)


def lookup(symbol: str) -> Product | None:
    """A real product, or a synthetic one by its name (whether served or not: see Emulator)."""
    return PRODUCTS.get(symbol) or _synthetic(symbol)


_DESCRIPTION_COIN = (
    "{base}/USD perpetual contracts are priced on the .{base} Index. "
    "Each contract is worth {size}. Funding fees are paid and received every 8 hours "
    "at UTC time: 00:00, 08:00 and 16:00."
)


def _currency(code: int, currency: str, name: str, scale: int, precision: int) -> dict[str, Any]:
    return {
        "currency": currency,
        "name": name,
        "code": code,
        "valueScale": scale,
        "minValueEv": 1,
        "maxValueEv": 5_000_000_000_000_000_000,
        "needAddrTag": 0,
        "status": "Listed",
        "displayCurrency": currency,
        "inAssetsDisplay": 1,
        "perpetual": 2 if currency == "USDT" else 0,
        "stableCoin": 1 if currency == "USDT" else 0,
        "assetsPrecision": precision,
    }


def _coin_m(symbol: str, code: int, settle: str, value_scale: int, tick: float,
            contract: float, size_text: str, min_ep: int, max_ep: int) -> dict[str, Any]:
    base = symbol.removesuffix("USD")
    return {
        "symbol": symbol,
        "code": code,
        "type": "Perpetual",
        "displaySymbol": f"{base} / USD",
        "indexSymbol": f".{base}",
        "markSymbol": f".M{base}",
        "fundingRateSymbol": f".{base}FR",
        "fundingRate8hSymbol": f".{base}FR8H",
        "contractUnderlyingAssets": "USD" if settle == "BTC" else base,
        "settleCurrency": settle,
        "quoteCurrency": "USD",
        "contractSize": contract,
        "lotSize": 1,
        "tickSize": tick,
        "priceScale": 4,
        "ratioScale": 8,
        "valueScale": value_scale,
        "pricePrecision": 1 if tick >= 0.1 else 2,
        "minPriceEp": min_ep,
        "maxPriceEp": max_ep,
        "maxOrderQty": 20_000_000,
        "description": _DESCRIPTION_COIN.format(base=base, size=size_text),
        "status": "Listed",
        "tipOrderQty": 5_000_000,
        "listTime": 1_574_640_000_000,
        "majorSymbol": True,
        "defaultLeverage": "-10",
        "fundingInterval": 28_800,
        "maxLeverage": 100,
        "leverageMargin": 1034,
        "maxOI": -1.0,
    }


def _spot_btcusdt() -> dict[str, Any]:
    return {
        "symbol": "sBTCUSDT",
        "code": 1001,
        "type": "Spot",
        "displaySymbol": "BTC / USDT",
        "quoteCurrency": "USDT",
        "priceScale": 8,
        "ratioScale": 8,
        "valueScale": 8,
        "pricePrecision": 2,
        "baseCurrency": "BTC",
        "baseTickSize": "0.000001 BTC",
        "baseTickSizeEv": 100,
        "quoteTickSize": "0.01 USDT",
        "quoteTickSizeEv": 1_000_000,
        "baseQtyPrecision": 6,
        "quoteQtyPrecision": 2,
        "minOrderValue": "1 USDT",
        "minOrderValueEv": 100_000_000,
        "maxBaseOrderSize": "1,000 BTC",
        "maxBaseOrderSizeEv": 100_000_000_000,
        "maxOrderValue": "5,000,000 USDT",
        "maxOrderValueEv": 500_000_000_000_000,
        "defaultTakerFee": "0.001",
        "defaultTakerFeeEr": 100_000,
        "defaultMakerFee": "0.001",
        "defaultMakerFeeEr": 100_000,
        "description": "BTCUSDT is a BTC/USDT spot trading pair. Minimum order value is 1 USDT",
        "status": "Listed",
        "tipOrderQty": 20,
        "listTime": 1_620_000_000_000,
        "buyPriceUpperLimitPct": 110,
        "sellPriceLowerLimitPct": 90,
    }


def _perp_v2_btcusdt() -> dict[str, Any]:
    return {
        "perpProductSubType": "Normal",
        "symbol": "BTCUSDT",
        "code": 41541,
        "type": "PerpetualV2",
        "displaySymbol": "BTC / USDT",
        "indexSymbol": ".BTCUSDT",
        "markSymbol": ".MBTCUSDT",
        "fundingRateSymbol": ".BTCUSDTFR",
        "fundingRate8hSymbol": ".BTCUSDTFR8H",
        "contractUnderlyingAssets": "BTC",
        "settleCurrency": "USDT",
        "quoteCurrency": "USDT",
        "tickSize": "0.1",
        "priceScale": 0,
        "ratioScale": 0,
        "pricePrecision": 1,
        "baseCurrency": "BTC",
        "description": (
            "BTC/USDT perpetual contracts are priced on the .BTCUSDT Index. Each contract is "
            "worth 1 BTC. Funding fees are paid and received every 8 hours at UTC time: "
            "00:00, 08:00 and 16:00."
        ),
        "status": "Listed",
        "tipOrderQty": 0,
        "listTime": 1_651_046_400_000,
        "majorSymbol": True,
        "defaultLeverage": "-10",
        "fundingInterval": 28_800,
        "maxLeverage": 100,
        "leverageMargin": 1002,
        "maxOI": -1.0,
        "maxOrderQtyRq": "1000",
        "maxPriceRp": "2000000",
        "minOrderValueRv": "1",
        "minPriceRp": "1000",
        "qtyPrecision": 3,
        "qtyStepSize": "0.001",
        "tipOrderQtyRq": "200",
        "maxOpenPosLeverage": 100.0,
    }


def _synthetic_rows(symbols: Iterable[str]) -> tuple[list[dict[str, Any]],
                                                     list[dict[str, Any]],
                                                     list[dict[str, Any]]]:
    """Products, perpProductsV2 and currencies rows of the synthetic symbols among
    ``symbols``: the real row of the family with the names changed."""
    products: list[dict[str, Any]] = []
    perp_v2: list[dict[str, Any]] = []
    currencies: list[dict[str, Any]] = []
    for symbol in symbols:
        product = _synthetic(symbol)
        if product is None:
            continue
        index = int(symbol.removeprefix("s")[1:4])
        base = f"Z{index:03d}"
        code = 100_000 + index
        if product.family == "coin_m":
            row = _coin_m(symbol, code, "USD", 4, 0.05, 0.005, f"0.005 {base}", 10_000,
                          2_000_000_000)
            products.append(row | {"indexSymbol": f".{base}", "majorSymbol": False})
        elif product.family == "usdt_m":
            perp_v2.append(_perp_v2_btcusdt() | {
                "symbol": symbol, "code": code, "displaySymbol": f"{base} / USDT",
                "indexSymbol": f".{symbol}", "markSymbol": f".M{symbol}",
                "fundingRateSymbol": f".{symbol}FR", "fundingRate8hSymbol": f".{symbol}FR8H",
                "contractUnderlyingAssets": base, "baseCurrency": base, "majorSymbol": False,
                "description": f"{base}/USDT synthetic perpetual (ticklake emulator)"})
        else:
            products.append(_spot_btcusdt() | {
                "symbol": symbol, "code": code, "displaySymbol": f"{base} / USDT",
                "baseCurrency": base,
                "description": f"{base}USDT is a synthetic spot pair (ticklake emulator)"})
            currencies.append(_currency(code, base, f"Synthetic {base}", 8, 8))
    return products, perp_v2, currencies


def products_payload(symbols: Iterable[str] = ()) -> dict[str, Any]:
    """The body of ``GET /public/products`` (and ``/exchange/public/cfg/v2/products``): the
    real products, plus the synthetic ones among ``symbols`` (those the emulator serves)."""
    extra_products, extra_perp_v2, extra_currencies = _synthetic_rows(symbols)
    products = [
        _coin_m("BTCUSD", 1, "BTC", 8, 0.1, 1.0, "1 USD", 100_000, 100_000_000_000),
        _coin_m("ETHUSD", 11, "USD", 4, 0.05, 0.005, "0.005 ETH", 10_000, 2_000_000_000),
        _spot_btcusdt(),
        *extra_products,
    ]
    perp_v2 = [_perp_v2_btcusdt(), *extra_perp_v2]
    checksum = hashlib.md5(
        json.dumps([products, perp_v2], sort_keys=True).encode(), usedforsecurity=False
    ).hexdigest()
    return {
        "code": 0,
        "msg": "",
        "data": {
            "ratioScale": 8,
            "currencies": [
                _currency(1, "BTC", "Bitcoin", 8, 8),
                _currency(2, "USD", "USD", 4, 2),
                _currency(3, "USDT", "TetherUS", 8, 8),
                _currency(4, "ETH", "Ethereum", 8, 8),
                *extra_currencies,
            ],
            "products": products,
            "perpProductsV2": perp_v2,
            "perpProductsPilot": None,
            "riskLimits": [
                {
                    "symbol": "BTCUSD",
                    "steps": "0",
                    "riskLimits": [
                        {
                            "limit": 1500,
                            "initialMargin": "10.0%",
                            "initialMarginEr": 10_000_000,
                            "maintenanceMargin": "5.0%",
                            "maintenanceMarginEr": 5_000_000,
                        }
                    ],
                }
            ],
            "leverages": [
                {
                    "initialMargin": "1.0%",
                    "initialMarginEr": 1_000_000,
                    "options": [1.0, 2.0, 3.0, 5.0, 10.0, 25.0, 50.0, 100.0],
                }
            ],
            "riskLimitsV2": [
                {
                    "symbol": "BTCUSDT",
                    "steps": "0K",
                    "riskLimits": [
                        {"limit": 2_000_000, "initialMarginRr": "0.01",
                         "maintenanceMarginRr": "0.005"}
                    ],
                }
            ],
            "leveragesV2": [
                {"options": [1.0, 2.0, 3.0, 5.0, 10.0, 25.0, 50.0, 100.0],
                 "initialMarginRr": "0.01"}
            ],
            "md5Checksum": checksum,
        },
    }
