"""Phemex products: which channel carries a symbol's trades and how to scale its numbers.

Reference §7. COIN-M and spot trades carry scaled integers (``priceEp``; spot qty in the base
currency's ``valueScale``); USDⓈ-M (``_p``) trades carry decimal strings, which we scale by
``DECIMAL_SCALE`` so that every normalized price is an exact integer.
"""

from __future__ import annotations

import decimal
import enum
from collections.abc import Iterable, Mapping

import msgspec

from ticklake.errors import ProtocolError, UnknownSymbolError

# Phemex's own Ep/Ev scale for USDT-settled values; "Rp"/"Rq" strings never carry more digits.
DECIMAL_SCALE = 8


class Family(enum.Enum):
    COIN_M = "coin-m"
    USD_M = "usd-m"
    SPOT = "spot"


# Family names a user may give (``--family``, ``all:<family>``): ours and the payload's ``type``.
_FAMILY_NAMES = {
    **{family.value: family for family in Family},
    "perpetual": Family.COIN_M,
    "perpetualv2": Family.USD_M,
    "usdt-m": Family.USD_M,
}


def parse_family(name: str) -> Family:
    """``coin-m``/``Perpetual``, ``usd-m``/``PerpetualV2`` or ``spot``/``Spot`` (any case)."""
    family = _FAMILY_NAMES.get(name.strip().lower())
    if family is None:
        msg = f"unknown product family {name!r} (choose coin-m, usd-m or spot)"
        raise ValueError(msg)
    return family


class Product(msgspec.Struct, frozen=True):
    symbol: str
    family: Family
    price_scale: int
    qty_scale: int
    # False for a payload row whose status is not "Listed": still scaled (old recordings
    # replay), never picked by a family listing.
    listed: bool = True
    # ``…Ev`` values (a ticker's turnover): the settle currency's valueScale for COIN-M, the
    # quote currency's for spot (= its price scale); None when the payload does not say.
    value_scale: int | None = None
    # A contract's index, mark, predicted-funding and 8 h funding symbols (``.BTC``,
    # ``.MBTC``, ``.BTCFR``, ``.BTCFR8H``: the payload's indexSymbol, markSymbol,
    # fundingRateSymbol, fundingRate8hSymbol), streamed on ``tick``/``tick_p`` (§6.4).
    tick_symbols: tuple[str, ...] = ()

    @property
    def trade_channel(self) -> str:
        """Channel name: ``trade`` for COIN-M and spot, ``trade_p`` for USDⓈ-M (§5.3)."""
        return "trade_p" if self.family is Family.USD_M else "trade"


class ProductTable:
    """Symbol → Product; built from shipped defaults or the REST products payload."""

    def __init__(self, products: Iterable[Product], problems: Iterable[str] = (),
                 source: str = "") -> None:
        self._by_symbol: dict[str, Product] = {p.symbol: p for p in products}
        # What a parsed payload could not use (rows without a scale, other product types).
        self.problems: tuple[str, ...] = tuple(problems)
        self.source = source  # where the table came from: a URL, "shipped defaults", a spool

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._by_symbol

    def __len__(self) -> int:
        return len(self._by_symbol)

    def get(self, symbol: str) -> Product | None:
        return self._by_symbol.get(symbol)

    def require(self, symbol: str) -> Product:
        product = self._by_symbol.get(symbol)
        if product is None:
            raise UnknownSymbolError(symbol, list(self._by_symbol))
        return product

    def symbols(self) -> list[str]:
        return list(self._by_symbol)

    def family_symbols(self, family: Family) -> list[str]:
        """Listed symbols of ``family``, sorted (the order does not depend on the payload's)."""
        return sorted(p.symbol for p in self._by_symbol.values()
                      if p.family is family and p.listed)

    def merged(self, other: ProductTable) -> ProductTable:
        """This table with ``other``'s entries taking precedence."""
        return ProductTable([*self._by_symbol.values(), *other._by_symbol.values()])

    def listing(self) -> list[Product]:
        """Every product, in symbol order (what a control record carries)."""
        return [self._by_symbol[s] for s in sorted(self._by_symbol)]


DEFAULTS_SOURCE = "shipped defaults"


