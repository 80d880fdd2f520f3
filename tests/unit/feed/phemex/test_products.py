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
    assert products.require("BTCUSD") == Product("BTCUSD", Family.COIN_M, 4, 0)
    assert products.require("sBTCUSDT") == Product("sBTCUSDT", Family.SPOT, 8, 8)
    assert products.require("BTCUSDT").trade_channel == "trade_p"
    assert products.require("ETHUSD").trade_channel == "trade"


def test_payload_scales_come_from_the_exchange_and_unknown_ones_are_skipped() -> None:
    products = parse_products_payload(json.dumps(PAYLOAD))
    assert products.require("XRPUSD") == Product("XRPUSD", Family.COIN_M, 6, 0)
    assert products.require("sETHUSDT") == Product("sETHUSDT", Family.SPOT, 8, 6)
    assert products.require("ETHUSDT").family is Family.USD_M
    assert "sNOPE" not in products and "BTCUSD0329" not in products


def test_unknown_symbol_error_names_the_symbol() -> None:
    with pytest.raises(UnknownSymbolError, match="unknown symbol 'DOGE'"):
        default_products().require("DOGE")


@pytest.mark.parametrize("payload", ["<html>", '{"code": 0}', '{"code": 10001, "data": {}}'])
def test_bad_payloads_are_protocol_errors(payload: str) -> None:
    with pytest.raises(ProtocolError):
        parse_products_payload(payload)
