"""Product scales: shipped defaults and the REST payload (§7)."""

from __future__ import annotations

import json

import pytest

from ticklake.errors import ProtocolError, UnknownSymbolError
from ticklake.feed.phemex import Family, Product, default_products
from ticklake.feed.phemex.products import parse_products_payload

PAYLOAD = {
    "code": 0, "msg": "",
    "data": {
        "ratioScale": 8,
        "currencies": [{"currency": "BTC", "valueScale": 8}, {"currency": "USDT", "valueScale": 8},
                       {"currency": "ETH", "valueScale": 6}],
        "products": [
            {"symbol": "BTCUSD", "type": "Perpetual", "priceScale": 4, "tickSize": 0.1},
            {"symbol": "XRPUSD", "type": "Perpetual", "priceScale": 6},
            {"symbol": "sETHUSDT", "type": "Spot", "priceScale": 8, "baseCurrency": "ETH"},
            {"symbol": "sNOPE", "type": "Spot", "priceScale": 8, "baseCurrency": "NOPE"},
            {"symbol": "BTCUSD0329", "type": "Future"},
        ],
        "perpProductsV2": [{"symbol": "ETHUSDT", "type": "PerpetualV2", "priceScale": 0}],
    },
}


def test_defaults_cover_the_reference_symbols() -> None:
    products = default_products()
    # value scales (a ticker's turnover): BTC-settled 8, spot in its quote currency's 8
    assert products.require("BTCUSD") == Product(
        "BTCUSD", Family.COIN_M, 4, 0, value_scale=8,
        tick_symbols=(".BTC", ".MBTC", ".BTCFR", ".BTCFR8H"))
    assert products.require("sBTCUSDT") == Product("sBTCUSDT", Family.SPOT, 8, 8, value_scale=8)
    assert products.require("BTCUSDT").trade_channel == "trade_p"
    assert products.require("ETHUSD").trade_channel == "trade"


def test_payload_scales_come_from_the_exchange_and_unknown_ones_are_skipped() -> None:
    products = parse_products_payload(json.dumps(PAYLOAD))
    # (no settleCurrency nor valueScale on the row: its value scale is unknown, not guessed)
    assert products.require("XRPUSD") == Product("XRPUSD", Family.COIN_M, 6, 0)
    assert products.require("sETHUSDT") == Product("sETHUSDT", Family.SPOT, 8, 6, value_scale=8)
    assert products.require("ETHUSDT").family is Family.USD_M
    assert "sNOPE" not in products and "BTCUSD0329" not in products


def test_unknown_symbol_error_names_the_symbol() -> None:
    with pytest.raises(UnknownSymbolError, match="unknown symbol 'DOGE'"):
        default_products().require("DOGE")


@pytest.mark.parametrize("payload", ["<html>", '{"code": 0}', '{"code": 10001, "data": {}}'])
def test_bad_payloads_are_protocol_errors(payload: str) -> None:
    with pytest.raises(ProtocolError):
        parse_products_payload(payload)


# -- every shape the exchange has served (reference §7) ----------------------------------------
# Facts used: currencies carry ``valueScale`` (BTC 8, USD 4, USDT 8); COIN-M rows
# (``Perpetual``) state ``priceScale`` 4 and trade in contracts; USDⓈ-M rows (``PerpetualV2``,
# since 2022 in ``perpProductsV2``) state ``priceScale`` 0 and trade in decimal strings; a spot
# row's price scale is its quote currency's ``valueScale`` and its qty scale its base
# currency's. The 2021 payload had no ``perpProductsV2`` and no ``priceScale`` on spot rows.

CURRENCIES = [{"currency": "BTC", "valueScale": 8}, {"currency": "USD", "valueScale": 4},
              {"currency": "USDT", "valueScale": 8}, {"currency": "ETH", "valueScale": 8},
              {"currency": "XYZ", "valueScale": 6}]
COIN_M = {"symbol": "BTCUSD", "type": "Perpetual", "priceScale": 4, "ratioScale": 8,
          "valueScale": 8, "settleCurrency": "BTC", "quoteCurrency": "USD", "tickSize": 0.5,
          "status": "Listed", "indexSymbol": ".BTC", "markSymbol": ".MBTC",
          "fundingRateSymbol": ".BTCFR", "fundingRate8hSymbol": ".BTCFR8H"}
SPOT_2021 = {"symbol": "sETHUSDT", "type": "Spot", "baseCurrency": "ETH",
             "quoteCurrency": "USDT", "quoteTickSizeEv": 1_000_000, "baseTickSizeEv": 100,
             "status": "Listed"}
SPOT_NOW = {"symbol": "sBTCUSDT", "type": "Spot", "priceScale": 8, "ratioScale": 8,
            "valueScale": 8, "baseCurrency": "BTC", "quoteCurrency": "USDT", "status": "Listed"}
PERP_V2 = {"symbol": "BTCUSDT", "type": "PerpetualV2", "priceScale": 0, "ratioScale": 0,
           "indexSymbol": ".BTCUSDT", "markSymbol": ".MBTCUSDT",
           "tickSize": "0.1", "qtyStepSize": "0.001", "settleCurrency": "USDT",
           "status": "Listed"}


