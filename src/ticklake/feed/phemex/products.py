"""Phemex products: which channel carries a symbol's trades and how to scale its numbers.

Reference §7. COIN-M and spot trades carry scaled integers (``priceEp``; spot qty in the base
currency's ``valueScale``); USDⓈ-M (``_p``) trades carry decimal strings, which we scale by
``DECIMAL_SCALE`` so that every normalized price is an exact integer.
"""

from __future__ import annotations

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

    @property
    def trade_channel(self) -> str:
        """Channel name: ``trade`` for COIN-M and spot, ``trade_p`` for USDⓈ-M (§5.3)."""
        return "trade_p" if self.family is Family.USD_M else "trade"


class ProductTable:
    """Symbol → Product; built from shipped defaults or the REST products payload."""

    def __init__(self, products: Iterable[Product]) -> None:
        self._by_symbol: dict[str, Product] = {p.symbol: p for p in products}

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


def default_products() -> ProductTable:
    """Scales shipped with ticklake, used when the REST payload is not available (§7 table)."""
    return ProductTable(
        [
            Product("BTCUSD", Family.COIN_M, price_scale=4, qty_scale=0),
            Product("ETHUSD", Family.COIN_M, price_scale=4, qty_scale=0),
            Product("BTCUSDT", Family.USD_M, price_scale=DECIMAL_SCALE, qty_scale=DECIMAL_SCALE),
            Product("sBTCUSDT", Family.SPOT, price_scale=8, qty_scale=8),
        ]
    )


class _Currency(msgspec.Struct):
    currency: str
    valueScale: int


class _ProductRow(msgspec.Struct):
    symbol: str
    type: str
    priceScale: int | None = None
    baseCurrency: str | None = None
    status: str = "Listed"


class _ProductsData(msgspec.Struct):
    currencies: list[_Currency] = []
    products: list[_ProductRow] = []
    perpProductsV2: list[_ProductRow] = []


class _ProductsPayload(msgspec.Struct):
    data: _ProductsData
    code: int = 0


_payload_decoder = msgspec.json.Decoder(_ProductsPayload)
_LISTED = "Listed"


def parse_products_payload(payload: bytes | str) -> ProductTable:
    """Parse ``GET /public/products`` (or ``/exchange/public/cfg/v2/products``).

    Products whose scales cannot be derived are skipped, not guessed.
    """
    try:
        decoded = _payload_decoder.decode(payload)
    except msgspec.DecodeError as exc:
        msg = f"products payload is not valid: {exc}"
        raise ProtocolError(msg) from exc
    if decoded.code != 0:
        msg = f"products payload has error code {decoded.code}"
        raise ProtocolError(msg)
    data = decoded.data
    value_scales: Mapping[str, int] = {c.currency: c.valueScale for c in data.currencies}
    found: list[Product] = []
    for row in data.products:
        listed = row.status == _LISTED
        if row.type == "Perpetual" and row.priceScale is not None:
            found.append(Product(row.symbol, Family.COIN_M, row.priceScale, 0, listed))
        elif row.type == "Spot" and row.priceScale is not None and row.baseCurrency:
            qty_scale = value_scales.get(row.baseCurrency)
            if qty_scale is not None:
                found.append(Product(row.symbol, Family.SPOT, row.priceScale, qty_scale, listed))
    for row in data.perpProductsV2:
        found.append(Product(row.symbol, Family.USD_M, DECIMAL_SCALE, DECIMAL_SCALE,
                             row.status == _LISTED))
    return ProductTable(found)
