"""Scales loaded from the emulator's REST products payload over HTTP."""

from __future__ import annotations

import asyncio

import pytest

from ticklake.emulator import Emulator, EmulatorConfig
from ticklake.emulator.catalog import listed_symbols, symbol_specs
from ticklake.feed.phemex import Family, ProductTable, default_products
from ticklake.session.products import fetch_products, load_products, products_url_for


def test_products_from_the_emulator_match_the_reference_scales() -> None:
    async def scenario() -> None:
        async with Emulator(EmulatorConfig()) as emulator:
            url = products_url_for(emulator.url)
            assert url == f"http://127.0.0.1:{emulator.port}/public/products"
            products = await fetch_products(url)
        defaults = default_products()
        assert sorted(products.symbols()) == sorted(defaults.symbols())
        for symbol in defaults.symbols():
            assert products.require(symbol) == defaults.require(symbol)

    asyncio.run(scenario())


def test_live_url_maps_to_the_rest_host() -> None:
    assert products_url_for("wss://ws.phemex.com") == "https://api.phemex.com/public/products"


def test_unreachable_products_url_falls_back_to_defaults() -> None:
    products = asyncio.run(load_products("http://127.0.0.1:9/public/products", timeout=2))
    assert products.symbols() == default_products().symbols()


@pytest.mark.parametrize("catalog", ["exchange", "exchange-2021"])
def test_every_row_of_an_exchange_shaped_payload_scales_as_the_exchange_says(
        catalog: str) -> None:
    """Hundreds of rows in both payload shapes (the 2021 one: spot rows without priceScale),
    every one scaled as the emulator's truth says, families listed exactly."""
    async def scenario() -> ProductTable:
        async with Emulator(EmulatorConfig(catalog=catalog)) as emulator:
            return await load_products(products_url_for(emulator.url), required=True)

    products = asyncio.run(scenario())
    specs = symbol_specs(catalog)
    assert not products.problems
    assert sorted(products.symbols()) == sorted(specs)  # delisted rows too: old frames decode
    families = {"coin_m": Family.COIN_M, "usdt_m": Family.USD_M, "spot": Family.SPOT}
    for symbol, spec in specs.items():
        product = products.require(symbol)
        assert product.family is families[spec.family], symbol
        assert product.trade_channel == spec.channel, symbol
        assert product.listed == (spec.status == "Listed"), symbol
        if spec.channel == "trade":  # integers on the wire: the scales must be the exchange's
            assert (product.price_scale, product.qty_scale) == (
                spec.price_scale, spec.qty_scale), symbol
    for name, family in families.items():
        assert products.family_symbols(family) == sorted(listed_symbols(catalog, name))


def test_shipped_defaults_are_never_merged_into_a_fetched_payload() -> None:
    async def scenario() -> ProductTable:
        config = EmulatorConfig(catalog="exchange-2021", symbols=("BTCUSD",))
        async with Emulator(config) as emulator:
            return await load_products(products_url_for(emulator.url))

    products = asyncio.run(scenario())
    assert "BTCUSDT" not in products  # no USDⓈ-M perpetuals in 2021, whatever we ship
    assert products.family_symbols(Family.USD_M) == []
