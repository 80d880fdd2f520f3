"""The replay on a real socket (127.0.0.1, a free port): the protocol's replies, the snapshot a
subscription starts with, pacing, backpressure, and a connection kept after the end."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from ticklake.emulator.replay import MAX_SPEED, Replay, ReplayConfig

from ..support import scaled, wait_until
from .helpers import T0, Archived, book, kline, lake_of, run, tick, ticker, trades

MS = 1_000_000


def _archive(count: int, spacing_ns: int = 10 * MS, fills: int = 1) -> Archived:
    """BTCUSD: a book, then ``count`` messages of ``fills`` trades ``spacing_ns`` apart."""
    archived = Archived()
    archived.control()
    archived.add(trades("BTCUSD", 1, [], "snapshot"))
    archived.add(book("BTCUSD", 2, T0, bids=[[899_990_000, 5]], asks=[[900_010_000, 7]],
                      kind="snapshot"))
    for i in range(count):
        archived.add(trades("BTCUSD", 10 + i, [[T0 + (i + 1) * spacing_ns, "Buy",
                                                900_000_000 + i, q + 1] for q in range(fills)]),
                     after_ns=spacing_ns)
    archived.add(ticker("BTCUSD", T0 + (count + 1) * spacing_ns, 900_000_000))
    return archived


@asynccontextmanager
async def _replay(root: Path, **options: Any) -> AsyncIterator[Replay]:
    options.setdefault("start_delay", 0.05)
    async with Replay(ReplayConfig(lake=str(root), **options)) as replay:
        yield replay


class _Client:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 1

    async def ask(self, method: str, *params: Any) -> int:
        rid = self.next_id
        self.next_id += 1
        await self.ws.send(json.dumps({"id": rid, "method": method, "params": list(params)}))
        return rid

    async def recv(self) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), scaled(10)))  # type: ignore[no-any-return]


@asynccontextmanager
async def _client(replay: Replay) -> AsyncIterator[_Client]:
    async with connect(replay.url, ping_interval=None) as ws:
        yield _Client(ws)


@run
async def test_requests_are_answered_as_the_exchange_answers_them(tmp_path: Path) -> None:
    async with _replay(lake_of(tmp_path, _archive(3))) as replay, _client(replay) as c:
        expected = {
            await c.ask("server.ping"): {"error": None, "result": "pong"},
            await c.ask("trade.subscribe", "ETHUSD"): {"code": 6001},  # not in the archive
            await c.ask("trade.subscribe", "BTCUSDT"): {"code": 6001},  # trade_p's symbol
            await c.ask("kline.subscribe", "BTCUSD", 61): {"code": 6001},
            await c.ask("tick.subscribe"): {"code": 6001},
            await c.ask("orderbook.unsubscribe", "BTCUSD"): {"error": None},  # a no-op (§6.1)
            await c.ask("user.auth", "API", "k", "s", 1): {"code": 6001},
            await c.ask("wat.subscribe", "BTCUSD"): {"code": 6002},
        }
        await c.ws.send("not json")
        for _ in range(len(expected) + 1):
            reply = await c.recv()
            want = expected.pop(reply["id"], {"code": 6001}) if reply["id"] is not None \
                else {"code": 6001}
            if "code" in want:
                assert reply["error"]["code"] == want["code"], reply
                assert reply["result"] is None
            else:
                assert reply == {"error": None, "id": reply["id"],
                                 "result": want.get("result", {"status": "success"})}
        assert not expected


@run
async def test_the_products_payload_is_served_on_the_same_port(tmp_path: Path) -> None:
    async with _replay(lake_of(tmp_path, _archive(1))) as replay:
        base = replay.url.replace("ws://", "http://").rstrip("/")
        for path in ("/public/products", "/exchange/public/cfg/v2/products"):
            body = await asyncio.to_thread(
                lambda p=path: urllib.request.urlopen(base + p, timeout=10).read())
            data = json.loads(body)["data"]
            assert [r["symbol"] for r in data["products"]] == ["BTCUSD", "sBTCUSDT"]
            assert [r["symbol"] for r in data["perpProductsV2"]] == ["BTCUSDT"]


@run
async def test_a_late_subscription_starts_with_the_archive_at_the_position(
        tmp_path: Path) -> None:
    """Trades subscribed first; the book and the ticker once every trade was served."""
    async with _replay(lake_of(tmp_path, _archive(250)), speed=MAX_SPEED) as replay, \
            _client(replay) as c:
        await c.ask("trade.subscribe", "BTCUSD")
        assert (await c.recv())["result"] == {"status": "success"}
        assert (await c.recv())["trades"] == []  # nothing before the archive's start
        rows = []
        while len(rows) < 250:
            rows += (await c.recv())["trades"]
        await wait_until(replay.finished.is_set, 10, "the end of the archive")
        await c.ask("orderbook.subscribe", "BTCUSD")
        await c.ask("market24h.subscribe")
        await c.ask("trade.subscribe", "BTCUSD")
        got = [await c.recv() for _ in range(6)]
        assert got[1] == {"book": {"asks": [[900_010_000, 7]], "bids": [[899_990_000, 5]]},
                          "depth": 30, "sequence": 2, "symbol": "BTCUSD", "timestamp": T0,
                          "type": "snapshot"}
        assert got[3]["market24h"]["symbol"] == "BTCUSD"
        assert got[5]["type"] == "snapshot"
        assert got[5]["trades"] == rows[50:][::-1]  # the newest 200, newest first
        await c.ask("server.ping")  # after the end: still answered
        assert (await c.recv())["result"] == "pong"


@run
async def test_tickers_ticks_and_klines_follow_their_subscriptions(tmp_path: Path) -> None:
    archived = Archived()
    archived.control()
    minute = T0 // 1_000_000_000
    for i in range(3):
        ts = T0 + i * 100 * MS
        archived.add(book("BTCUSD", 10 * i + 1, ts, bids=[[1, i + 1]],
                          kind="incremental" if i else "snapshot"))
        archived.add(ticker("BTCUSD", ts, 900_000_000 + i))
        archived.add(tick(".BTC", ts, 900_000_000 + i))
        archived.add(kline("BTCUSD", 10 * i + 2, [[minute, 60, 1, 1, 1 + i, 1, 1 + i, i, i]]))
    root = lake_of(tmp_path, archived)
    async with _replay(root, speed=MAX_SPEED) as replay, _client(replay) as c:
        await c.ask("market24h.subscribe")
        await c.ask("tick.subscribe", ".BTC")
        await c.ask("kline.subscribe", "BTCUSD", 60)
        got = [await c.recv() for _ in range(4 + 9)]  # 3 acks, a kline snapshot, 9 frames
        assert [m.get("result") for m in got[:2]] == [{"status": "success"}] * 2
        assert got[3] == {"kline": [], "sequence": 0, "symbol": "BTCUSD", "type": "snapshot"}
        data = got[4:]
        assert [m["market24h"]["close"] for m in data if "market24h" in m] == [
            900_000_000, 900_000_001, 900_000_002]
        assert [m["tick"]["last"] for m in data if "tick" in m] == [
            900_000_000, 900_000_001, 900_000_002]
        assert [m["kline"][0][4] for m in data if "kline" in m] == [1, 2, 3]
        await wait_until(replay.finished.is_set, 10, "the end of the archive")
        await c.ask("kline.subscribe", "BTCUSD", 60)  # again: the bars as of the end
        await c.ask("tick.unsubscribe")
        got = [await c.recv() for _ in range(3)]
        assert got[1]["type"] == "snapshot"
        assert got[1]["kline"] == [[minute, 60, 1, 1, 3, 1, 3, 2, 2]]
        assert got[2]["result"] == {"status": "success"}


@run
async def test_speed_divides_the_archive_s_spacing(tmp_path: Path) -> None:
    count, spacing = 20, 40 * MS  # 0.8 s of archive
    async with _replay(lake_of(tmp_path, _archive(count, spacing)), speed=4.0) as replay, \
            _client(replay) as c:
        await c.ask("trade.subscribe", "BTCUSD")
        await c.recv(), await c.recv()
        arrivals = []
        while len(arrivals) < count:
            await c.recv()
            arrivals.append(time.monotonic())
        elapsed = arrivals[-1] - arrivals[0]  # the archive's 19 x 40 ms, at 4x: 0.19 s
        assert 0.9 * 0.19 <= elapsed <= 0.19 + scaled(0.3), elapsed


@run
async def test_at_max_speed_a_client_that_does_not_read_holds_the_replay(
        tmp_path: Path) -> None:
    """Backpressure, not a growing buffer: the player waits for the client's queue."""
    count = 2_000  # of 60 trades each, 5 MB: more than the sockets' buffers hold
    root = lake_of(tmp_path, _archive(count, MS, fills=60))
    async with _replay(root, speed=MAX_SPEED, queue_frames=50) as replay:
        sock = socket.socket()  # a small receive buffer (no autotuning to 32 MB)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", replay.port))
        # No compression: these repetitive frames would shrink fifty times.
        async with connect(replay.url, sock=sock, ping_interval=None, max_queue=4,
                           compression=None) as ws:
            await ws.send(json.dumps({"id": 1, "method": "trade.subscribe",
                                      "params": ["BTCUSD"]}))
            # The client's socket and its library's queue fill; then the replay's queue does.
            await wait_until(lambda: not replay._room.is_set(), 20, "the replay to wait")
            [client] = replay.clients.values()
            assert len(client.queue) <= 50 + 1
            assert not replay.finished.is_set()
            frames = 0
            while frames < count + 2:
                json.loads(await asyncio.wait_for(ws.recv(), scaled(10)))
                frames += 1
        await wait_until(replay.finished.is_set, 10, "the end of the archive")


