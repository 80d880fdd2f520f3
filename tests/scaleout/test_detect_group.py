"""``ticklake detect --log``: two detector processes as a consumer group over Tansu, one
killed with -9 mid-run, right after swings began. Every labelled swing is in the lake's
anomalies table exactly once, and the survivor took the killed one's partition over from its
snapshot: it caught the swings at the kill, well within a warm-up of it (a cold start would
have been blind)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from ticklake.lake.storage import LakeStorage

from ..reliability.common import truth_trades, wait_for
from ..reliability.procs import control, emulator_process, kill_group
from .procs import (
    S,
    anomaly_rows,
    detector,
    detector_offsets,
    detector_restores,
    inject_swings,
    shipped,
    shipping_recorder,
    stop,
    swing_hits,
    swings_caught,
)
from .tansu import Tansu

SYMBOLS = ("BTCUSD", "ETHUSD")  # keys of different partitions of 2
PARTITIONS = 2
WARMUP_S = 30
FAST = {"TICKLAKE_FEED__PING_INTERVAL": "1", "TICKLAKE_FEED__PONG_TIMEOUT": "3",
        "TICKLAKE_FEED__SILENCE_TIMEOUT": "5", "TICKLAKE_LAKE__PARTITIONS": str(PARTITIONS)}


@pytest.mark.timeout(300)
def test_two_detectors_one_killed_every_swing_once_resumed_from_snapshot(
        tmp_path: Path, tansu: Tansu) -> None:
    uri = tansu.uri("ticks")
    root = tmp_path / "lake"
    storage = LakeStorage(str(root))
    spool = tmp_path / "spool"
    labels: list[dict[str, Any]] = []
    detectors: list[subprocess.Popen[bytes]] = []
    with emulator_process(tmp_path, "--symbols", ",".join(SYMBOLS), "--rate", "40") as (
            url, truth):
        recorder = shipping_recorder(url, uri, spool, ",".join(SYMBOLS),
                                     tmp_path / "recorder.log", FAST)
        try:
            wait_for(lambda: shipped(spool) > 0, 60, "the recorder to ship")
            # One detector first, owning both partitions (snapshots of both in the lake),
            # then a second: the group rebalances, each resumes one partition from its
            # snapshot.
            detectors.append(detector(uri, str(root), tmp_path / "detect0.log", FAST, PARTITIONS,
                                      WARMUP_S))
            wait_for(lambda: all(c > 0 for c in detector_offsets(storage, PARTITIONS)), 60,
                     "snapshots of both partitions (both carry trades)")
            detectors.append(detector(uri, str(root), tmp_path / "detect1.log", FAST, PARTITIONS,
                                      WARMUP_S))
            wait_for(lambda: all(r >= 1 for r in detector_restores(storage, PARTITIONS)), 60,
                     "the group to rebalance over the two detectors")
            start = sum(truth_trades(truth).values())
            wait_for(lambda: sum(truth_trades(truth).values()) > start + 40 * 2 * WARMUP_S, 90,
                     "a warm-up's worth of trades")
            first = inject_swings(url, SYMBOLS, "up")
            labels += first
            wait_for(lambda: swings_caught(storage, first), 60, "the first swings in the lake")
            before_kill = detector_restores(storage, PARTITIONS)
            # Swings, then at once kill -9: their episodes are open (or not yet read) in the
            # killed detector; its partition's next owner must finish them, once.
            second = inject_swings(url, SYMBOLS, "down")
            labels += second
            kill_group(detectors[0], signal.SIGKILL)
            detectors[0].wait()
            killed_ns = time.time_ns()
            wait_for(lambda: swings_caught(storage, second), 90,
                     "the survivor to catch the swings after the kill")
            wait_for(lambda: all(a > b for a, b in zip(detector_restores(storage, PARTITIONS),
                                                       before_kill, strict=True)), 30,
                     "the survivor's snapshots of both partitions")
            control(url, "halt")
        finally:
            assert stop(recorder) == 0, (tmp_path / "recorder.log").read_text()[-2000:]
            codes = [stop(d) for d in detectors[1:]]
            for d in detectors:
                kill_group(d)
    assert codes == [0], (tmp_path / "detect1.log").read_text()[-3000:]
    files = anomaly_rows(storage)
    ids = [row["anomaly_id"] for _, row in files]
    # Exactly once: one row (and one file) per episode, one episode per labelled swing.
    assert len(ids) == len(set(ids)) == len(labels) == 2 * len(SYMBOLS), files
    for label in labels:
        assert len(swing_hits([row for _, row in files], label)) == 1, (label, files)
    # Those swings were well inside a warm-up of the kill: the partition that moved went on
    # with its detector's state (a cold start there would have been blind to them).
    for label in second:
        assert abs(label["start_ns"] - killed_ns) < WARMUP_S * S / 3
