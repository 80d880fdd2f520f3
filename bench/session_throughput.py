"""Session throughput against the emulator: trades/s and CPU per 100k trades, vs a bare reader.

Usage: python bench/session_throughput.py [--seconds 10] [--rate 100000] [--per-message 1]

The emulator runs in its own process at full speed; in this process we run, one after the
other over the same stream: (a) a bare ``websockets`` reader that subscribes and only counts
frames — the floor of what Python does here; (b) a bare ``picows`` reader; (c) ticklake's
``PhemexSession`` (decode, de-duplicate, normalize to Trade records, count). Printed as JSON:
raw numbers and the ratios of (c) against (a).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import websockets
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from ticklake.feed.events import Event, TradesReceived
from ticklake.feed.phemex import PhemexProtocol, Subscription, default_products
from ticklake.session import PhemexSession, SessionConfig

SUBSCRIBE = json.dumps({"id": 1, "method": "trade.subscribe", "params": ["BTCUSD"]})
TRADES = re.compile(rb"\[\d{19},")


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def bare_websockets(url: str, seconds: float) -> tuple[int, int]:
    frames = trades = 0
    async with websockets.connect(url, ping_interval=None, compression=None,
                                  max_size=2**24) as ws:
        await ws.send(SUBSCRIBE)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = await ws.recv()
            frames += 1
            trades += message.count("],[") + 1 if "trades" in message else 0  # type: ignore[operator]
    return frames, trades


async def bare_picows(url: str, seconds: float) -> tuple[int, int]:
    counts = [0, 0]

    class Listener(WSListener):  # type: ignore[misc]
        def on_ws_connected(self, transport: WSTransport) -> None:
            transport.send(WSMsgType.TEXT, SUBSCRIBE.encode())

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            payload = frame.get_payload_as_bytes()
            counts[0] += 1
            if b"trades" in payload:
                counts[1] += payload.count(b"],[") + 1

    transport, _ = await ws_connect(Listener, url, websocket_handshake_timeout=30)
    await asyncio.sleep(seconds)
    transport.disconnect()
    await transport.wait_disconnected()
    return counts[0], counts[1]


async def ticklake_session(url: str, seconds: float) -> tuple[int, int]:
    products = default_products()
    trades = [0]

    def on_event(event: Event) -> None:
        if isinstance(event, TradesReceived):
            trades[0] += len(event.trades)

    protocol = PhemexProtocol([Subscription.trades(products.require("BTCUSD"))], products)
    session = PhemexSession(protocol, SessionConfig(url=url), on_event=on_event)
    task = asyncio.create_task(session.run())
    await asyncio.sleep(seconds)
    session.stop()
    await task
    return session.stats.frames, trades[0]


async def measure(name: str, runner: Any, url: str, seconds: float) -> dict[str, float]:
    started_cpu, started = cpu(), time.monotonic()
    frames, trades = await runner(url, seconds)
    used_cpu, elapsed = cpu() - started_cpu, time.monotonic() - started
    return {
        "name": name, "frames": frames, "trades": trades, "seconds": round(elapsed, 2),
        "trades_per_s": round(trades / elapsed), "cpu_s": round(used_cpu, 3),
        "cpu_s_per_100k_trades": round(used_cpu / max(trades, 1) * 1e5, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=100_000)
    parser.add_argument("--per-message", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "emulator.log"
        with log.open("w") as log_file:
            emulator = subprocess.Popen(
                [sys.executable, "-m", "ticklake", "emulate", "--port", "0", "--symbols",
                 "BTCUSD", "--rate", str(args.rate), "--history", "0",
                 "--max-trades-per-message", str(args.per_message)],
                stderr=log_file,
            )
        try:
            while not (match := re.search(r"ws://[\d.:]+/", log.read_text())):
                time.sleep(0.05)
            url = match.group(0)
            results = [
                asyncio.run(measure(name, runner, url, args.seconds))
                for name, runner in [("bare_websockets", bare_websockets),
                                     ("bare_picows", bare_picows),
                                     ("ticklake_session", ticklake_session)]
            ]
        finally:
            emulator.terminate()
            emulator.wait()
    by_name = {r["name"]: r for r in results}
    base, ours = by_name["bare_websockets"], by_name["ticklake_session"]
    print(json.dumps({
        "rate_asked": args.rate, "trades_per_message_cap": args.per_message,
        "results": results,
        "ratio_cpu_per_trade_session_vs_bare_websockets": round(
            ours["cpu_s_per_100k_trades"] / base["cpu_s_per_100k_trades"], 2),
        "ratio_cpu_per_trade_picows_vs_websockets": round(
            by_name["bare_picows"]["cpu_s_per_100k_trades"] / base["cpu_s_per_100k_trades"], 2),
    }, indent=1))


if __name__ == "__main__":
    main()
