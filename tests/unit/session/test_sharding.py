"""Which symbols a recorder records and how they are packed into connections."""

from __future__ import annotations

import json

import pytest

from ticklake.config import load_settings
from ticklake.emulator.products import products_payload, synthetic_symbols
from ticklake.errors import ConfigError, UnknownSymbolError
from ticklake.feed.phemex.limits import MAX_CONNECTIONS, MAX_SUBSCRIPTIONS
from ticklake.feed.phemex.products import (
    Family,
    ProductTable,
    parse_family,
    parse_products_payload,
)
from ticklake.session.sharding import (
    expand_symbols,
    jump_hash,
    pack_connections,
    plan_connections,
    shard_of,
    shard_symbols,
)

SYMBOLS = [f"SYM{i:03d}USDT" for i in range(300)]


@pytest.mark.parametrize(
    ("key", "buckets", "bucket"),
    # The published vectors of Lamping & Veach's algorithm (Go, C, Elixir ports agree).
    [(1, 1, 0), (42, 57, 43), (0xDEAD10CC, 1, 0), (0xDEAD10CC, 666, 361), (256, 1024, 520),
     (128, 100_000_000, 38_172_097), (2**64 - 1, 128, 92)],
)
def test_jump_hash_matches_the_reference_vectors(key: int, buckets: int, bucket: int) -> None:
    assert jump_hash(key, buckets) == bucket


def test_shards_are_disjoint_complete_and_roughly_even() -> None:
    parts = [shard_symbols(SYMBOLS, (i, 3)) for i in range(3)]
    assert sorted(s for part in parts for s in part) == sorted(SYMBOLS)
    assert all(len(part) > 70 for part in parts), [len(p) for p in parts]  # 100 expected
    assert shard_symbols(SYMBOLS, None) == sorted(SYMBOLS)


def test_a_symbol_keeps_its_shard_whatever_else_is_listed() -> None:
    before = {s: i for i in range(4) for s in shard_symbols(SYMBOLS[:200], (i, 4))}
    after = {s: i for i in range(4) for s in shard_symbols(SYMBOLS[::-1], (i, 4))}
    assert all(after[s] == shard for s, shard in before.items())


def test_one_more_shard_moves_only_symbols_to_the_new_shard() -> None:
    moved = [s for s in SYMBOLS if shard_of(s, 4) != shard_of(s, 5)]
    assert all(shard_of(s, 5) == 4 for s in moved)
    assert 30 <= len(moved) <= 90  # about 1/5 of 300; round-robin would move ~4/5


def test_packing_uses_the_fewest_connections_evenly_and_sorted() -> None:
    groups = pack_connections(SYMBOLS[:44][::-1])
    assert [len(g) for g in groups] == [15, 15, 14]
    assert [s for g in groups for s in g] == sorted(SYMBOLS[:44])
    assert pack_connections(SYMBOLS[:20]) == [sorted(SYMBOLS[:20])]
    full = pack_connections(SYMBOLS[:100])
    assert len(full) == MAX_CONNECTIONS and {len(g) for g in full} == {MAX_SUBSCRIPTIONS}


def test_more_than_one_recorder_holds_is_an_error_naming_shard() -> None:
    with pytest.raises(ConfigError, match=r"101 symbols.*5 connections × 20.*--shard i/n"):
        pack_connections(SYMBOLS[:101])
    with pytest.raises(ConfigError, match="3 connections"):
        pack_connections(SYMBOLS[:61], max_connections=3)


def _emulator_products(extra: int) -> tuple[list[str], ProductTable]:
    extras = synthetic_symbols(extra)
    payload = json.dumps(products_payload(extras))
    return list(extras), parse_products_payload(payload)


