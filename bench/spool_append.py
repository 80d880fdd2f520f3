"""Spool append throughput per fsync policy, against plain ``f.write()`` of the same bytes.

Usage: python bench/spool_append.py [--frames 200000] [--always-frames 10000] [--size 150]
                                    [--burst 1] [--dir DIR]

For each policy a fresh spool gets N frames of ~``size`` bytes; the rates are for the append
loop with a ``flush`` after every ``burst`` frames (what the recorder's hot path pays: it
flushes once per event-loop turn); ``close_seconds`` is the final fsync after it, shown apart.
The baseline, run in the same process and directory, writes the very bytes the spool wrote
(framed records) with a buffered ``f.write()`` per frame and closes the file, no fsync.
ALWAYS pays one fdatasync per flush, so it runs ``--always-frames`` frames (default 10k) and is
also compared with a bare ``os.write`` + ``fdatasync`` loop. Printed as JSON: frames/s, MB/s,
ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from ticklake.model import RawFrame
from ticklake.spool import FsyncPolicy, SpoolWriter
from ticklake.spool.segment import encode_record, fdatasync


def make_frames(n: int, size: int) -> list[RawFrame]:
    frames = []
    for i in range(n):
        text = (f'{{"sequence":{1_000_000 + i},"symbol":"BTCUSD","trades":[[{i}1234567890'
                f',"Buy",{86_735_000 + i % 997},{i % 50 + 1}]],"type":"incremental"}}')
        payload = (text + " " * max(0, size - len(text))).encode()[:size]
        frames.append(RawFrame(conn_id=1, recv_ns=1_764_000_000_000_000_000 + i, payload=payload))
    return frames


def rates(n: int, seconds: float, payload_bytes: int, disk_bytes: int) -> dict[str, Any]:
    return {
        "frames": n,
        "seconds": round(seconds, 4),
        "frames_per_s": round(n / seconds),
        "payload_mb_per_s": round(payload_bytes / seconds / 1e6, 1),
        "disk_mb_per_s": round(disk_bytes / seconds / 1e6, 1),
    }


def bench_spool(root: Path, frames: list[RawFrame], policy: FsyncPolicy,
                burst: int) -> tuple[float, float]:
    """Seconds for the append loop, and for the ``close()`` after it (final fsync)."""
    directory = root / f"spool-{policy.value}"
    writer = SpoolWriter(directory, fsync=policy)
    append, flush = writer.append, writer.flush
    start = time.perf_counter()
    for i, frame in enumerate(frames, 1):
        append(frame)
        if i % burst == 0:
            flush()
    flush()
    appended = time.perf_counter()
    writer.close()
    closed = time.perf_counter()
    shutil.rmtree(directory)
    return appended - start, closed - appended


def bench_f_write(root: Path, records: list[bytes]) -> float:
    path = root / "baseline.bin"
    start = time.perf_counter()
    with path.open("wb") as f:
        write = f.write
        for record in records:
            write(record)
    elapsed = time.perf_counter() - start
    path.unlink()
    return elapsed


def bench_write_fsync(root: Path, records: list[bytes]) -> float:
    path = root / "baseline-fsync.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    start = time.perf_counter()
    for record in records:
        os.write(fd, record)
        fdatasync(fd)
    elapsed = time.perf_counter() - start
    os.close(fd)
    path.unlink()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--always-frames", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=150)
    parser.add_argument("--burst", type=int, default=1, help="frames per flush")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    frames = make_frames(args.frames, args.size)
    records = [encode_record(f.recv_ns, f.conn_id, f.payload) for f in frames]
    payload_bytes = sum(len(f.payload) for f in frames)
    disk_bytes = sum(map(len, records))
    root = Path(tempfile.mkdtemp(prefix="spool-bench-", dir=args.dir))
    try:
        baseline = bench_f_write(root, records)
        report: dict[str, Any] = {
            "frame_bytes": args.size,
            "burst": args.burst,
            "baseline_f_write": rates(args.frames, baseline, payload_bytes, disk_bytes),
        }
        for policy in (FsyncPolicy.NEVER, FsyncPolicy.INTERVAL, FsyncPolicy.ALWAYS):
            n = args.always_frames if policy is FsyncPolicy.ALWAYS else args.frames
            scale = n / args.frames
            seconds, close_seconds = bench_spool(root, frames[:n], policy, args.burst)
            result = rates(n, seconds, int(payload_bytes * scale), int(disk_bytes * scale))
            result["close_seconds"] = round(close_seconds, 4)
            result["vs_f_write"] = round(result["frames_per_s"] / (args.frames / baseline), 3)
            if policy is FsyncPolicy.ALWAYS:
                bare = bench_write_fsync(root, records[:n])
                result["baseline_write_fdatasync_frames_per_s"] = round(n / bare)
                result["vs_write_fdatasync"] = round(bare / seconds, 3)
            report[policy.value] = result
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