def default_products() -> ProductTable:
    """Scales shipped with ticklake, used when the REST payload is not available (§7 table)."""
    return ProductTable(
        [
            # value scales: BTC-settled 8, USD-settled 4 (§7 table)
            Product("BTCUSD", Family.COIN_M, price_scale=4, qty_scale=0, value_scale=8,
                    tick_symbols=(".BTC", ".MBTC", ".BTCFR", ".BTCFR8H")),
            Product("ETHUSD", Family.COIN_M, price_scale=4, qty_scale=0, value_scale=4,
                    tick_symbols=(".ETH", ".METH", ".ETHFR", ".ETHFR8H")),
            Product("BTCUSDT", Family.USD_M, price_scale=DECIMAL_SCALE, qty_scale=DECIMAL_SCALE,
                    tick_symbols=(".BTCUSDT", ".MBTCUSDT", ".BTCUSDTFR", ".BTCUSDTFR8H")),
            Product("sBTCUSDT", Family.SPOT, price_scale=8, qty_scale=8, value_scale=8),
        ],
        source=DEFAULTS_SOURCE,
    )


_LISTED = "Listed"


class _Currency(msgspec.Struct):
    currency: str
    valueScale: int | None = None


class _ProductRow(msgspec.Struct):
    symbol: str
    type: str = ""
    priceScale: int | None = None
    baseQtyScale: int | None = None  # not in any payload seen; honoured if it ever is
    baseCurrency: str | None = None
    quoteCurrency: str | None = None
    tickSize: str | float | None = None
    qtyStepSize: str | float | None = None
    status: str = _LISTED
    settleCurrency: str | None = None
    valueScale: int | None = None
    indexSymbol: str | None = None
    markSymbol: str | None = None
    fundingRateSymbol: str | None = None
    fundingRate8hSymbol: str | None = None

    def tick_symbols(self) -> tuple[str, ...]:
        names = (self.indexSymbol, self.markSymbol, self.fundingRateSymbol,
                 self.fundingRate8hSymbol)
        return tuple(dict.fromkeys(n for n in names if n))


class _ProductsData(msgspec.Struct):
    currencies: list[msgspec.Raw] = []
    products: list[msgspec.Raw] | None = []
    perpProductsV2: list[msgspec.Raw] | None = []  # absent before 2022 (no USDⓈ-M perps)


class _ProductsPayload(msgspec.Struct):
    data: _ProductsData | None = None
    code: int = 0
    msg: str = ""


_payload_decoder = msgspec.json.Decoder(_ProductsPayload)
_row_decoder = msgspec.json.Decoder(_ProductRow)
_currency_decoder = msgspec.json.Decoder(_Currency)
_symbol_decoder = msgspec.json.Decoder(dict[str, object])
_FAMILY_OF_TYPE = {"Perpetual": Family.COIN_M, "PerpetualV2": Family.USD_M, "Spot": Family.SPOT}


def parse_products_payload(payload: bytes | str, source: str = "") -> ProductTable:
    """Parse ``GET /public/products`` (or ``/exchange/public/cfg/v2/products``), every shape
    Phemex has served (§7): ``products`` (COIN-M and spot) + ``perpProductsV2`` (USDⓈ-M, since
    2022) + ``currencies``; spot rows with or without ``priceScale`` (2021 rows have none: the
    quote currency's ``valueScale`` gives it, the base currency's the qty scale).

    A row that cannot be scaled is left out and named in ``problems`` with the field it
    lacks, never guessed; rows of other product types (futures, options) are counted there.
    """
    try:
        decoded = _payload_decoder.decode(payload)
    except msgspec.DecodeError as exc:
        msg = f"products payload is not valid: {exc}"
        raise ProtocolError(msg) from exc
    if decoded.code != 0:
        detail = f" ({decoded.msg})" if decoded.msg else ""
        msg = f"products payload has error code {decoded.code}{detail}"
        raise ProtocolError(msg)
    data = decoded.data
    if data is None or (not data.products and not data.perpProductsV2):
        msg = "products payload lists no products (no data.products nor data.perpProductsV2)"
        raise ProtocolError(msg)
    problems: list[str] = []
    value_scales = _value_scales(data.currencies, problems)
    found: list[Product] = []
    other_types: dict[str, list[str]] = {}
    for raw in [*(data.products or ()), *(data.perpProductsV2 or ())]:
        row = _decode_row(raw, problems)
        if row is None:
            continue
        family = _FAMILY_OF_TYPE.get(row.type)
        if family is None:
            other_types.setdefault(row.type or "(none)", []).append(row.symbol)
            continue
        product = _scaled(row, family, value_scales, problems)
        if product is not None:
            found.append(product)
    for kind, symbols in sorted(other_types.items()):
        shown = ", ".join(symbols[:3]) + (", ..." if len(symbols) > 3 else "")
        problems.append(f"{len(symbols)} products of type {kind!r} not recorded ({shown})")
    return ProductTable(found, problems, source)


