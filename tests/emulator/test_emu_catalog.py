"""Exchange-shaped catalogs: payload structure of both shapes, config, ticks of every symbol.

The payload is read the way a client must read it (scales from ``priceScale`` or from the
currencies' ``valueScale``) and checked against the catalog's public truth (``symbol_specs``).
"""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from ticklake.emulator import EmulatorConfig, Market
from ticklake.emulator.catalog import (
    exchange_catalog,
    listed_symbols,
    resolve_symbols,
    subscribable_products,
    symbol_specs,
)
from ticklake.emulator.catalog_payload import payload
from ticklake.emulator.products import products_payload
from ticklake.emulator.truth import truth_record

T0 = 1_764_824_672_000_000_000
SEC = 1_000_000_000
FAMILY = {"Perpetual": "coin_m", "PerpetualV2": "usdt_m", "Spot": "spot"}


def rows_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    data = body["data"]
    return [*data["products"], *data.get("perpProductsV2", [])]


def derived_scales(body: dict[str, Any]) -> dict[str, tuple[str, int, int, Decimal, Decimal]]:
    """symbol -> (family, price scale, qty scale, tick, step) as a client derives them."""
    scale = {c["currency"]: c["valueScale"] for c in body["data"]["currencies"]}
    out = {}
    for row in rows_of(body):
        kind = row["type"]
        if kind == "Perpetual":
            tick = Decimal(str(row["tickSize"]))
            out[row["symbol"]] = ("coin_m", row["priceScale"], 0, tick, Decimal(1))
        elif kind == "PerpetualV2":
            out[row["symbol"]] = ("usdt_m", 0, 0, Decimal(row["tickSize"]),
                                  Decimal(row["qtyStepSize"]))
        else:
            qs, bs = scale[row["quoteCurrency"]], scale[row["baseCurrency"]]
            out[row["symbol"]] = ("spot", qs, bs, Decimal(row["quoteTickSizeEv"]).scaleb(-qs),
                                  Decimal(row["baseTickSizeEv"]).scaleb(-bs))
    return out


@pytest.mark.parametrize("catalog", ["exchange", "exchange-2021"])
def test_payload_counts_statuses_and_currencies(catalog: str) -> None:
    body = payload(catalog)
    rows = rows_of(body)
    listed = Counter(FAMILY[r["type"]] for r in rows if r["status"] == "Listed")
    delisted = Counter(FAMILY[r["type"]] for r in rows if r["status"] == "Delisted")
    families = ("coin_m", "spot") if catalog == "exchange-2021" else ("coin_m", "usdt_m", "spot")
    for family in families:
        assert listed[family] >= 100, (family, listed)
        assert delisted[family] >= 3, (family, delisted)
        assert listed[family] == len(listed_symbols(catalog, family))
    assert {r["status"] for r in rows} == {"Listed", "Delisted", "BeingSettled"}
    symbols = [r["symbol"] for r in rows]
    assert len(symbols) == len(set(symbols))
    scale = {c["currency"]: c["valueScale"] for c in body["data"]["currencies"]}
    for row in rows:
        for key in ("baseCurrency", "quoteCurrency", "settleCurrency"):
            if key in row:
                assert row[key] in scale, (row["symbol"], key)
    assert (scale["BTC"], scale["USD"], scale["USDT"]) == (8, 4, 8)
    assert scale["SHIB"] == 2 and scale["VPAD"] == 4  # S currency table, Dec 2021
    assert {r["settleCurrency"] for r in rows if r["type"] == "Perpetual"} == {"BTC", "ETH", "USD"}
    assert symbols.index("BTCUSD") < symbols.index("uBTCUSD")  # separate contracts (§7)


def test_current_shape() -> None:
    body = payload("exchange")
    data = body["data"]
    assert {"products", "perpProductsV2", "currencies", "riskLimits", "riskLimitsV2",
            "leverages", "leveragesV2", "md5Checksum", "ratioScale"} <= set(data)
    assert set(data) == set(products_payload()["data"])  # the basic payload's keys
    scale = {c["currency"]: c["valueScale"] for c in data["currencies"]}
    for row in data["products"]:
        if row["type"] == "Spot":
            assert row["priceScale"] == scale[row["quoteCurrency"]], row["symbol"]
        else:
            assert row["priceScale"] == 4 and row["valueScale"] == scale[row["settleCurrency"]]
    perp = data["perpProductsV2"]
    assert {r["type"] for r in perp} == {"PerpetualV2"}
    assert all(r["priceScale"] == 0 and r["ratioScale"] == 0 for r in perp)
    ticks = {r["tickSize"] for r in perp}
    steps = {r["qtyStepSize"] for r in perp}
    assert {"0.1", "0.01", "0.0001", "0.00001"} <= ticks
    assert {"0.001", "0.01", "1", "10"} <= steps
    assert all(isinstance(t, str) and "e" not in t.lower() for t in ticks | steps)
    assert {r["quoteCurrency"] for r in data["products"] if r["type"] == "Spot"} >= {
        "USDT", "USDC", "TRY"}


