"""Product catalogs: ``basic`` (the 4 real products of :mod:`products`) and the exchange-shaped
``exchange`` / ``exchange-2021``: hundreds of rows across COIN-M, USDⓈ-M and spot, derived
deterministically from :mod:`catalog_data` (no randomness; the same rows on every import).

Scales, as a client must derive them from the payload (reference §4, §5, §7):

* COIN-M (``trade``, ``trades``): integer ``priceEp`` with priceScale 4, qty in contracts.
* USDⓈ-M (``trade_p``, ``trades_p``): decimal strings, exact multiples of ``tickSize`` /
  ``qtyStepSize``; the simulator keeps them as integers of 10**-decimals(tick/step).
* spot (``trade``, ``trades``): integer price at the **quote** currency's valueScale (USDT 8,
  TRY 4) and integer qty at the **base** currency's valueScale (BTC 8, SHIB 2, VPAD 4).

Rules where nothing is documented (variants picked by the row's index, not at random):
ticks have 4–6 significant digits of the reference price (COIN-M and spot sometimes half of
that: 0.05, 0.0005), never finer than the price scale; USDⓈ-M qty steps are a power of ten
worth about 1–50 USD; spot base steps are worth about 0.05 USD; COIN-M contracts are worth
about 1–10 USD. Only ``Listed`` rows trade; ``Delisted`` rows are in the payload but
subscribing them is an unknown symbol (6001); ``BeingSettled`` rows are acked and stay silent.

Public helpers for tests comparing a client against this truth: :func:`listed_symbols`,
:func:`symbol_specs` (per-symbol scales, ticks, channel), :func:`resolve_symbols`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Literal, get_args

from ticklake.emulator import catalog_data as data
from ticklake.emulator.products import PRODUCTS, Family, Product, lookup

__all__ = [
    "CATALOGS",
    "FAMILY_NAMES",
    "Catalog",
    "Listing",
    "SymbolSpec",
    "exchange_catalog",
    "listed_symbols",
    "resolve_symbols",
    "subscribable_products",
    "symbol_specs",
]

CatalogName = Literal["basic", "exchange", "exchange-2021"]
CATALOGS: tuple[str, ...] = get_args(CatalogName)
# ``all:<family>`` spellings (CLI and config) -> Product.family
FAMILY_NAMES: dict[str, Family] = {"coin-m": "coin_m", "usdt-m": "usdt_m", "spot": "spot"}
LISTED = "Listed"
DELISTED = "Delisted"
_INVERSE = {"BTCUSD": "BTC", "cETHUSD": "ETH"}  # settle currency = the coin (C table)
_FIXED_CODES = {  # codes seen in ccxt's samples / static markets
    "BTCUSD": 1, "ETHUSD": 11, "sBTCUSDT": 1001, "sETHUSDT": 1101, "sXRPUSDT": 1201,
    "sLTCUSDT": 1501, "sADAUSDT": 1601, "sDOGEUSDT": 2901, "BTCUSDT": 41541,
    "XRPUSDT": 41741, "ADAUSDT": 41841, "LTCUSDT": 44841, "DOGEUSDT": 44941,
}
_FIXED_LIST_TIMES = {"BTCUSD": 1_574_640_000_000, "ETHUSD": 1_574_650_800_000,
                     "sBTCUSDT": 1_589_338_800_000, "BTCUSDT": 1_651_046_400_000}
_DAY_MS = 86_400_000


def value_scale(currency: str) -> int:
    return data.VALUE_SCALES.get(currency, 8)


def decimals(value: Decimal) -> int:
    """Digits after the point of an exact decimal (0 for 1, 10, 100)."""
    return max(0, -int(value.normalize().as_tuple().exponent))


@dataclass(frozen=True, slots=True)
class Listing:
    """One row of an exchange catalog and the simulated product behind it."""

    symbol: str
    family: Family
    status: str  # "Listed" | "Delisted" | "BeingSettled"
    base: str
    quote: str
    settle: str | None  # None for spot
    tick: Decimal  # price tick, in quote currency
    step: Decimal  # qty step: 1 (contract) for COIN-M, base currency otherwise
    contract_size: Decimal  # COIN-M only (1 elsewhere), in ``contract_unit``
    contract_unit: str
    price: Decimal  # reference price at start, in quote currency
    code: int
    list_time: int  # ms
    product: Product

    @property
    def listed(self) -> bool:
        return self.status == LISTED


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """What a client must derive from the products payload for one symbol (its truth).

    Integer wire prices are ``priceEp / 10**price_scale`` and integer quantities
    ``qty / 10**qty_scale``; USDⓈ-M carries decimal strings (both scales 0, like ``Rp``/``Rq``).
    """

    symbol: str
    family: Family
    status: str
    channel: str  # "trade" | "trade_p"
    key: str  # "trades" | "trades_p"
    price_scale: int
    qty_scale: int
    tick_size: Decimal
    qty_step: Decimal
    base: str
    quote: str
    settle: str | None


@dataclass(frozen=True)
class Catalog:
    name: str
    listings: dict[str, Listing]  # every row of the payload, in payload order

    def listed(self, family: Family | None = None) -> tuple[str, ...]:
        return tuple(s for s, row in self.listings.items()
                     if row.listed and (family is None or row.family == family))

    def subscribable(self) -> dict[str, Product]:
        """Symbols a subscribe accepts: every row but the delisted ones."""
        return {s: row.product for s, row in self.listings.items() if row.status != DELISTED}


def _pow10(exp: int) -> Decimal:
    return Decimal(1).scaleb(exp)


def _tick(price: Decimal, sig: int, half: bool, finest: int) -> Decimal:
    tick = _pow10(price.adjusted() - sig + 1)
    if half:
        tick /= 2
    return max(tick, _pow10(-finest))


def _pow10_near(value: float, low: int, high: int, *, floor: bool = False) -> Decimal:
    exp = math.floor(math.log10(value)) if floor else round(math.log10(value))
    return _pow10(min(high, max(low, exp)))


def _product(symbol: str, family: Family, price_exp: int, qty_exp: int, tick: Decimal,
             step: Decimal, price: Decimal, step_usd: float, index: int, serial: int) -> Product:
    if symbol in PRODUCTS:  # the 4 real ones trade exactly as in the basic catalog
        return PRODUCTS[symbol]
    tick_units = int(tick.scaleb(price_exp))
    step_units = int(step.scaleb(qty_exp))
    assert tick_units >= 1 and step_units >= 1, symbol
    start = int(price.scaleb(price_exp)) // tick_units * tick_units
    assert start // tick_units >= 100, f"{symbol}: fewer than 100 ticks to the price"
    fill_usd = (300.0, 1500.0, 60.0, 600.0)[index % 4]
    return Product(
        symbol, family, "trade_p" if family == "usdt_m" else "trade", price_exp, qty_exp,
        tick_units, step_units, start, 1.0e-4 * (1.0, 1.4, 2.0, 1.2)[index % 4],
        max(1.0, min(1e6, fill_usd / step_usd)),
        1_000_000_000 * (2 + serial % 7) + 7_919_117 * serial,
    )


class _Codes:
    def __init__(self, start: int, step: int) -> None:
        self.next, self.step = start, step
        self.used = set(_FIXED_CODES.values())

    def take(self, symbol: str) -> int:
        if symbol in _FIXED_CODES:
            return _FIXED_CODES[symbol]
        while self.next in self.used:
            self.next += self.step
        self.used.add(self.next)
        return self.next


def _coin_m(index: int, serial: int, base: str, price: Decimal, codes: _Codes,
            prefix: str = "") -> Listing:
    symbol = f"{prefix}{base}USD"
    if symbol in data.COIN_M_DOC:
        tick_s, size_s = data.COIN_M_DOC[symbol]
        tick, size = Decimal(tick_s), Decimal(size_s)
    else:
        tick = _tick(price, (4, 5, 4, 5)[index % 4], index % 3 == 1, 4)
        size = _pow10_near((1.0, 5.0, 10.0)[index % 3] / float(price), -6, 3)
    settle = _INVERSE.get(symbol, "USD")
    unit = "USD" if symbol in _INVERSE else base
    contract_usd = float(size) if unit == "USD" else float(size * price)
    return Listing(
        symbol, "coin_m", data.STATUS.get(symbol, LISTED), base, "USD", settle, tick,
        Decimal(1), size, unit, price, codes.take(symbol),
        _FIXED_LIST_TIMES.get(symbol, 1_590_000_000_000 + index * 5 * _DAY_MS),
        _product(symbol, "coin_m", 4, 0, tick, Decimal(1), price, contract_usd, index, serial),
    )


def _usdt_m(index: int, serial: int, base: str, price: Decimal, codes: _Codes) -> Listing:
    name, multiplier = base, 1
    if price < Decimal("0.001"):  # u1000PEPEUSDT: one unit is 1000 coins
        name, multiplier = f"u1000{base}", 1000
    symbol = f"{name}USDT"
    price *= multiplier
    if base in data.USDT_M_DOC:
        tick_s, step_s = data.USDT_M_DOC[base]
        tick, step = Decimal(tick_s), Decimal(step_s)
    else:
        tick = _tick(price, (5, 4, 5, 6)[index % 4], False, 10)
        step = _pow10_near((5.0, 0.5, 2.0, 20.0)[index % 4] / float(price), -3, 3)
    product = _product(symbol, "usdt_m", decimals(tick), decimals(step), tick, step, price,
                       float(step * price), index, serial)
    return Listing(
        symbol, "usdt_m", data.STATUS.get(symbol, LISTED), base, "USDT", "USDT", tick, step,
        Decimal(multiplier), base, price, codes.take(symbol),
        _FIXED_LIST_TIMES.get(symbol, 1_668_225_600_000 + index * 3 * _DAY_MS), product,
    )


def _spot(index: int, serial: int, symbol: str, base: str, quote: str, price: Decimal,
          ticks: tuple[str, str] | None, usd: float, codes: _Codes) -> Listing:
    qscale, bscale = value_scale(quote), value_scale(base)
    if ticks is not None:
        tick, step = Decimal(ticks[0]), Decimal(ticks[1])
    else:
        tick = _tick(price, (5, 4)[index % 2], index % 5 == 2, qscale)
        step = _pow10_near(0.05 / usd, -bscale, 4, floor=True)
    product = _product(symbol, "spot", qscale, bscale, tick, step, price, float(step) * usd,
                       index, serial)
    return Listing(
        symbol, "spot", data.STATUS.get(symbol, LISTED), base, quote, None, tick, step,
        Decimal(1), base, price, codes.take(symbol),
        _FIXED_LIST_TIMES.get(symbol, 1_589_338_800_000 + index * 4 * _DAY_MS), product,
    )


@cache
def _rows() -> tuple[Listing, ...]:
    coin, usdt, spot = _Codes(21, 10), _Codes(41641, 100), _Codes(1101, 100)
    rows: list[Listing] = []
    for i, (base, price_s, families) in enumerate(data.COINS):
        price = Decimal(price_s)
        if "c" in families:
            rows.append(_coin_m(i, len(rows), base, price, coin))
            if base == "BTC":  # the USD-settled BTC contract (C table, cryptofeed #872)
                rows.append(_coin_m(i, len(rows), base, price, coin, "u"))
            if base == "ETH":  # the ETH-settled inverse contract (C table)
                rows.append(_coin_m(i, len(rows), base, price, coin, "c"))
        if "u" in families:
            rows.append(_usdt_m(i, len(rows), base, price, usdt))
        if "s" in families:
            rows.append(_spot(i, len(rows), f"s{base}USDT", base, "USDT", price,
                              data.SPOT_DOC.get(base), float(price), spot))
    usd = {base: float(price) for base, price, _ in data.COINS} | {"USDT": 1.0}
    for j, (symbol, base, quote, price_s, qtick, btick) in enumerate(data.EXTRA_SPOT):
        rows.append(_spot(len(data.COINS) + j, len(rows), symbol, base, quote,
                          Decimal(price_s), (qtick, btick), usd[base], spot))
    return tuple(sorted(rows, key=lambda r: ("coin_m", "usdt_m", "spot").index(r.family)))


def _in_2021(row: Listing) -> bool:
    """The 2021 payload: no USDⓈ-M family yet (listTime 2022), spot quoted in USDT only
    (S, 2021: "All spot symbols use the same price … scale factors (Ep) = 8")."""
    return row.family == "coin_m" or (row.family == "spot" and row.quote == "USDT")


@cache
def exchange_catalog(name: str) -> Catalog:
    """The ``exchange`` or ``exchange-2021`` catalog (same rows; 2021 lacks what did not exist)."""
    if name not in ("exchange", "exchange-2021"):
        msg = f"not an exchange catalog: {name!r}"
        raise ValueError(msg)
    rows = [r for r in _rows() if name == "exchange" or _in_2021(r)]
    return Catalog(name, {r.symbol: r for r in rows})


def _check(catalog: str) -> None:
    if catalog not in CATALOGS:
        msg = f"unknown catalog {catalog!r} (choose one of {', '.join(CATALOGS)})"
        raise ValueError(msg)


def subscribable_products(catalog: str) -> dict[str, Product]:
    """Products a subscribe accepts in ``catalog`` (basic: the 4 real ones)."""
    _check(catalog)
    return dict(PRODUCTS) if catalog == "basic" else exchange_catalog(catalog).subscribable()


def listed_symbols(catalog: str, family: Family | None = None) -> tuple[str, ...]:
    """Listed (tradable) symbols of ``catalog``, payload order; ``family`` is "coin_m",
    "usdt_m" or "spot" (None: all)."""
    _check(catalog)
    if catalog == "basic":
        return tuple(s for s, p in PRODUCTS.items() if family is None or p.family == family)
    return exchange_catalog(catalog).listed(family)


def _spec(product: Product, status: str, base: str, quote: str, settle: str | None,
          tick: Decimal, step: Decimal) -> SymbolSpec:
    strings = product.channel == "trade_p"
    return SymbolSpec(
        product.symbol, product.family, status, product.channel, product.key,
        0 if strings else product.price_exp, 0 if strings else product.qty_exp,
        tick, step, base, quote, settle,
    )


def symbol_specs(catalog: str) -> dict[str, SymbolSpec]:
    """Every row of ``catalog`` (delisted too) with the scales a client must derive."""
    _check(catalog)
    if catalog == "basic":
        basic = {"BTCUSD": ("BTC", "USD", "BTC"), "ETHUSD": ("ETH", "USD", "USD"),
                 "BTCUSDT": ("BTC", "USDT", "USDT"), "sBTCUSDT": ("BTC", "USDT", None)}
        return {s: _spec(p, LISTED, *basic[s], Decimal(p.tick_units).scaleb(-p.price_exp),
                         Decimal(p.qty_step_units).scaleb(-p.qty_exp))
                for s, p in PRODUCTS.items()}
    return {s: _spec(r.product, r.status, r.base, r.quote, r.settle, r.tick, r.step)
            for s, r in exchange_catalog(catalog).listings.items()}


def resolve_symbols(catalog: str, names: Iterable[str]) -> tuple[str, ...]:
    """Expand ``all`` / ``all:coin-m`` / ``all:usdt-m`` / ``all:spot`` into listed symbols and
    check every name is tradable in ``catalog``; duplicates from expansions are dropped.

    Raises ValueError for an unknown, delisted or unlisted name or family."""
    _check(catalog)
    out: list[str] = []
    expanded: set[str] = set()
    for name in names:
        if name == "all" or name.startswith("all:"):
            family = name.partition(":")[2].replace("_", "-")
            if family and family not in FAMILY_NAMES:
                msg = f"unknown family {family!r} (choose {', '.join(FAMILY_NAMES)})"
                raise ValueError(msg)
            new = listed_symbols(catalog, FAMILY_NAMES[family] if family else None)
            out.extend(s for s in new if s not in expanded and s not in out)
            expanded.update(new)
            continue
        if name in expanded:
            continue  # "all:spot,sBTCUSDT" names it twice on purpose; other repeats are errors
        if catalog == "basic":
            if lookup(name) is None:
                msg = f"unknown symbol: {name!r}"
                raise ValueError(msg)
        else:
            row = exchange_catalog(catalog).listings.get(name)
            if row is None or not row.listed:
                what = "unknown symbol" if row is None else f"{row.status} symbol"
                msg = f"{what} in catalog {catalog}: {name!r}"
                raise ValueError(msg)
        out.append(name)
    return tuple(out)
