"""Scales loaded from the emulator's REST products payload over HTTP."""

from __future__ import annotations

import asyncio

from ticklake.emulator import Emulator, EmulatorConfig
from ticklake.feed.phemex import default_products
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