def test_2021_shape() -> None:
    body = payload("exchange-2021")
    data = body["data"]
    assert "perpProductsV2" not in data and "riskLimitsV2" not in data
    assert set(data) == {"ratioScale", "currencies", "products", "riskLimits", "leverages"}
    assert {r["type"] for r in data["products"]} == {"Perpetual", "Spot"}
    spot = [r for r in data["products"] if r["type"] == "Spot"]
    perp = [r for r in data["products"] if r["type"] == "Perpetual"]
    for row in spot:
        assert not {"priceScale", "ratioScale", "valueScale"} & set(row), row["symbol"]
        assert row["quoteCurrency"] == "USDT"
    assert all("valueScale" not in r and r["priceScale"] == 4 for r in perp)
    assert all(set(c) == {"currency", "valueScale", "minValueEv", "maxValueEv", "name"}
               for c in data["currencies"])
    # the derivation is not trivial: some base currencies are not at scale 8
    derived = derived_scales(body)
    assert {derived[s][2] for s in listed_symbols("exchange-2021", "spot")} >= {2, 4, 8}


@pytest.mark.parametrize("catalog", ["basic", "exchange", "exchange-2021"])
def test_symbol_specs_agree_with_the_payload(catalog: str) -> None:
    body = products_payload() if catalog == "basic" else payload(catalog)
    derived = derived_scales(body)
    specs = symbol_specs(catalog)
    assert set(derived) == set(specs)
    for symbol, (family, price_scale, qty_scale, tick, step) in derived.items():
        spec = specs[symbol]
        assert (spec.family, spec.price_scale, spec.qty_scale) == (family, price_scale,
                                                                   qty_scale), symbol
        assert (spec.tick_size, spec.qty_step) == (tick, step), symbol
        assert spec.channel == ("trade_p" if family == "usdt_m" else "trade")
        assert spec.key == ("trades_p" if family == "usdt_m" else "trades")


def test_catalog_is_deterministic() -> None:
    first = json.dumps(payload("exchange"))
    exchange_catalog.cache_clear()
    assert json.dumps(payload("exchange")) == first


def test_config_catalog_and_symbol_expansion() -> None:
    basic = EmulatorConfig()
    assert (basic.catalog, basic.symbols, basic.snapshot_trades) == ("basic", ("BTCUSD",), 200)
    assert EmulatorConfig(symbols=("all",)).symbols == ("BTCUSD", "ETHUSD", "BTCUSDT",
                                                        "sBTCUSDT")
    spot = EmulatorConfig(catalog="exchange", symbols=("all:spot",))
    assert spot.symbols == listed_symbols("exchange", "spot")
    assert all(s.startswith("s") for s in spot.symbols)
    both = EmulatorConfig(catalog="exchange", symbols=("XRPUSD", "all:usdt-m", "BTCUSDT"))
    assert both.symbols[0] == "XRPUSD" and len(both.symbols) == 1 + len(
        listed_symbols("exchange", "usdt_m"))
    everything = EmulatorConfig(catalog="exchange", symbols=("all",))
    assert len(everything.symbols) == len(listed_symbols("exchange")) >= 300
    assert EmulatorConfig(catalog="exchange-2021").snapshot_trades == 1000
    assert EmulatorConfig(catalog="exchange-2021", snapshot_size=200).snapshot_trades == 200
    for catalog, symbols, error in (
        ("exchange", ("LENDUSD",), "Delisted symbol"),
        ("exchange", ("OMGUSD",), "BeingSettled symbol"),
        ("exchange", ("DOGEUSDX",), "unknown symbol"),
        ("exchange", ("Z001USD",), "unknown symbol"),  # synthetic symbols: basic only
        ("exchange-2021", ("BTCUSDT",), "unknown symbol"),  # no USDⓈ-M in 2021
        ("exchange", ("all:futures",), "unknown family"),
        ("exchange-2021", ("all:usdt-m",), "symbols must not be empty"),
        ("nasdaq", ("BTCUSD",), "catalog must be one of"),
        ("exchange", ("XRPUSD", "XRPUSD"), "duplicate symbols"),
    ):
        with pytest.raises(ValueError, match=error):
            EmulatorConfig(catalog=catalog, symbols=symbols)
    with pytest.raises(ValueError, match="unknown symbol"):
        resolve_symbols("basic", ["XRPUSD"])


def test_delisted_rows_are_not_subscribable() -> None:
    products = subscribable_products("exchange")
    specs = symbol_specs("exchange")
    assert {s for s, spec in specs.items() if spec.status != "Delisted"} == set(products)
    assert "LENDUSD" not in products and "OMGUSD" in products


@pytest.mark.parametrize("catalog", ["exchange", "exchange-2021"])
def test_every_listed_symbol_trades_on_its_tick(catalog: str) -> None:
    """The simulator scales and ticks every catalog symbol; truth is in real units."""
    products = subscribable_products(catalog)
    specs = symbol_specs(catalog)
    symbols = listed_symbols(catalog)
    market = Market(symbols, seed=3, rate=20.0, start_ns=T0, products=products)
    trades = market.advance(T0 + 5 * SEC)
    assert {t.symbol for t in trades} >= set(symbols[::10])
    for trade in trades:
        product, spec = products[trade.symbol], specs[trade.symbol]
        assert trade.price % product.tick_units == 0 and trade.price > 0
        assert trade.qty % product.qty_step_units == 0 and trade.qty > 0
        record = truth_record(trade, product)
        price, qty = Decimal(str(record["price"])), Decimal(str(record["qty"]))
        assert price % spec.tick_size == 0 and qty % spec.qty_step == 0, record
