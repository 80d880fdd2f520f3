"""HTTP on the WebSocket port: REST products, upgrade paths, control endpoint; heartbeats."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from ticklake.emulator import Emulator, EmulatorConfig
from ticklake.emulator.products import products_payload


def http_base(emu: Emulator) -> str:
    return f"http://127.0.0.1:{emu.port}"


def test_rest_products_on_both_paths(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        for path in ("/public/products", "/exchange/public/cfg/v2/products"):
            status, body = await kit.aget(http_base(emu) + path)
            assert status == 200
            assert json.loads(body) == products_payload()
        status, _ = await kit.aget(http_base(emu) + "/public/nothing")
        assert status == 404

    kit.run(EmulatorConfig(), scenario)


def test_upgrade_paths_410_404(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        base = f"ws://127.0.0.1:{emu.port}"
        for path, code in (("/ws", 410), ("/other", 404), ("/?x=1", 404)):
            with pytest.raises(InvalidStatus) as info:
                await kit.Raw.open(base + path)
            assert info.value.response.status_code == code, path
        raw = await kit.Raw.open(base + "/")  # the current production path still works
        rid = await raw.request("server.ping")
        assert (await raw.reply(rid))["result"] == "pong"
        await raw.close()

    kit.run(EmulatorConfig(legacy_410=True), scenario)


def test_ws_path_works_without_legacy_410(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(f"ws://127.0.0.1:{emu.port}/ws")
        rid = await raw.request("server.ping")
        assert (await raw.reply(rid))["result"] == "pong"
        assert emu.state()["connections"][0]["path"] == "/ws"
        await raw.close()

    kit.run(EmulatorConfig(), scenario)


def test_control_endpoint(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        base = http_base(emu) + "/control/"
        raw = await kit.Raw.open(emu.url)
        await raw.request("trade.subscribe", ["BTCUSD"])
        await raw.wait_data("BTCUSD", 2)
        status, body = await kit.aget(base + "state")
        state = json.loads(body)
        assert status == 200 and state["connections_total"] == 1
        assert state["connections"][0]["subscriptions"] == ["trade:BTCUSD"]
        assert state["trades_produced"]["BTCUSD"] > 0
        for query, error in (
            ("fault?kind=x", "unknown fault kind 'x'"),
            ("fault?kind=close&count=zero", "invalid count 'zero'"),
            ("fault?kind=close&count=0", "count must be >= 1, got 0"),
            ("fault?kind=stall&seconds=-1", "seconds must be a finite number >= 0, got -1.0"),
            ("fault?kind=close&target=a-b", "invalid fault target 'a-b'"),
            ("fault?kind=close&target=BTCUSD", "invalid fault target 'BTCUSD'"),
            ("fault?target=all", "missing parameter 'kind'"),
            ("fault?kind=close&bogus=1", "unknown parameter 'bogus'"),
        ):
            status, body = await kit.aget(base + query)
            assert (status, json.loads(body)) == (400, {"error": error}), query
        assert (await kit.aget(base + "nope"))[0] == 404
        # halt: the market freezes while the server keeps ticking and answering pings
        assert json.loads((await kit.aget(base + "halt"))[1]) == {"ok": True}
        frozen, ticks = emu.trades_produced, emu.ticks
        await kit.eventually(lambda: emu.ticks > ticks + 10, what="ticks while halted")
        assert emu.trades_produced == frozen and emu.state()["halted"]
        rid = await raw.request("server.ping")
        await raw.reply(rid)
        assert json.loads((await kit.aget(base + "resume"))[1]) == {"ok": True}
        await kit.eventually(lambda: emu.trades_produced > frozen, what="trading resumed")
        status, body = await kit.aget(base + "fault?kind=close&target=all")
        assert (status, json.loads(body)) == (200, {"ok": True, "affected": 1})
        assert await raw.wait_closed() == 1006
        state = json.loads((await kit.aget(base + "state"))[1])
        assert state["faults_injected"]["close"] == 1 and state["connections"] == []

    kit.run(EmulatorConfig(rate=300, batch_ms=10), scenario)


def hb_config(**kw: Any) -> EmulatorConfig:
    return EmulatorConfig(heartbeat_timeout=1.0, batch_ms=10, rate=100, **kw)


def test_server_drops_silent_connection_abruptly(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        t0 = time.monotonic()
        await raw.request("trade.subscribe", ["BTCUSD"])  # not a heartbeat by default
        assert await raw.wait_closed(timeout=5) == 1006
        assert time.monotonic() - t0 >= 0.9
        assert emu.state()["heartbeat_drops"] == 1

    kit.run(hb_config(), scenario)


async def keep_busy(raw: Any, seconds: float, action: Any) -> None:
    """Call ``action`` every 0.2 s for ``seconds`` (pacing, not waiting on a condition)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await action()
        await asyncio.sleep(0.2)
        assert not raw.closed


def test_server_ping_keeps_connection_alive(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)

        async def ping() -> None:
            await raw.reply(await raw.request("server.ping"))

        await keep_busy(raw, 2.5, ping)
        assert await raw.wait_closed(timeout=5) == 1006  # stops pinging → dropped

    kit.run(hb_config(), scenario)


def test_protocol_ping_keeps_connection_alive(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)

        async def ping() -> None:
            await asyncio.wait_for(await raw.ws.ping(), 5)  # answered by a pong frame

        await keep_busy(raw, 2.5, ping)
        assert await raw.wait_closed(timeout=5) == 1006

    kit.run(hb_config(), scenario)


@pytest.mark.parametrize("keeps_alive", [False, True])
def test_other_messages_keep_alive_only_when_switched_on(kit: Any, keeps_alive: bool) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)

        async def subscribe() -> None:
            await raw.reply(await raw.request("trade.subscribe", ["BTCUSD"]))

        if keeps_alive:
            await keep_busy(raw, 2.5, subscribe)
        else:
            with pytest.raises(AssertionError):
                await keep_busy(raw, 2.5, subscribe)
            assert raw.close_code == 1006

    kit.run(hb_config(any_message_keeps_alive=keeps_alive), scenario)