def _value_scales(rows: list[msgspec.Raw], problems: list[str]) -> dict[str, int]:
    scales: dict[str, int] = {}
    for raw in rows:
        try:
            currency = _currency_decoder.decode(raw)
        except msgspec.DecodeError as exc:
            problems.append(f"a currency row is not valid: {exc}")
            continue
        if currency.valueScale is not None:
            scales[currency.currency] = currency.valueScale
    return scales


def _decode_row(raw: msgspec.Raw, problems: list[str]) -> _ProductRow | None:
    try:
        return _row_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        try:
            symbol = _symbol_decoder.decode(raw).get("symbol", "?")
        except msgspec.DecodeError:
            symbol = "?"
        problems.append(f"product {symbol}: row not valid ({exc})")
        return None


def _scaled(row: _ProductRow, family: Family, value_scales: Mapping[str, int],
            problems: list[str]) -> Product | None:
    """The row's product, or None with the reason appended to ``problems``."""
    listed = row.status == _LISTED
    if family is Family.USD_M:
        # Decimal strings on the wire: scaled by DECIMAL_SCALE, exact if steps fit in it.
        for name, step in (("tickSize", row.tickSize), ("qtyStepSize", row.qtyStepSize)):
            if step is not None and _decimals(step) > DECIMAL_SCALE:
                problems.append(f"product {row.symbol}: {name} {step} has more than "
                                f"{DECIMAL_SCALE} decimals (not stored exactly)")
                return None
        return Product(row.symbol, family, DECIMAL_SCALE, DECIMAL_SCALE, listed,
                       tick_symbols=row.tick_symbols())
    price_scale: int | None
    qty_scale: int | None
    value_scale: int | None = None
    if family is Family.COIN_M:
        price_scale, qty_scale = row.priceScale, 0
        missing = "priceScale" if price_scale is None else ""
        value_scale = row.valueScale if row.valueScale is not None else (
            value_scales.get(row.settleCurrency) if row.settleCurrency else None)
    else:
        price_scale, missing = _currency_scale(row.priceScale, row.quoteCurrency,
                                               "quoteCurrency", value_scales)
        qty_scale, missing_qty = _currency_scale(row.baseQtyScale, row.baseCurrency,
                                                 "baseCurrency", value_scales)
        missing = missing or missing_qty
    if missing or price_scale is None or qty_scale is None:
        problems.append(f"product {row.symbol}: cannot be scaled, no {missing}")
        return None
    if not (0 <= price_scale <= DECIMAL_SCALE and 0 <= qty_scale <= DECIMAL_SCALE):
        problems.append(f"product {row.symbol}: scales {price_scale}/{qty_scale} beyond the "
                        f"lake's {DECIMAL_SCALE} decimals")
        return None
    if family is Family.SPOT:
        value_scale = price_scale  # turnover is in the quote currency, as prices are
    ticks = row.tick_symbols() if family is Family.COIN_M else ()  # (spot: its index only)
    return Product(row.symbol, family, price_scale, qty_scale, listed, value_scale, ticks)


def _currency_scale(given: int | None, currency: str | None, field: str,
                    value_scales: Mapping[str, int]) -> tuple[int | None, str]:
    """A spot scale: the row's own if it states one, else its currency's ``valueScale``."""
    if given is not None:
        return given, ""
    if not currency:
        return None, field
    scale = value_scales.get(currency)
    if scale is None:
        return None, f"valueScale for currency {currency!r} ({field})"
    return scale, ""


def _decimals(step: str | float) -> int:
    """Decimal places of a step size ("0.001" and 1e-05 alike); 0 for what is not a number."""
    try:
        exponent = decimal.Decimal(str(step)).normalize().as_tuple().exponent
    except decimal.InvalidOperation:
        return 0
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0