@run
async def test_a_paced_replay_drops_a_client_too_far_behind_and_plays_on(
        tmp_path: Path) -> None:
    """One clock for every connection: it cannot wait for one client, nor buffer for it
    without bound."""
    root = lake_of(tmp_path, _archive(2_000, MS, fills=60))
    async with _replay(root, speed=1_000.0, queue_frames=10, slow_client_frames=100) as replay:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", replay.port))
        async with connect(replay.url, sock=sock, ping_interval=None, max_queue=4,
                           compression=None) as ws:
            await ws.send(json.dumps({"id": 1, "method": "trade.subscribe",
                                      "params": ["BTCUSD"]}))
            await wait_until(lambda: not replay.clients, 20, "the slow client dropped")
        await wait_until(replay.finished.is_set, 20, "the end of the archive")


@run
async def test_too_many_subscriptions_close_the_connection(tmp_path: Path) -> None:
    async with _replay(lake_of(tmp_path, _archive(1)), max_subscriptions=2) as replay, \
            _client(replay) as c:
        await c.ask("trade.subscribe", "BTCUSD")
        await c.ask("orderbook.subscribe", "BTCUSD")
        await c.ask("kline.subscribe", "BTCUSD", 60)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await c.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


@run
async def test_a_silent_client_is_dropped_after_the_heartbeat_timeout(tmp_path: Path) -> None:
    async with _replay(lake_of(tmp_path, _archive(1)), heartbeat_timeout=0.3) as replay, \
            _client(replay) as c:
        await c.ask("trade.subscribe", "BTCUSD")
        with pytest.raises(ConnectionClosed):
            while True:
                await c.recv()
        await wait_until(lambda: not replay.clients, 5, "the connection gone")