def test_families_are_listed_from_the_products_payload() -> None:
    extras, products = _emulator_products(9)
    assert extras[:3] == ["Z001USD", "Z002USDT", "sZ003USDT"]
    usd_m = expand_symbols(["all:usd-m"], products)
    assert usd_m == ["BTCUSDT", "Z002USDT", "Z005USDT", "Z008USDT"]
    assert expand_symbols(["all:PerpetualV2"], products) == usd_m
    both = expand_symbols(["all:spot", "BTCUSD"], products)
    assert both == ["BTCUSD", "sBTCUSDT", "sZ003USDT", "sZ006USDT", "sZ009USDT"]


def test_a_delisted_product_is_scaled_but_never_listed_in_its_family() -> None:
    payload = products_payload(synthetic_symbols(2))
    payload["data"]["perpProductsV2"][1]["status"] = "Delisted"
    products = parse_products_payload(json.dumps(payload))
    assert "Z002USDT" in products
    assert products.family_symbols(Family.USD_M) == ["BTCUSDT"]


def test_unknown_family_and_unknown_symbol_are_named() -> None:
    _, products = _emulator_products(3)
    with pytest.raises(ConfigError, match=r"all:futures.*choose coin-m, usd-m or spot"):
        expand_symbols(["all:futures"], products)
    with pytest.raises(UnknownSymbolError, match="NOPE"):
        plan_connections(["NOPE", "BTCUSD"], products)
    with pytest.raises(ValueError, match="unknown product family"):
        parse_family("margin")


def test_plan_is_the_shard_of_the_family_packed() -> None:
    _, products = _emulator_products(150)
    everything = expand_symbols(["all:coin-m", "all:usd-m", "all:spot"], products)
    assert len(everything) == 154
    with pytest.raises(ConfigError, match="--shard"):
        plan_connections(["all:coin-m", "all:usd-m", "all:spot"], products)
    plans = [plan_connections(["all:coin-m", "all:usd-m", "all:spot"], products, (i, 2))
             for i in range(2)]
    recorded = [s for plan in plans for group in plan for s in group]
    assert sorted(recorded) == everything
    assert all(len(g) <= MAX_SUBSCRIPTIONS for plan in plans for g in plan)


def test_two_channels_per_symbol_halve_the_symbols_of_a_connection() -> None:
    _, products = _emulator_products(60)
    symbols = expand_symbols(["all:coin-m", "all:usd-m", "all:spot"], products)[:44]
    plan = plan_connections(symbols, products, channels=2)  # trades and book
    assert [len(g) for g in plan] == [9, 9, 9, 9, 8]  # 5 connections of <= 10 symbols
    assert sorted(s for g in plan for s in g) == sorted(symbols)
    with pytest.raises(ConfigError, match="5 connections × 10 subscriptions"):
        plan_connections(expand_symbols(["all:coin-m", "all:usd-m", "all:spot"], products)[:51],
                         products, channels=2)


def test_an_empty_shard_is_an_error() -> None:
    _, products = _emulator_products(0)
    other = (shard_of("BTCUSD", 8) + 1) % 8
    assert plan_connections(["BTCUSD"], products, (shard_of("BTCUSD", 8), 8)) == [["BTCUSD"]]
    with pytest.raises(ConfigError, match=rf"feed.shard '{other}/8': this shard gets no symbol"):
        plan_connections(["BTCUSD"], products, (other, 8))


@pytest.mark.parametrize(
    ("value", "problem"),
    [("2/2", "0 <= i < n"), ("-1/2", "must be i/n"), ("1", "must be i/n"), ("a/b", "i/n")],
)
def test_bad_shard_setting_is_named(value: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=rf"invalid feed.shard '{value}': .*{problem}"):
        load_settings(feed={"shard": value})


def test_shard_and_connections_settings() -> None:
    feed = load_settings(feed={"shard": " 1/3 ", "symbols": "all:spot,BTCUSD"}).feed
    assert feed.shard == (1, 3) and feed.symbols == ("all:spot", "BTCUSD")
    assert feed.connections == MAX_CONNECTIONS
    with pytest.raises(ConfigError, match=r"feed\.connections 6"):
        load_settings(feed={"connections": 6})
