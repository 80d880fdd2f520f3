"""The wire protocol, checked with a raw client against shared/docs/phemex-protocol.md."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from ticklake.emulator import Emulator, EmulatorConfig

ALL = ("BTCUSD", "ETHUSD", "BTCUSDT", "sBTCUSDT")
CFG = EmulatorConfig(symbols=ALL, rate=300.0, batch_ms=10.0, history=300, snapshot_size=50)
DECIMAL = re.compile(r"^(0|[1-9]\d*)(\.\d*[1-9])?$")


def rows(msg: dict[str, Any]) -> list[list[Any]]:
    return msg.get("trades", msg.get("trades_p", []))  # type: ignore[no-any-return]


def after(raw: Any, index: int, symbol: str) -> list[dict[str, Any]]:
    """Data messages for ``symbol`` received after frame ``index``."""
    out = []
    for m in raw.messages()[index + 1 :]:
        if isinstance(m, dict) and m.get("symbol") == symbol and "type" in m:
            out.append(m)
    return out


async def witness(kit: Any, raw: Any, index: int, symbol: str, n: int = 3) -> None:
    """Wait until ``n`` incrementals of ``symbol`` arrived after frame ``index``
    (same connection ⇒ anything sent before them has arrived too)."""
    await kit.eventually(
        lambda: sum(m["type"] == "incremental" for m in after(raw, index, symbol)) >= n,
        what=f"{n} witness incrementals of {symbol}",
    )


def test_ack_pong_and_id_echo(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        big = 2**62 + 12345
        await raw.request("trade.subscribe", ["BTCUSD"], rid=big)
        await raw.request("trade.subscribe", ["ETHUSD"], rid=1)
        await raw.request("trade.subscribe", ["sBTCUSDT"], rid=1)  # repeated id
        await raw.request("server.ping", [], rid=1)
        await raw.request("server.ping", [], rid=-5)
        assert await raw.reply(big) == {"error": None, "id": big, "result": {"status": "success"}}
        assert f'"id":{big}' in raw.frames[0]
        await kit.eventually(lambda: len(raw.replies(1)) == 3, what="three replies for id 1")
        assert [r["result"] for r in raw.replies(1)] == [
            {"status": "success"}, {"status": "success"}, "pong"]
        assert await raw.reply(-5) == {"error": None, "id": -5, "result": "pong"}
        # the ack precedes the snapshot of that subscribe
        msgs = raw.messages()
        first_btc = next(i for i, m in enumerate(msgs) if m.get("symbol") == "BTCUSD")
        assert raw.index_of_reply(big) < first_btc and msgs[first_btc]["type"] == "snapshot"
        await raw.close()

    kit.run(CFG, scenario)


def test_errors_6001_and_unknown_method(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        bad = {
            11: ("trade.subscribe", ["DOGEUSD"]),
            12: ("trade.subscribe", [["BTCUSD"]]),  # nested list (cryptofeed #828)
            13: ("trade.subscribe", ["BTCUSDT"]),  # USDⓈ-M via the COIN-M channel
            14: ("trade_p.subscribe", ["BTCUSD"]),  # COIN-M via the _p channel
            15: ("trade.subscribe", "BTCUSD"),  # params not a list
            16: ("trade.subscribe", []),
            17: ("trade.subscribe", [42]),
            18: ("aop.subscribe", []),  # real channel, not served here
            19: ("trade.unsubscribe", ["DOGEUSD"]),
        }
        for rid, (method, params) in bad.items():
            await raw.send({"id": rid, "method": method, "params": params})
        await raw.send({"id": 20, "method": "no.such.method", "params": []})
        await raw.send({"method": "server.ping", "params": []})  # missing id
        await raw.send({"id": "7", "method": "server.ping", "params": []})  # non-int id
        await raw.send("{not json")
        await raw.ws.send(b'{"id":8,"method":"server.ping","params":[]}')  # binary frame
        await raw.request("trade.subscribe", ["ETHUSD"], rid=99)  # witness
        await raw.reply(99)
        await witness(kit, raw, raw.index_of_reply(99), "ETHUSD")
        err = {"code": 6001, "message": "invalid argument"}
        for rid in bad:
            assert raw.replies(rid) == [{"error": err, "id": rid, "result": None}], rid
        assert raw.replies(20) == [
            {"error": {"code": 6002, "message": "method not found"}, "id": 20, "result": None}]
        assert raw.replies(None) == [{"error": err, "id": None, "result": None}] * 4
        assert raw.replies(8) == []
        assert {m["symbol"] for m in raw.data()} == {"ETHUSD"}, "no data after an error"
        await raw.close()

    kit.run(CFG, scenario)


def test_only_first_symbol_is_honoured(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        rid = await raw.request("trade.subscribe", ["BTCUSD", "ETHUSD"])
        await raw.reply(rid)
        await witness(kit, raw, raw.index_of_reply(rid), "BTCUSD")
        assert {m["symbol"] for m in raw.data()} == {"BTCUSD"}
        assert emu.state()["connections"][0]["subscriptions"] == ["trade:BTCUSD"]
        await raw.close()

    kit.run(CFG, scenario)


def test_snapshot_then_incrementals_and_sequences(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        await raw.request("trade.subscribe", ["BTCUSD"])
        msgs = await raw.wait_data("BTCUSD", 30)
        snap, incs = msgs[0], msgs[1:]
        assert snap["type"] == "snapshot" and all(m["type"] == "incremental" for m in incs)
        assert len(rows(snap)) == 50, "latest snapshot_size trades (history=300)"
        ts = [r[0] for r in rows(snap)]
        assert ts == sorted(ts, reverse=True), "snapshot is newest first"
        inc_rows = [r for m in incs for r in rows(m)]
        inc_ts = [r[0] for r in inc_rows]
        assert inc_ts == sorted(inc_ts), "incrementals in production order"
        assert inc_ts[0] >= ts[0]
        assert all(isinstance(t, int) and t > 2**53 for t in ts + inc_ts)
        seqs = [m["sequence"] for m in msgs]
        assert all(b > a for a, b in itertools.pairwise(seqs)), seqs
        jumps = [b - a - len(rows(m)) for (a, b), m in zip(itertools.pairwise(seqs), incs,
                                                             strict=True)]
        assert any(j > 0 for j in jumps), "sequence jumps inside the trade channel"
        await raw.close()

    kit.run(CFG, scenario)


def test_resubscribe_sends_fresh_overlapping_snapshot(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        await raw.request("trade.subscribe", ["ETHUSD"], rid=1)
        await raw.wait_data("ETHUSD", 4)
        await raw.request("trade.subscribe", ["ETHUSD"], rid=1)
        msgs = await raw.wait_data("ETHUSD", 2, kind="snapshot")
        acks = raw.replies(1)
        assert len(acks) == 2 and all(a["result"] == {"status": "success"} for a in acks)
        data = raw.data("ETHUSD")
        second = data.index(msgs[1])
        seen = {json.dumps(r) for m in data[:second] for r in rows(m)}
        again = [json.dumps(r) for r in rows(msgs[1])]
        assert len(again) == 50 and set(again) <= seen, "snapshot replays trades already sent"
        assert msgs[1]["sequence"] >= data[second - 1]["sequence"]
        assert emu.state()["connections"][0]["subscriptions"] == ["trade:ETHUSD"]
        await raw.close()

    kit.run(CFG, scenario)


def test_unsubscribe_one_then_all(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        for sym in ("BTCUSD", "ETHUSD", "sBTCUSDT"):
            await raw.request("trade.subscribe", [sym])
        await raw.request("trade_p.subscribe", ["BTCUSDT"])
        for sym in ("BTCUSD", "ETHUSD", "sBTCUSDT", "BTCUSDT"):
            await raw.wait_data(sym, 2)
        one = await raw.request("trade.unsubscribe", ["BTCUSD"])
        await raw.reply(one)
        i = raw.index_of_reply(one)
        await witness(kit, raw, i, "ETHUSD")
        assert after(raw, i, "BTCUSD") == []
        other = await raw.request("trade_p.unsubscribe", ["BTCUSD"])  # wrong family → error
        assert (await raw.reply(other))["error"]["code"] == 6001
        alltrade = await raw.request("trade.unsubscribe", [])
        await raw.reply(alltrade)
        j = raw.index_of_reply(alltrade)
        await witness(kit, raw, j, "BTCUSDT")  # the _p channel is untouched
        assert after(raw, j, "ETHUSD") == [] and after(raw, j, "sBTCUSDT") == []
        assert emu.state()["connections"][0]["subscriptions"] == ["trade_p:BTCUSDT"]
        await raw.close()

    kit.run(CFG, scenario)


def test_trades_p_strings_and_extra_keys(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        await raw.request("trade_p.subscribe", ["BTCUSDT"])
        msgs = await raw.wait_data("BTCUSDT", 5)
        for m in msgs:
            assert isinstance(m["dts"], int) and isinstance(m["mts"], int)
            assert m["dts"] >= m["mts"]
            assert "trades" not in m
            for ts, side, price, qty in m["trades_p"]:
                assert isinstance(ts, int) and side in ("Buy", "Sell")
                assert DECIMAL.match(price) and DECIMAL.match(qty), (price, qty)
                assert round(float(price) * 10) == float(price) * 10
                assert 70_000 < float(price) < 110_000
                assert round(float(qty) * 1000) > 0
        for m in msgs[1:]:
            assert m["mts"] >= max(r[0] for r in m["trades_p"])
        await raw.close()

    kit.run(CFG, scenario)


def test_no_extra_keys_when_disabled(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        await raw.request("trade_p.subscribe", ["BTCUSDT"])
        msgs = await raw.wait_data("BTCUSDT", 3)
        assert all(list(m) == ["sequence", "symbol", "type", "trades_p"] for m in msgs)
        await raw.close()

    kit.run(EmulatorConfig(symbols=("BTCUSDT",), rate=300, batch_ms=10, extra_keys=False),
            scenario)


def test_coin_m_and_spot_scaling(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        for sym in ("BTCUSD", "ETHUSD", "sBTCUSDT"):
            await raw.request("trade.subscribe", [sym])
        checks = {  # symbol: (tick in Ep, price scale, lot in qty units, price range)
            "BTCUSD": (1000, 1e4, 1, (70_000, 110_000)),
            "ETHUSD": (500, 1e4, 1, (2_000, 4_000)),
            "sBTCUSDT": (1_000_000, 1e8, 100, (70_000, 110_000)),
        }
        for sym, (tick, scale, lot, (lo, hi)) in checks.items():
            msgs = await raw.wait_data(sym, 3)
            for _, side, price, qty in (r for m in msgs for r in m["trades"]):
                assert isinstance(price, int) and isinstance(qty, int)
                assert side in ("Buy", "Sell")
                assert price % tick == 0 and qty % lot == 0 and qty > 0
                assert lo < price / scale < hi
        await raw.close()

    kit.run(CFG, scenario)


def test_max_trades_per_message_splits_batches(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        await raw.request("trade.subscribe", ["BTCUSD"])
        msgs = await raw.wait_data("BTCUSD", 40)
        assert all(len(rows(m)) <= 2 for m in msgs[1:])
        seqs = [m["sequence"] for m in msgs]
        assert all(b > a for a, b in itertools.pairwise(seqs))
        await raw.close()

    kit.run(EmulatorConfig(rate=800, batch_ms=50, max_trades_per_message=2), scenario)


def test_listed_but_untraded_symbol_gets_empty_snapshot(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        await raw.request("trade.subscribe", ["ETHUSD"])
        rid = await raw.request("trade.subscribe", ["BTCUSD"])
        await raw.reply(rid)
        await witness(kit, raw, raw.index_of_reply(rid), "BTCUSD")
        eth = raw.data("ETHUSD")
        assert len(eth) == 1 and eth[0]["type"] == "snapshot" and eth[0]["trades"] == []
        await raw.close()

    kit.run(EmulatorConfig(rate=300, batch_ms=10), scenario)


def test_subscription_limit_closes_with_1008(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        await raw.request("trade.subscribe", ["BTCUSD"])
        await raw.request("trade.subscribe", ["BTCUSD"])  # same slot: not counted twice
        await raw.request("trade.subscribe", ["ETHUSD"])
        await raw.request("server.ping")
        await kit.eventually(lambda: len(raw.replies(None)) == 0 and len(
            [m for m in raw.messages() if m.get("result") is not None]) == 4, what="4 replies")
        await raw.request("trade.subscribe", ["sBTCUSDT"])
        assert await raw.wait_closed() == 1008
        assert not raw.data("sBTCUSDT")

    kit.run(EmulatorConfig(symbols=ALL, max_subscriptions=2), scenario)


def test_request_rate_and_connection_limits(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        with pytest.raises(InvalidStatus) as info:
            await kit.Raw.open(emu.url)
        assert info.value.response.status_code == 429
        for _ in range(8):
            await raw.request("server.ping")
        assert await raw.wait_closed() == 1008
        again = await kit.Raw.open(emu.url)  # the slot is free again
        await again.close()

    kit.run(EmulatorConfig(max_requests_per_second=5, max_connections=1), scenario)
