"""Ingest throughput, side by side: bare readers, cryptofeed, ccxt pro and ticklake.

Usage: python bench/ingest.py [--quick] [--repeat 3] [--clients a,b] [--configs 1x1,10x1,...]

One blast emulator (``bench/blast_server.py``: the emulator's market model, pre-encoded,
written as fast as the socket takes, still speaking the protocol) per stream configuration
(trades per message x symbols). Every client runs in its own subprocess against the same
stream, in ``--repeat`` rounds of every client in turn; the median run (by trades/s) is
reported, and ticklake's ratio to each peer both from the medians and round by round
(``..._paired_median``: the steadier figure on a shared machine). A client's clock runs
from its first trade to its last one; CPU (user+sys, own threads and children) and peak RSS
are the subprocess's own. Clients:

* ``bare_websockets`` / ``bare_picows``: subscribe and count frames (the floor of Python I/O);
* ``cryptofeed``: cryptofeed's Phemex feed with a no-op trade callback (its endpoints
  monkeypatched to the emulator; it uses the legacy ``/ws`` path, served too);
* ``ccxt``: ccxt pro ``watch_trades`` in a loop per symbol (``trades_delivered`` says how
  many trades the loop actually got back; ccxt keeps a bounded cache and skips under bursts);
* ``ticklake``: ``build_recording`` + ``Recording.run`` into a spool and a lake, as
  ``ticklake record`` does; its clock stops when every trade is in the spool
  (``lake_done_s``: when the lake holds every trade too, after the drain on stop, and the
  row count of the lake is checked against the stream).

Printed as JSON: per configuration, every client's median numbers and ticklake's ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from clients import cpu_now, median_run, peak_rss_mb, run_client  # noqa: E402

CLIENTS = ("bare_websockets", "bare_picows", "cryptofeed", "ccxt", "ticklake")
# Not in the default set: ticklake's recorder on uvloop's event loop (an A/B of the loop).
EXTRA_CLIENTS = ("ticklake_uvloop",)
STD = {"BTCUSD": "BTC-USD-PERP", "ETHUSD": "ETH-USD-PERP"}
CCXT = {"BTCUSD": "BTC/USD:BTC", "ETHUSD": "ETH/USD:USD"}






class Clock:
    """First/last trade times and CPU at the first trade."""

    def __init__(self) -> None:
        self.t0 = 0.0
        self.t1 = 0.0
        self.cpu0 = 0.0
        self.trades = 0

    def tick(self, n: int) -> None:
        if not self.t0:
            self.t0, self.cpu0 = time.perf_counter(), cpu_now()
        self.trades += n
        self.t1 = time.perf_counter()


def subscribe_msgs(symbols: list[str]) -> list[str]:
    return [json.dumps({"id": i + 1, "method": "trade.subscribe", "params": [s]})
            for i, s in enumerate(symbols)]


# ------------------------------------------------------------------------------- clients


async def run_bare_websockets(url: str, info: dict[str, Any], clock: Clock) -> dict[str, Any]:
    import websockets

    frames, want = 0, info["frames"]
    async with websockets.connect(url, ping_interval=None, compression=None,
                                  max_size=2**24, max_queue=None) as ws:
        for text in subscribe_msgs(info["symbols"]):
            await ws.send(text)
        while frames < want:
            message = await ws.recv(decode=False)
            if b'"incremental"' in message:
                frames += 1
                clock.tick(0)
    clock.trades = info["trades"]
    return {"frames": frames}


async def run_bare_picows(url: str, info: dict[str, Any], clock: Clock) -> dict[str, Any]:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    done = asyncio.get_running_loop().create_future()
    want = info["frames"]
    count = [0]

    class Listener(WSListener):  # type: ignore[misc]
        def on_ws_connected(self, transport: WSTransport) -> None:
            for text in subscribe_msgs(info["symbols"]):
                transport.send(WSMsgType.TEXT, text.encode())

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            if b'"incremental"' in frame.get_payload_as_bytes():
                count[0] += 1
                clock.tick(0)
                if count[0] >= want and not done.done():
                    done.set_result(None)

    transport, _ = await ws_connect(Listener, url, websocket_handshake_timeout=30,
                                    max_frame_size=2**24)
    await done
    transport.disconnect()
    clock.trades = info["trades"]
    return {"frames": count[0]}


def run_cryptofeed(url: str, info: dict[str, Any], clock: Clock) -> dict[str, Any]:
    from clients import point_cryptofeed_at
    from cryptofeed import FeedHandler
    from cryptofeed.defines import TRADES
    from cryptofeed.exchanges import Phemex

    point_cryptofeed_at(url)
    want = info["trades"] + sum(info["snapshot_trades"].values())
    fh = FeedHandler(config={"log": {"disabled": True}, "uvloop": True})
    stop: dict[str, Any] = {}

    async def on_trade(trade: Any, receipt_timestamp: float) -> None:
        clock.tick(1)
        if clock.trades >= want and "done" not in stop:
            stop["done"] = True
            stop["fut"].set_result(None)

    fh.add_feed(Phemex(symbols=[STD[s] for s in info["symbols"]], channels=[TRADES],
                       callbacks={TRADES: on_trade}))
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    stop["fut"] = loop.create_future()
    fh.run(start_loop=False, install_signal_handlers=False)
    loop.run_until_complete(asyncio.wait_for(stop["fut"], 600))
    clock.trades -= sum(info["snapshot_trades"].values())
    return {"note": "no-op async callback; snapshot trades emitted as new trades"}


async def run_ccxt(url: str, info: dict[str, Any], clock: Clock) -> dict[str, Any]:
    import ccxt.pro

    http = url.replace("ws://", "http://").rstrip("/")
    exchange = ccxt.pro.phemex({"newUpdates": True})
    exchange.urls["api"] = {"v1": http + "/v1", "v2": http, "public": http + "/exchange/public",
                            "private": http, "ws": url}
    await exchange.load_markets()
    last_ms = {s: info["last_ts_ns"][s] // 1_000_000 for s in info["symbols"]}
    delivered = [0]
    idle_deadline = [time.monotonic() + 30]

    async def watch(symbol: str) -> None:
        while True:
            trades = await exchange.watch_trades(CCXT[symbol])
            delivered[0] += len(trades)
            clock.tick(0)
            idle_deadline[0] = time.monotonic() + 5
            if trades and trades[-1]["timestamp"] >= last_ms[symbol]:
                return

    async def watchdog() -> None:
        while time.monotonic() < idle_deadline[0]:
            await asyncio.sleep(0.5)

    tasks = [asyncio.ensure_future(watch(s)) for s in info["symbols"]]
    dog = asyncio.ensure_future(watchdog())
    finished = asyncio.gather(*tasks)
    done, _ = await asyncio.wait([finished, dog], return_when=asyncio.FIRST_COMPLETED)
    complete = finished in done
    for task in [*tasks, dog]:
        task.cancel()
    await exchange.close()
    clock.trades = info["trades"] if complete else 0
    return {"trades_delivered": delivered[0], "complete": complete}


async def run_ticklake(url: str, info: dict[str, Any], clock: Clock) -> dict[str, Any]:
    import pyarrow.dataset as ds

    from ticklake.config import FeedSettings, LakeSettings
    from ticklake.pipeline import build_recording

    tmp = Path(tempfile.mkdtemp(prefix="tl-ingest-"))
    feed = FeedSettings(url=url, symbols=tuple(info["symbols"]), products_url="auto")
    lake = LakeSettings(root=str(tmp / "lake"), spool=str(tmp / "spool"))
    recording = await build_recording(feed, None, lake)
    status = recording.status
    snap = sum(info["snapshot_trades"].values())
    want = info["trades"] + snap
    task = asyncio.create_task(recording.run())
    while (trades := status().totals.trades) < want:
        if trades > snap:
            clock.tick(0)
        if task.done():
            task.result()
            break
        await asyncio.sleep(0.002)
    clock.tick(0)
    clock.trades = status().totals.trades - snap
    stop_at = time.perf_counter()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    lake_done = time.perf_counter()
    rows = ds.dataset(tmp / "lake" / "trades", format="parquet",
                      partitioning="hive").count_rows()
    return {"lake_done_s": round(lake_done - clock.t0, 3),
            "drain_after_ingest_s": round(lake_done - stop_at, 3),
            "lake_rows": rows, "lake_exact": rows == want, "tmp": str(tmp)}


def client_main(name: str, url: str) -> None:
    info = json.loads(urllib.request.urlopen(url.replace("ws://", "http://") + "blast/info",
                                             timeout=10).read())
    clock = Clock()
    if name == "cryptofeed":
        extra = run_cryptofeed(url, info, clock)
    elif name == "ticklake_uvloop":
        import uvloop

        extra = uvloop.run(run_ticklake(url, info, clock))
    else:
        runner = {"bare_websockets": run_bare_websockets, "bare_picows": run_bare_picows,
                  "ccxt": run_ccxt, "ticklake": run_ticklake}[name]
        extra = asyncio.run(runner(url, info, clock))
    cpu_used = cpu_now() - clock.cpu0
    elapsed = max(clock.t1 - clock.t0, 1e-9)
    if "lake_done_s" in extra:
        elapsed_all = extra["lake_done_s"]
        extra["trades_per_s_to_lake"] = round(clock.trades / elapsed_all)
        tmp = extra.pop("tmp")
        subprocess.run(["rm", "-rf", tmp], check=False)
    print(json.dumps({
        "client": name, "trades": clock.trades, "seconds": round(elapsed, 3),
        "trades_per_s": round(clock.trades / elapsed),
        "cpu_s_per_100k_trades": round(cpu_used / max(clock.trades, 1) * 1e5, 3),
        "peak_rss_mb": peak_rss_mb(), **extra,
    }))


# ------------------------------------------------------------------------------- driver


def start_blast(symbols: list[str], trades: int, per_message: int) -> tuple[subprocess.Popen[str],
                                                                             dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "blast_server.py"), "--symbols", ",".join(symbols),
         "--trades", str(trades), "--per-message", str(per_message)],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        msg = "blast emulator did not start"
        raise RuntimeError(msg)
    return proc, json.loads(line)






def paired_ratios(ours: list[dict[str, Any]], peer: list[dict[str, Any]]) -> list[float]:
    """ticklake ÷ peer, trades/s, round by round (runs of one round ran back to back)."""
    return [round(a["trades_per_s"] / b["trades_per_s"], 2)
            for a, b in zip(ours, peer, strict=False)
            if a.get("trades_per_s") and b.get("trades_per_s")]


def ratio(a: dict[str, Any], b: dict[str, Any], key: str) -> float | None:
    if key in a and key in b and b[key]:
        return round(a[key] / b[key], 2)
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client")
    parser.add_argument("--url")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--configs", default="1x1,10x1,1x2,10x2",
                        help="per_message x symbols, comma-separated")
    parser.add_argument("--trades", type=int, default=0, help="override the stream length")
    args = parser.parse_args()
    if args.client:
        client_main(args.client, args.url)
        return
    clients = args.clients.split(",")
    out: dict[str, Any] = {"bench": "ingest", "repeat": args.repeat, "configs": []}
    for config in args.configs.split(","):
        per, nsym = (int(x) for x in config.split("x"))
        symbols = ["BTCUSD", "ETHUSD"][:nsym]
        trades = args.trades or (
            (500_000 if args.quick else 3_000_000) if per > 1
            else (200_000 if args.quick else 1_000_000))
        proc, info = start_blast(symbols, trades, per)
        try:
            # Rounds of every client in turn: a drift of the machine (other jobs start or
            # stop) then hits every client alike, and each round gives a paired ratio.
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in clients}
            for _ in range(args.repeat):
                for name in clients:
                    runs[name].append(run_client(__file__, name, info["url"], 600))
            results = {name: median_run(runs[name], "trades", "trades_per_s") for name in clients}
            for name in clients:
                print(json.dumps({"config": config, **results[name]}), file=sys.stderr)
        finally:
            proc.terminate()
            proc.wait()
        entry: dict[str, Any] = {"trades_per_message": per, "symbols": symbols,
                                 "stream_trades": info["trades"], "results": results}
        ours = results.get("ticklake", {})
        for peer in ("bare_websockets", "bare_picows", "cryptofeed", "ccxt", "ticklake_uvloop"):
            if peer in results:
                entry[f"ticklake_vs_{peer}_trades_per_s"] = ratio(ours, results[peer],
                                                                  "trades_per_s")
                entry[f"ticklake_vs_{peer}_cpu_per_trade"] = ratio(
                    ours, results[peer], "cpu_s_per_100k_trades")
                paired = paired_ratios(runs.get("ticklake", []), runs[peer])
                if paired:
                    entry[f"ticklake_vs_{peer}_trades_per_s_by_round"] = paired
                    entry[f"ticklake_vs_{peer}_trades_per_s_paired_median"] = round(
                        statistics.median(paired), 2)
        out["configs"].append(entry)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
