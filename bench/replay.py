"""``ticklake replay --speed max``: frames/s and trades/s a real client reads, against senders
of the same frames in the same run.

Usage: python bench/replay.py [--quick] [--repeat 3] [--trades N]

The stream: the blast stream (``bench/blast_stream.py``: the emulator's own market model and
frame encoder) of BTCUSD, BTCUSDT and sBTCUSDT trades, one trade per message. It is written
as the ``raw`` table of a lake (a control record, then one row per frame, received 1 ms after
its trade, in files of 100,000 rows, zstd), and served to the same client by:

* ``replay``: ``ticklake replay --speed max`` over that lake (a child process, as a user runs
  it): reads the Parquet, decodes, de-duplicates, orders, serves;
* ``replay_twice``: the same frames archived twice (two connections, as two recorders into
  one Kafka topic would leave them): half the rows read are duplicates it drops;
* ``blast``: ``bench/blast_server.py``, the same frames pre-framed in memory, written as fast
  as the socket takes: the most a sender can do, i.e. the client's own ceiling;
* ``emulator``: ``ticklake emulate`` asked for 20,000 trades/s a symbol, one trade per
  message: about the most its live market sustains (asked for much more, it falls behind
  and its backlog grows without bound), frames of the same shape.

The client (a child process, ``--client``): a bare picows reader that subscribes the three
trade channels and counts incremental trade frames until it has the stream's number; its
clock runs from its first such frame to its last. The sender's CPU seconds (its process,
``psutil``) per 100,000 frames are reported too. The median of ``--repeat`` rounds.

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))

SYMBOLS = ("BTCUSD", "BTCUSDT", "sBTCUSDT")
CHANNEL = {"BTCUSD": "trade", "BTCUSDT": "trade_p", "sBTCUSDT": "trade"}
CONTROL = 0xFFFF_FFFF
PRODUCTS = [
    {"symbol": "BTCUSD", "family": "coin-m", "price_scale": 4, "qty_scale": 0, "listed": True,
     "value_scale": 8, "tick_symbols": [".BTC", ".MBTC", ".BTCFR", ".BTCFR8H"]},
    {"symbol": "BTCUSDT", "family": "usd-m", "price_scale": 8, "qty_scale": 8, "listed": True,
     "value_scale": None, "tick_symbols": [".BTCUSDT", ".MBTCUSDT", ".BTCUSDTFR",
                                           ".BTCUSDTFR8H"]},
    {"symbol": "sBTCUSDT", "family": "spot", "price_scale": 8, "qty_scale": 8, "listed": True,
     "value_scale": 8, "tick_symbols": []},
]
_TS = re.compile(rb'\[\[(\d+),')
_FILE_ROWS = 100_000


# ------------------------------------------------------------------------------- client


async def client(url: str, want: int) -> dict[str, Any]:
    from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

    done = asyncio.get_running_loop().create_future()
    seen = {"frames": 0, "t0": 0.0, "t1": 0.0}

    class Listener(WSListener):  # type: ignore[misc]
        def on_ws_connected(self, transport: WSTransport) -> None:
            for i, symbol in enumerate(SYMBOLS):
                transport.send(WSMsgType.TEXT, json.dumps(
                    {"id": i + 1, "method": f"{CHANNEL[symbol]}.subscribe",
                     "params": [symbol]}).encode())

        def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
            payload = frame.get_payload_as_bytes()
            if b'"incremental"' in payload and b'"trades' in payload:
                now = time.perf_counter()
                if not seen["frames"]:
                    seen["t0"] = now
                seen["frames"] += 1
                seen["t1"] = now
                if seen["frames"] >= want and not done.done():
                    done.set_result(None)

    transport, _ = await ws_connect(Listener, url, websocket_handshake_timeout=30,
                                    max_frame_size=2**24)
    await asyncio.wait_for(done, 120)
    transport.disconnect()
    return {"frames": int(seen["frames"]), "seconds": seen["t1"] - seen["t0"]}


# ------------------------------------------------------------------------------- archive


def frames_of(trades: int) -> tuple[list[bytes], dict[str, Any]]:
    from blast_stream import BlastConfig, BlastStream

    stream = BlastStream.load(BlastConfig(symbols=SYMBOLS, trades=trades, per_message=1))
    out, start = [], 0
    for end in stream.ends:
        frame = stream.data[start:end]
        size = frame[1] & 0x7F
        out.append(frame[2 if size < 126 else 4 if size == 126 else 10:])
        start = end
    return out, stream.info


def write_archive(root: Path, frames: list[bytes], copies: int) -> dict[str, Any]:
    """``frames`` as the ``raw`` table of a lake at ``root``, each received ``copies`` times
    (on connections 1, 2, ...), 1 ms (and 0.1 ms more per copy) after its trade."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ticklake.schemas import SCHEMAS

    rows: list[tuple[int, int, str]] = []
    first = int(_TS.search(frames[0]).group(1))  # type: ignore[union-attr]
    rows.append((first, CONTROL, json.dumps({"products": PRODUCTS, "ticklake": "decode-params",
                                             "version": 1})))
    for frame in frames:
        match = _TS.search(frame)
        assert match is not None
        ts = int(match.group(1))
        text = frame.decode()
        rows.extend((ts + 1_000_000 + c * 100_000, c + 1, text) for c in range(copies))
    (root / "_ticklake").mkdir(parents=True, exist_ok=True)
    (root / "_ticklake" / "lake.json").write_text('{"format": 1}')
    written = 0
    for start in range(0, len(rows), _FILE_ROWS):
        chunk = rows[start:start + _FILE_ROWS]
        recv = [r[0] for r in chunk]
        date = datetime.fromtimestamp(recv[0] // 10**9, tz=UTC).date().isoformat()
        folder = root / "raw" / "exchange=phemex" / f"date={date}"
        folder.mkdir(parents=True, exist_ok=True)
        table = pa.table({"recv_ts": [n // 1000 for n in recv], "recv_ns": recv,
                          "conn_id": [r[1] for r in chunk],
                          "spool_offset": list(range(start, start + len(chunk))),
                          "payload": [r[2] for r in chunk]}, schema=SCHEMAS["raw"])
        path = folder / f"part-{start:020d}-{start + len(chunk):020d}.parquet"
        pq.write_table(table, path, compression="zstd")
        written += path.stat().st_size
    return {"rows": len(rows), "files": -(-len(rows) // _FILE_ROWS), "bytes": written}


# ------------------------------------------------------------------------------- senders


def start(target: str, lake: Path, trades: int) -> tuple[subprocess.Popen[str], str]:
    """A sender in a child process, and the URL it printed."""
    if target.startswith("replay"):
        args = ["-m", "ticklake", "replay", "--lake", str(lake), "--speed", "max",
                "--port", "0", "--start-delay", "0.3"]
    elif target == "emulator":
        args = ["-m", "ticklake", "emulate", "--port", "0", "--symbols", ",".join(SYMBOLS),
                "--rate", "20000", "--max-trades-per-message", "1", "--history", "0"]
    else:
        args = [str(HERE / "blast_server.py"), "--symbols", ",".join(SYMBOLS),
                "--trades", str(trades)]
    proc = subprocess.Popen([sys.executable, *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pipe = proc.stdout if target == "blast" else proc.stderr
    assert pipe is not None
    line = pipe.readline()
    match = re.search(r"ws://[^\s\"]+", line)
    if match is None:
        proc.kill()
        msg = f"{target} did not start: {line}{pipe.read()[-2000:]}"
        raise RuntimeError(msg)
    return proc, match.group(0)


def run_one(target: str, lake: Path, trades: int, want: int) -> dict[str, Any]:
    import psutil

    proc, url = start(target, lake, trades)
    try:
        sender = psutil.Process(proc.pid)
        cpu0 = sum(sender.cpu_times()[:2])
        done = subprocess.run([sys.executable, __file__, "--client", url, "--want", str(want)],
                              capture_output=True, text=True, timeout=180, check=False)
        cpu = sum(sender.cpu_times()[:2]) - cpu0
    finally:
        proc.kill()  # by its own PID
        proc.communicate(timeout=30)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"target": target, "error": (done.stderr or done.stdout)[-2000:]}
    result = json.loads(lines[-1])
    seconds = max(result["seconds"], 1e-9)
    return {"target": target, "frames": result["frames"], "seconds": round(seconds, 3),
            "frames_per_s": round(result["frames"] / seconds),
            "trades_per_s": round(result["frames"] / seconds),  # one trade a frame
            "sender_cpu_s_per_100k_frames": round(cpu / result["frames"] * 1e5, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--client")
    parser.add_argument("--want", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--trades", type=int, default=0)
    args = parser.parse_args()
    if args.client:
        print(json.dumps(asyncio.run(client(args.client, args.want))))
        return
    trades = args.trades or (100_000 if args.quick else 300_000)
    frames, info = frames_of(trades)
    with tempfile.TemporaryDirectory(prefix="ticklake-bench-replay-") as tmp:
        lakes = {"replay": Path(tmp) / "once", "replay_twice": Path(tmp) / "twice"}
        archives = {name: write_archive(root, frames, copies)
                    for (name, root), copies in zip(lakes.items(), (1, 2), strict=True)}
        runs: dict[str, list[dict[str, Any]]] = {}
        for _ in range(args.repeat):
            for target in ("replay", "replay_twice", "blast", "emulator"):
                runs.setdefault(target, []).append(
                    run_one(target, lakes.get(target, lakes["replay"]), trades, len(frames)))
    report: dict[str, Any] = {"frames": len(frames), "trades": info["trades"],
                              "symbols": list(SYMBOLS), "archive": archives, "repeat": args.repeat}
    for target, results in runs.items():
        ok = [r for r in results if "error" in r or r.get("frames")]
        good = sorted((r for r in ok if "error" not in r), key=lambda r: r["frames_per_s"])
        report[target] = ({**good[len(good) // 2],
                           "runs_frames_per_s": [r["frames_per_s"] for r in good]}
                          if good else results[-1])
    rate = {t: report[t].get("frames_per_s") for t in runs}
    report["replay_vs_blast"] = (round(rate["replay"] / rate["blast"], 2)
                                 if rate["replay"] and rate["blast"] else None)
    report["replay_vs_emulator"] = (round(rate["replay"] / rate["emulator"], 2)
                                    if rate["replay"] and rate["emulator"] else None)
    report["replay_twice_vs_replay"] = (round(rate["replay_twice"] / rate["replay"], 2)
                                        if rate["replay_twice"] and rate["replay"] else None)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
