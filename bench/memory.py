"""Steady-state memory of ``ticklake record`` (and ``ticklake run``) for one symbol.

Usage: python bench/memory.py [--seconds 600] [--rate 50] [--commands record,run]
                              [--buffer-seconds 300]

The regular emulator streams BTCUSD at ``--rate`` trades/s in its own process; the command
runs as a user would start it (default lake settings but ``--buffer-seconds``, the lake's
publish interval) in another, and its RSS plus its children's is sampled every 0.25 s.
Reported: peak (a publish: the lake writer process exists only around publishes), steady
state (median of the second half), the recorder's growth over the second half (MB per
minute, least squares: "no growth" means about 0), and the share of samples with a writer
process. The quick run shortens the interval so that a publish falls inside it. Printed as
JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

EMULATOR = """
import asyncio, sys
from ticklake.emulator import Emulator, EmulatorConfig
async def main():
    cfg = EmulatorConfig(symbols=("BTCUSD",), rate=float(sys.argv[1]), history=500, port=0)
    async with Emulator(cfg) as emu:
        print(emu.url, flush=True)
        await asyncio.Event().wait()
asyncio.run(main())
"""


def rss_mb(proc: psutil.Process) -> tuple[float, float]:
    """RSS of the process itself and of its children (the lake writer process), MB."""
    own = children = 0
    with contextlib.suppress(psutil.Error):
        own = proc.memory_info().rss
    for p in proc.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            children += p.memory_info().rss
    return own / 2**20, children / 2**20


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    if len(points) < 3:
        return 0.0
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs) or 1.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den * 60


def measure(command: str, url: str, seconds: float, tmp: Path,
            buffer_seconds: float) -> dict[str, Any]:
    ticklake = [str(Path(sys.executable).parent / "ticklake")]
    args = [*ticklake, command, "--url", url, "--symbols", "BTCUSD",
            "--lake", str(tmp / f"lake-{command}"), "--spool", str(tmp / f"spool-{command}")]
    env = {**os.environ, "TICKLAKE_DASHBOARD__PORT": "0", "TICKLAKE_FEED__PRODUCTS_URL": "none",
           "TICKLAKE_LAKE__BUFFER_SECONDS": str(buffer_seconds)}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            text=True)
    ps = psutil.Process(proc.pid)
    samples: list[tuple[float, float]] = []
    split: list[tuple[float, float, float]] = []  # (t, recorder, children)
    started = time.monotonic()
    try:
        while time.monotonic() - started < seconds and proc.poll() is None:
            own, children = rss_mb(ps)
            t = time.monotonic() - started
            samples.append((t, own + children))
            split.append((t, own, children))
            time.sleep(0.25)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    if not samples or proc.returncode not in (0, -signal.SIGTERM):
        return {"command": command, "error": (err or "")[-1500:], "samples": len(samples)}
    second_half = [s for s in samples if s[0] >= seconds / 2]
    return {
        "command": command, "seconds": seconds, "samples": len(samples),
        "peak_mb": round(max(s[1] for s in samples), 1),
        "steady_mb": round(statistics.median(s[1] for s in second_half), 1),
        # The recorder's own: the writer process comes and goes with publishes.
        "growth_mb_per_min": round(slope_per_minute(
            [(t, own) for t, own, _ in split if t >= seconds / 2]), 3),
        "steady_recorder_mb": round(statistics.median(
            s[1] for s in split if s[0] >= seconds / 2), 1),
        "steady_children_mb": round(statistics.median(
            s[2] for s in split if s[0] >= seconds / 2), 1),
        "peak_children_mb": round(max(s[2] for s in split), 1),
        "share_with_writer_process": round(sum(s[2] > 20 for s in split) / len(split), 3),
        "buffer_seconds": buffer_seconds,
        "publishes": publishes(tmp / f"lake-{command}"),
    }


def publishes(lake: Path) -> int:
    return len({p.name for p in (lake / "raw").rglob("*.parquet")}) if lake.is_dir() else 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--commands", default="record,run")
    parser.add_argument("--buffer-seconds", type=float, default=300.0)
    args = parser.parse_args()
    emu = subprocess.Popen([sys.executable, "-c", EMULATOR, str(args.rate)],
                           stdout=subprocess.PIPE, text=True)
    results = []
    try:
        assert emu.stdout is not None
        url = emu.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            for command in args.commands.split(","):
                results.append(measure(command, url, args.seconds, Path(tmp),
                                       args.buffer_seconds))
                print(json.dumps(results[-1]), file=sys.stderr)
    finally:
        emu.terminate()
        emu.wait()
    print(json.dumps({"bench": "memory", "rate_trades_per_s": args.rate, "results": results,
                      "goal": "record steady < 80 MB, no growth"}, indent=1))


if __name__ == "__main__":
    main()
