"""The live socket against a real recording of the emulator: seeding from the lake below the
seam plus the pushed trades counts every trade exactly once; anomalies and status reach it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import websockets

from ticklake.model import Anomaly

from ...support import scaled
from .client import request, sql
from .stack import LiveStack

MS = 1_000_000


def anomaly(ts_ms: float) -> Anomaly:
    ts = int(ts_ms * MS)
    return Anomaly(
        anomaly_id="BTCUSD-test-1", phase="start", exchange="phemex", symbol="BTCUSD",
        kind="flash", ts_start_ns=ts - 2_000 * MS, ts_detect_ns=ts, ts_end_ns=None,
        direction="down", horizon_s=2.0, move_bp=-55.5, move_price=-500.0,
        price_before=90_500.0, price_after=90_000.0, score=8.25, trades=42, intensity_z=3.5,
        imbalance=-0.9, largest_qty=1_000.0, rcf_score=None, detector_version="test",
        params_hash="p",
    )


def test_seed_below_the_seam_plus_pushed_trades_is_every_trade_once(tmp_path: Path) -> None:
    stack = LiveStack(tmp_path, rate=80.0, buffer_seconds=0.3).start()
    try:
        asyncio.run(_scenario(stack))
    finally:
        stack.stop()


class Socket:
    """The live socket's messages, read until a condition holds (scaled deadline)."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self.trades: list[list[Any]] = []

    async def read_for(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            try:
                raw = await asyncio.wait_for(self.ws.recv(), 0.2)
            except TimeoutError:
                return
            self.messages.append(json.loads(raw))
            self.trades.extend(self.messages[-1]["trades"])

    async def until(self, condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + scaled(timeout)
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await self.read_for(0.5)


def seed_and_total(base: str, seam: int) -> tuple[int, Decimal, int, Decimal]:
    """Trades (count, volume) below the seam by the candles API, and in all of SQL."""
    now = time.time_ns() // MS
    seed = request(f"{base}/api/candles?symbol=BTCUSD&since={now - 3_600_000}"
                   f"&until={now + 3_600_000}&buckets=1000&before_offset={seam}").json()
    total = sql(base, "SELECT count(*), sum(qty) FROM trades WHERE symbol = 'BTCUSD'")
    assert total.status == 200, total.body
    n, volume = total.json()["rows"][0]
    seed_volume = Decimal(repr(sum(seed["bv"]) + sum(seed["sv"])))
    return sum(seed["n"]), seed_volume, n, Decimal(volume)


async def _scenario(stack: LiveStack) -> None:
    recording, emulator = stack.recording, stack.emulator
    assert recording is not None and emulator is not None
    deadline = time.monotonic() + scaled(30)
    # Some history for the seed to cover: trades, and a first publish (the writer process is
    # slow to spawn on a loaded machine), so that the seam of the hello is above them.
    lake = recording.lake
    assert lake is not None
    while recording.status().totals.trades < 50 or lake.committed_offset == 0:
        assert time.monotonic() < deadline, "the recording got no trades or no publish"
        await asyncio.sleep(0.02)
    base = stack.url.rstrip("/")
    async with websockets.connect(base.replace("http://", "ws://") + "/api/live",
                                  open_timeout=scaled(10)) as ws:
        hello = json.loads(await ws.recv())
        assert (hello["type"], hello["recording"], hello["symbols"]) == ("hello", True, ["BTCUSD"])
        seam = hello["seam"]
        socket = Socket(ws)
        await socket.until(lambda: len(socket.trades) >= 150, "150 pushed trades")
        status = socket.messages[-1]["status"]
        assert status["state"] == "streaming" and status["trades"] >= len(socket.trades)
        assert status["spool_backlog"] is not None and status["last_frame_age_s"] < scaled(5)

        stack.call(recording.anomalies.publish, anomaly(socket.trades[-1][1]))
        stack.call(emulator.halt)
        counts: list[tuple[int, Decimal, int, Decimal]] = []

        def settled() -> bool:
            counts.append(seed_and_total(base, seam))
            return counts[-1][0] + len(socket.trades) == counts[-1][2]

        await socket.until(settled, "seed + pushed == all trades")
        seed_n, seed_volume, _, total_volume = counts[-1]
        assert seed_n > 0, "the lake contributed too"
        pushed_volume = sum((Decimal(t[3]) for t in socket.trades), Decimal(0))
        assert abs(seed_volume + pushed_volume - total_volume) < Decimal("1e-6")

        def anomalies() -> list[dict[str, Any]]:
            return [a for m in socket.messages for a in m["anomalies"]]

        await socket.until(lambda: bool(anomalies()), "the anomaly on the socket", 10)
        assert [a["anomaly_id"] for a in anomalies()] == ["BTCUSD-test-1"]
        assert anomalies()[0]["move_bp"] == -55.5 and anomalies()[0]["phase"] == "start"

    # A page opening later gets the episode in its hello, once, in its latest phase (the
    # detector may not have written it to the lake yet).
    ended = anomaly(socket.trades[-1][1])
    ended = Anomaly(**{**msgspec.structs.asdict(ended), "phase": "end",
                       "ts_end_ns": ended.ts_detect_ns + 1_000 * MS})
    stack.call(recording.anomalies.publish, ended)
    async with websockets.connect(base.replace("http://", "ws://") + "/api/live",
                                  open_timeout=scaled(10)) as ws:
        hello = json.loads(await ws.recv())
    assert hello["anomalies"] == [msgspec.to_builtins(ended)]
