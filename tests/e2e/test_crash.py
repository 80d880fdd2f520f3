"""kill -9 of the recorder at random moments: every trade in the lake exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ticklake.spool import SpoolReader

from ..support import read_truth, scaled
from .conftest import TICKLAKE


def spool_end(spool: Path) -> int:
    try:
        return SpoolReader(spool).end_offset()
    except Exception:
        return 0


def wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + scaled(timeout)
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_kill_9_at_random_moments_keeps_every_trade_exactly_once(
    emulator: tuple[str, Path], tmp_path: Path
) -> None:
    url, truth_path = emulator
    lake, spool = tmp_path / "lake", tmp_path / "spool"
    env = {**os.environ, "TICKLAKE_LAKE__BUFFER_SECONDS": "0.3",
           "TICKLAKE_FEED__FIRST_CONNECT_TIMEOUT": "20"}
    command = [*TICKLAKE, "record", "--url", url, "--symbols", "BTCUSD,BTCUSDT",
               "--products-url", "none", "--lake", str(lake), "--spool", str(spool)]
    rng = random.Random(20261125)
    kills = 0
    for _ in range(12):
        before = spool_end(spool)
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        wait_for(lambda: spool_end(spool) > before + 5, 20, "the recorder to record")  # noqa: B023
        time.sleep(rng.uniform(0.0, 1.5))  # the random moment of the crash
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
    urllib.request.urlopen(url.replace("ws://", "http://") + "control/halt", timeout=10).close()
    halted_at = time.time_ns()
    final = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)

    def snapshot_after_halt() -> bool:
        records = SpoolReader(spool).read(max(0, spool_end(spool) - 200), max_records=200)
        return any(r.recv_ns > halted_at and b'"snapshot"' in r.payload for r in records)

    wait_for(snapshot_after_halt, 30, "the resubscribe snapshot after the halt")
    final.send_signal(signal.SIGTERM)
    _, stderr = final.communicate(timeout=scaled(60))
    assert final.returncode == 0, stderr

    for path in lake.rglob("*.parquet"):  # every file readable, no temp file left behind
        assert "_ticklake" not in path.parts, path
        pq.read_metadata(path)
    trades = ds.dataset(lake / "trades", format="parquet", partitioning="hive").to_table()
    recorded = Counter(zip(trades.column("symbol").to_pylist(), trades.column("ts_ns").to_pylist(),
                           trades.column("side").to_pylist(), trades.column("price").to_pylist(),
                           trades.column("qty").to_pylist(), strict=True))
    truth = Counter(read_truth(truth_path))
    gaps_dir = lake / "gaps"
    gaps = (ds.dataset(gaps_dir, format="parquet", partitioning="hive").to_table().to_pylist()
            if gaps_dir.exists() else [])
    assert not recorded - truth, "a trade twice, or one the exchange never made"
    first_ts = {s: min(k[1] for k in recorded if k[0] == s) for s in ("BTCUSD", "BTCUSDT")}
    missing = [k for k in truth - recorded if k[1] >= first_ts[k[0]]]
    silent = [k for k in missing
              if not any(g["symbol"] == k[0] and g["from_ns"] <= k[1] <= g["to_ns"] for g in gaps)]
    assert not silent, f"{len(silent)} trades lost without a recorded gap"
    print(json.dumps({"kills": kills, "trades": sum(recorded.values()),
                      "truth": sum(truth.values()), "gaps": len(gaps),
                      "lost_in_gaps": len(missing)}))