def payload(products: list[dict[str, object]],
            perp_v2: list[dict[str, object]] | None = None) -> str:
    data: dict[str, object] = {"currencies": CURRENCIES, "products": products}
    if perp_v2 is not None:
        data["perpProductsV2"] = perp_v2
    return json.dumps({"code": 0, "msg": "", "data": data})


def test_the_2021_payload_scales_spot_rows_from_their_currencies() -> None:
    products = parse_products_payload(payload([COIN_M, SPOT_2021,
                                               {**SPOT_2021, "symbol": "sXYZUSDT",
                                                "baseCurrency": "XYZ"}]))
    assert products.require("sETHUSDT") == Product("sETHUSDT", Family.SPOT, 8, 8, value_scale=8)
    assert products.require("sXYZUSDT") == Product("sXYZUSDT", Family.SPOT, 8, 6, value_scale=8)
    assert products.require("BTCUSD") == Product(
        "BTCUSD", Family.COIN_M, 4, 0, value_scale=8,
        tick_symbols=(".BTC", ".MBTC", ".BTCFR", ".BTCFR8H"))
    assert products.family_symbols(Family.USD_M) == [] and not products.problems


def test_the_current_payload_with_perp_products_v2() -> None:
    products = parse_products_payload(payload([COIN_M, SPOT_NOW], [PERP_V2]))
    assert products.require("sBTCUSDT") == Product("sBTCUSDT", Family.SPOT, 8, 8, value_scale=8)
    # a contract's index and mark symbols (what the payload names: these rows name two)
    assert products.require("BTCUSDT") == Product("BTCUSDT", Family.USD_M, 8, 8,
                                                  tick_symbols=(".BTCUSDT", ".MBTCUSDT"))
    assert products.require("BTCUSDT").trade_channel == "trade_p"
    assert not products.problems


@pytest.mark.parametrize("dropped", ["ratioScale", "valueScale", "tickSize", "status",
                                     "settleCurrency", "qtyStepSize"])
def test_rows_without_optional_fields_still_scale(dropped: str) -> None:
    rows = [{k: v for k, v in row.items() if k != dropped} for row in (COIN_M, SPOT_NOW)]
    perp = {k: v for k, v in PERP_V2.items() if k != dropped}
    products = parse_products_payload(payload(rows, [perp]))
    assert sorted(products.symbols()) == ["BTCUSD", "BTCUSDT", "sBTCUSDT"]
    assert not products.problems


def test_a_spot_row_states_its_own_scale_when_it_has_one() -> None:
    row = {**SPOT_2021, "priceScale": 6, "baseQtyScale": 4}
    assert parse_products_payload(payload([row])).require("sETHUSDT").price_scale == 6
    assert parse_products_payload(payload([row])).require("sETHUSDT").qty_scale == 4


@pytest.mark.parametrize(("row", "named"), [
    ({**SPOT_2021, "quoteCurrency": None}, "no quoteCurrency"),
    ({**SPOT_2021, "baseCurrency": "NOPE"}, "valueScale for currency 'NOPE' (baseCurrency)"),
    ({**COIN_M, "priceScale": None}, "no priceScale"),
    ({**COIN_M, "priceScale": "4"}, "row not valid"),
    ({**PERP_V2, "type": "PerpetualV2", "qtyStepSize": "0.000000001"}, "more than 8 decimals"),
    ({**COIN_M, "priceScale": 12}, "beyond the lake's 8 decimals"),
])
def test_a_row_that_cannot_be_scaled_is_named_with_its_missing_field(
        row: dict[str, object], named: str) -> None:
    products = parse_products_payload(payload([row, SPOT_NOW]))
    assert products.symbols() == ["sBTCUSDT"]  # the others still load
    (problem,) = products.problems
    assert str(row["symbol"]) in problem and named in problem


def test_other_product_types_are_counted_not_recorded() -> None:
    future = {"symbol": "BTCUSD1229", "type": "Future", "priceScale": 4}
    products = parse_products_payload(payload([COIN_M, future, {**future, "symbol": "X"}]))
    assert products.symbols() == ["BTCUSD"]
    assert products.problems == ("2 products of type 'Future' not recorded (BTCUSD1229, X)",)


def test_a_delisted_row_still_scales_but_is_never_listed_in_a_family() -> None:
    gone = {**COIN_M, "symbol": "LINKUSD", "status": "Delisted"}
    products = parse_products_payload(payload([COIN_M, gone]))
    assert products.require("LINKUSD").listed is False
    assert products.family_symbols(Family.COIN_M) == ["BTCUSD"]


def test_an_error_payload_says_what_the_exchange_said() -> None:
    body = json.dumps({"code": 10500, "msg": "Service unavailable", "data": None})
    with pytest.raises(ProtocolError, match=r"error code 10500 \(Service unavailable\)"):
        parse_products_payload(body)
    with pytest.raises(ProtocolError, match="lists no products"):
        parse_products_payload(json.dumps({"code": 0, "data": {"currencies": CURRENCIES}}))
