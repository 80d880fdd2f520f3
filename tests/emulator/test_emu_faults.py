"""Every fault kind has an observable effect on a raw client."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from ticklake.emulator import Emulator, EmulatorConfig, FaultKind

CFG = EmulatorConfig(symbols=("BTCUSD", "BTCUSDT"), rate=300, batch_ms=10, history=50,
                     snapshot_size=20)


async def subscribed(kit: Any, emu: Emulator, symbol: str = "BTCUSD") -> Any:
    raw = await kit.Raw.open(emu.url)
    method = "trade_p.subscribe" if symbol == "BTCUSDT" else "trade.subscribe"
    await raw.request(method, [symbol])
    await raw.wait_data(symbol, 3)
    return raw


def is_valid_data(frame: str) -> bool:
    """A well-formed trade message or reply, as the reference defines them."""
    try:
        msg = json.loads(frame)
    except ValueError:
        return False
    if not isinstance(msg, dict):
        return False
    if "id" in msg:
        return isinstance(msg["id"], int) and set(msg) == {"error", "id", "result"}
    key = "trades_p" if "trades_p" in msg else "trades"
    rows = msg.get(key)
    if msg.get("type") not in ("snapshot", "incremental") or not isinstance(rows, list):
        return False
    for row in rows:
        if not (isinstance(row, list) and len(row) == 4 and isinstance(row[0], int)):
            return False
        kind = str if key == "trades_p" else int
        if not (isinstance(row[2], kind) and isinstance(row[3], kind)):
            return False
    return True


@pytest.mark.parametrize("kind", ["close", "server_drop"])
def test_abrupt_close(kit: Any, kind: str) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await subscribed(kit, emu)
        other = await subscribed(kit, emu)
        assert emu.inject(kind, target="1") == 1
        assert await raw.wait_closed() == 1006
        assert not other.closed
        assert emu.state()["faults_injected"][kind] == 1
        await other.close()

    kit.run(CFG, scenario)


def test_stall_silences_everything_then_recovers(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await subscribed(kit, emu)
        assert emu.inject(FaultKind.STALL, "all", seconds=1.0) == 1
        t0 = time.monotonic()
        n = len(raw.frames)
        ignored = await raw.request("server.ping")  # ignored: never answered
        proto = await raw.ws.ping()  # its pong frame is swallowed too
        await kit.eventually(lambda: not emu.state()["connections"][0]["stalled"], what="end")
        assert not proto.done()
        await raw.wait_data("BTCUSD", len(raw.data("BTCUSD")) + 3)  # data flows again
        late = [t for t in raw.times[n:] if t > t0 + 0.05]  # earlier ones were in flight
        assert late and min(late) >= t0 + 0.9, "nothing sent while stalled"
        await asyncio.wait_for(await raw.ws.ping(), 5)  # protocol pongs again
        assert proto.done()  # a later pong acknowledges earlier pings
        assert (await raw.reply(await raw.request("server.ping")))["result"] == "pong"
        assert raw.replies(ignored) == []
        assert not raw.closed, "the heartbeat watchdog sleeps during a stall"
        await raw.close()

    kit.run(EmulatorConfig(rate=300, batch_ms=10, heartbeat_timeout=0.5), scenario)


def test_stall_without_seconds_lasts_until_the_client_leaves(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await subscribed(kit, emu)
        emu.inject("stall")
        n = len(raw.frames)
        await kit.eventually(lambda: emu.ticks > 30, what="ticks")
        assert len(raw.frames) == n
        raw.ws.transport.abort()
        await kit.eventually(lambda: emu.state()["connections"] == [], what="server noticed")

    kit.run(CFG, scenario)


def test_pong_delay_and_pong_drop_keep_data_flowing(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await subscribed(kit, emu)
        emu.inject("pong_delay", seconds=0.5, count=1)
        t0 = time.monotonic()
        slow = await raw.request("server.ping")
        n_data = len(raw.data("BTCUSD"))
        await raw.reply(slow)
        assert time.monotonic() - t0 >= 0.45
        assert len(raw.data("BTCUSD")) > n_data + 3, "data kept flowing meanwhile"
        t1 = time.monotonic()
        await raw.reply(await raw.request("server.ping"))
        assert time.monotonic() - t1 < 0.4, "only the next `count` pings are delayed"
        emu.inject("pong_drop", count=2)
        dropped = [await raw.request("server.ping"), await raw.request("server.ping")]
        await raw.reply(await raw.request("server.ping"))  # replies are in order
        assert all(raw.replies(rid) == [] for rid in dropped)
        await raw.wait_data("BTCUSD", len(raw.data("BTCUSD")) + 2)
        await raw.close()

    kit.run(CFG, scenario)


def test_garbage_frames_then_data_continues(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await subscribed(kit, emu, "BTCUSDT")
        assert all(is_valid_data(f) for f in raw.frames)
        emu.inject("garbage", count=8)
        await raw.wait_data("BTCUSDT", len(raw.data("BTCUSDT")) + 3)
        assert sum(not is_valid_data(f) for f in raw.frames) == 8

    kit.run(CFG, scenario)


def test_error_reply_on_target_and_next_connection(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        assert emu.inject("error_reply", target="1") == 1
        first = await raw.request("trade.subscribe", ["BTCUSD"])
        assert (await raw.reply(first))["error"]["code"] == 6001
        second = await raw.request("trade.subscribe", ["BTCUSD"])
        assert (await raw.reply(second))["result"] == {"status": "success"}
        assert emu.inject("error_reply", target="next") == 1
        fresh = await kit.Raw.open(emu.url)
        rid = await fresh.request("trade.subscribe", ["BTCUSD"])
        assert (await fresh.reply(rid))["error"]["code"] == 6001
        await raw.wait_data("BTCUSD", 3)
        assert fresh.data() == []
        await raw.close()
        await fresh.close()

    kit.run(CFG, scenario)


def test_duplicate_resends_last_data_message(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await subscribed(kit, emu)
        n = len(raw.frames)
        emu.inject("duplicate", count=2)

        def tripled() -> bool:
            # The last data message sent when the fault fired, twice more. Another one may
            # have come between reading n and the injection: look from n - 1 on.
            frames = raw.frames[n - 1:]
            return any(a == b == c for a, b, c in zip(frames, frames[1:], frames[2:],
                                                      strict=False))

        await kit.eventually(tripled)
        # armed before any data: the first data message (the snapshot) is duplicated
        emu.inject("duplicate", target="next")
        fresh = await kit.Raw.open(emu.url)
        await fresh.request("trade.subscribe", ["BTCUSD"])
        snaps = await fresh.wait_data("BTCUSD", 2, kind="snapshot")
        assert snaps[0] == snaps[1] and fresh.frames[1] == fresh.frames[2]
        await raw.close()
        await fresh.close()

    kit.run(CFG, scenario)


def test_refuse_aborts_and_answers_503_for_a_while(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await subscribed(kit, emu)
        assert emu.inject("refuse", seconds=1.0) == 1
        assert await raw.wait_closed() == 1006
        with pytest.raises(InvalidStatus) as info:
            await kit.Raw.open(emu.url)
        assert info.value.response.status_code == 503
        t0 = time.monotonic()
        while True:
            try:
                back = await kit.Raw.open(emu.url)
                break
            except InvalidStatus:
                await kit.eventually(lambda: not emu.state()["refusing"], what="refusal ends")
        assert time.monotonic() - t0 >= 0.5
        await back.close()

    kit.run(CFG, scenario)


def test_sequence_jump(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await subscribed(kit, emu)
        before = raw.data("BTCUSD")[-1]["sequence"]
        n = len(raw.data("BTCUSD"))
        assert emu.inject("sequence_jump", target="BTCUSD") == 1
        msgs = await raw.wait_data("BTCUSD", n + 1)
        assert msgs[n]["sequence"] > before + 1_000_000
        assert emu.inject("sequence_jump") == 2  # all traded symbols

    kit.run(CFG, scenario)


def test_next_close_fires_after_first_data_and_random_hits_one(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        old = await subscribed(kit, emu)
        assert emu.inject("close", target="next") == 1
        new = await kit.Raw.open(emu.url)
        rid = await new.request("trade.subscribe", ["BTCUSD"])
        assert await new.wait_closed() == 1006
        assert new.replies(rid) and [m["type"] for m in new.data()] == ["snapshot"]
        assert not old.closed
        third = await subscribed(kit, emu)
        assert emu.inject("close", target="random") == 1
        await kit.eventually(lambda: old.closed or third.closed, what="one random close")
        await kit.eventually(lambda: len(emu.state()["connections"]) == 1)
        assert old.closed != third.closed

    kit.run(CFG, scenario)


def test_scheduled_faults(kit: Any) -> None:
    async def scenario(emu: Emulator) -> None:
        raw = await kit.Raw.open(emu.url)
        assert await raw.wait_closed() == 1006
        await kit.eventually(lambda: emu.state()["faults_injected"]["duplicate"] >= 2)
        assert emu.state()["faults_injected"]["close"] == 1

    kit.run(EmulatorConfig(fault_schedule=((0.2, "close"),), fault_every=0.1,
                           fault_kinds=("duplicate",)), scenario)
