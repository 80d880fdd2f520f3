"""Order book channel: snapshot, incrementals, periodic snapshot, params, unsubscribe."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from typing import Any

import pytest

from ticklake.emulator import Emulator, EmulatorConfig

CFG = EmulatorConfig(symbols=("BTCUSD", "BTCUSDT", "sBTCUSDT"), rate=300, batch_ms=10,
                     book_snapshot_interval=0.4)


def book_of(msg: dict[str, Any]) -> dict[str, Any]:
    return msg["book"] if "book" in msg else msg["orderbook_p"]  # type: ignore[no-any-return]


def apply(local: dict[str, dict[Any, Any]], msg: dict[str, Any], depth: int) -> None:
    """What a careful client does: replace on snapshot, upsert/delete, trim to depth."""
    body = book_of(msg)
    if msg["type"] == "snapshot":
        local["asks"], local["bids"] = {}, {}
    for side in ("asks", "bids"):
        for price, qty in body[side]:
            if float(qty) == 0:
                local[side].pop(price, None)
            else:
                local[side][price] = qty
        if depth:
            keep = sorted(local[side], key=float, reverse=side == "bids")[:depth]
            local[side] = {p: local[side][p] for p in keep}


@pytest.mark.parametrize(("params", "depth"), [
    (["BTCUSD"], 30), (["BTCUSD", True], 0), (["BTCUSD", False, 5], 5),
    (["BTCUSDT", False, 10], 10), (["sBTCUSDT", False, 1], 1)])
def test_incrementals_rebuild_the_book_exactly(kit: Any, params: list[Any], depth: int) -> None:
    """A re-subscribe snapshot is taken between batches, so it must equal the book a client
    built from the first snapshot plus every incremental (trimmed to the depth)."""
    symbol = params[0]
    method = "orderbook_p.subscribe" if symbol == "BTCUSDT" else "orderbook.subscribe"

    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        rid = await raw.request(method, params)
        await raw.wait_data(symbol, 40, timeout=10)
        again = await raw.request(method, params)
        await raw.reply(again)
        cut = raw.index_of_reply(again)
        msgs = await raw.wait_data(symbol, 2, kind="snapshot")
        assert raw.index_of_reply(rid) == 0
        data = [m for m in raw.messages()[:cut] if m.get("symbol") == symbol]
        assert data[0]["type"] == "snapshot" and data[0]["depth"] == depth
        assert [m["type"] for m in data[1:]] == ["incremental"] * (len(data) - 1)
        local: dict[str, dict[Any, Any]] = {"asks": {}, "bids": {}}
        for m in data:
            apply(local, m, depth)
        snap = book_of(msgs[1])
        assert local["asks"] == dict(snap["asks"]) and local["bids"] == dict(snap["bids"])
        for m in msgs:
            asks = [float(p) for p, _ in book_of(m)["asks"]]
            bids = [float(p) for p, _ in book_of(m)["bids"]]
            assert asks == sorted(asks) and bids == sorted(bids, reverse=True)
            assert bids[0] < asks[0]
            assert depth == 0 or len(asks) == len(bids) == depth
        seqs = [m["sequence"] for m in data]
        assert all(b > a for a, b in itertools.pairwise(seqs))
        assert msgs[1]["sequence"] >= seqs[-1]
        assert all(isinstance(m["timestamp"], int) and m["timestamp"] > 2**53 for m in data)
        await raw.close()

    kit.run(replace(CFG, book_snapshot_interval=60.0), scenario)


def test_periodic_snapshot(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        await raw.request("orderbook.subscribe", ["BTCUSD"])
        msgs = await raw.wait_data("BTCUSD", 3, kind="snapshot")
        assert len(raw.replies(1001)) == 1, "one ack, several snapshots"
        data = raw.data("BTCUSD")
        assert data.index(msgs[1]) > 5, "incrementals between the snapshots"
        times = [raw.times[raw.frames.index(json.dumps(m, separators=(",", ":")))]
                 for m in msgs[:3]]
        assert times[2] - times[1] >= 0.35
        await raw.close()

    kit.run(CFG, scenario)


def test_wire_types_per_family(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        await raw.request("orderbook.subscribe", ["sBTCUSDT"])
        await raw.request("orderbook_p.subscribe", ["BTCUSDT"])
        spot = await raw.wait_data("sBTCUSDT", 3)
        perp = await raw.wait_data("BTCUSDT", 3)
        for m in spot:
            assert list(m) == ["book", "depth", "sequence", "symbol", "timestamp", "type"]
            for price, qty in m["book"]["asks"] + m["book"]["bids"]:
                assert isinstance(price, int) and price % 1_000_000 == 0
                assert isinstance(qty, int) and qty % 100 == 0
        for m in perp:
            assert list(m) == ["depth", "dts", "mts", "orderbook_p", "sequence", "symbol",
                               "timestamp", "type"]
            for price, qty in m["orderbook_p"]["asks"] + m["orderbook_p"]["bids"]:
                assert isinstance(price, str) and isinstance(qty, str)
        await raw.close()

    kit.run(CFG, scenario)


def test_book_params_errors(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        bad = [("orderbook.subscribe", ["BTCUSD", False, 7]),
               ("orderbook.subscribe", ["BTCUSD", "x"]),
               ("orderbook.subscribe", [["BTCUSD"]]),
               ("orderbook.subscribe", ["BTCUSDT"]),
               ("orderbook_p.subscribe", ["BTCUSD"]),
               ("orderbook.unsubscribe", "BTCUSD")]
        rids = [await raw.request(m, p) for m, p in bad]
        for rid in rids:
            assert (await raw.reply(rid))["error"]["code"] == 6001
        assert raw.data() == []
        await raw.close()

    kit.run(CFG, scenario)


def test_book_unsubscribe_symbol_is_noop_and_empty_drops_all(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        await raw.request("orderbook.subscribe", ["BTCUSD"])
        await raw.request("orderbook.subscribe", ["sBTCUSDT"])
        await raw.request("trade_p.subscribe", ["BTCUSDT"])
        await raw.wait_data("BTCUSD", 2)
        noop = await raw.request("orderbook.unsubscribe", ["BTCUSD"])
        await raw.reply(noop)
        i = raw.index_of_reply(noop)
        await kit.eventually(lambda: len(raw.data("BTCUSD")) > len(
            [m for m in raw.messages()[: i + 1] if m.get("symbol") == "BTCUSD"]) + 2)
        drop = await raw.request("orderbook.unsubscribe", [])
        await raw.reply(drop)
        j = raw.index_of_reply(drop)
        await kit.eventually(lambda: sum(m.get("symbol") == "BTCUSDT" and "trades_p" in m
                                         for m in raw.messages()[j:]) >= 3)
        assert not [m for m in raw.messages()[j:] if "book" in m]
        assert emu.state()["connections"][0]["subscriptions"] == ["trade_p:BTCUSDT"]
        await raw.close()

    kit.run(CFG, scenario)


def test_trade_and_book_share_the_sequence_counter(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        await raw.request("trade.subscribe", ["BTCUSD"])
        await raw.request("orderbook.subscribe", ["BTCUSD"])
        await raw.wait_data("BTCUSD", 40)
        incs = [m for m in raw.data("BTCUSD") if m["type"] == "incremental"]
        assert {"book" in m for m in incs} == {True, False}
        seqs = [m["sequence"] for m in incs]
        assert all(b > a for a, b in itertools.pairwise(seqs)), "one counter, both channels"
        await raw.close()

    kit.run(CFG, scenario)
