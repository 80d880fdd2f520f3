"""Two recorders ship to a Kafka-protocol log (Tansu), three ``ticklake deliver`` workers
write the lake on S3 (SeaweedFS) as a consumer group; one worker is killed with -9 mid-run.
Afterwards the lake's trades equal the emulator's ground truth trade for trade, ``raw``
holds every spooled frame exactly once, and no two files cover overlapping offsets.

Only the long variant is here: ``test_scale_out_e2e.py`` runs this scenario (and more: shards,
detectors) in ``make test``."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from ticklake.lake.storage import LakeStorage

from ..reliability.common import compare_lake, figure, truth_trades, wait_for
from ..reliability.procs import control, emulator_process, kill_group
from ..seaweed import SeaweedFS
from .procs import (
    deliver,
    delivered,
    lake_frames,
    overlapping_files,
    shipped,
    shipping_recorder,
    spooled_frames,
    stop,
    trades_in,
)
from .tansu import Tansu

SYMBOLS = ("BTCUSD,ETHUSD", "BTCUSDT,sBTCUSDT")  # disjoint: one set per recorder
PARTITIONS = 6
FAST = {"TICKLAKE_FEED__PING_INTERVAL": "1", "TICKLAKE_FEED__PONG_TIMEOUT": "3",
        "TICKLAKE_FEED__SILENCE_TIMEOUT": "5"}


def run_scaleout(tmp_path: Path, tansu: Tansu, store: SeaweedFS, name: str,
                 monkeypatch: pytest.MonkeyPatch, trades_before_kill: int,
                 trades_after_kill: int, rate: str = "40") -> dict[str, object]:
    for key, value in store.env().items():
        monkeypatch.setenv(key, value)
    root = f"s3://{store.bucket}/{name}"
    uri = tansu.uri("ticks")
    storage = LakeStorage(root, filesystem=store.filesystem())
    env = {**store.env(), **FAST, "TICKLAKE_LAKE__PARTITIONS": str(PARTITIONS)}
    spools = [tmp_path / f"spool{i}" for i in range(len(SYMBOLS))]
    writers: list[subprocess.Popen[bytes]] = []
    recorders: list[subprocess.Popen[bytes]] = []
    with emulator_process(tmp_path, "--symbols", ",".join(SYMBOLS), "--rate", rate) as (
            url, truth):
        control(url, "halt")  # until both recorders stream: every trade is then owed
        try:
            for i in range(3):
                writers.append(deliver(uri, root, tmp_path / f"deliver{i}.log", env))
            for i, (symbols, spool) in enumerate(zip(SYMBOLS, spools, strict=True)):
                recorders.append(shipping_recorder(url, uri, spool, symbols,
                                                   tmp_path / f"recorder{i}.log", env))
            # Subscribe acks shipped by both: they stream, and the broker takes their frames.
            wait_for(lambda: all(shipped(s) > 0 for s in spools), 60, "both recorders ship")
            control(url, "resume")
            wait_for(lambda: trades_in(root) >= trades_before_kill, 90,
                     f"{trades_before_kill} trades in the lake", interval=0.5)
            kill_group(writers[0], signal.SIGKILL)  # mid-run: its partitions move on
            writers[0].wait()
            killed_at = trades_in(root)
            wait_for(lambda: trades_in(root) >= killed_at + trades_after_kill, 90,
                     "the survivors to take the killed worker's partitions over", interval=0.5)
            control(url, "halt")
            produced = sum(truth_trades(truth).values())
            wait_for(lambda: trades_in(root) >= produced, 60,
                     f"all {produced} trades the exchange made, delivered", interval=0.5)
        finally:
            codes = [stop(r) for r in recorders]
    assert codes == [0, 0], [(tmp_path / f"recorder{i}.log").read_text()[-2000:]
                             for i in range(2)]
    # Tansu's high watermarks lag after a while (ListOffsets), so the spools are the measure.
    spooled = spooled_frames(spools[0]) + spooled_frames(spools[1])
    try:
        wait_for(lambda: sum(lake_frames(root).values()) >= sum(spooled.values()), 90,
                 f"all {sum(spooled.values())} spooled frames in the lake", interval=0.5)
    finally:
        writer_codes = [stop(w) for w in writers[1:]]
    assert writer_codes == [0, 0], [(tmp_path / f"deliver{i}.log").read_text()[-2000:]
                                    for i in (1, 2)]
    positions = delivered(storage, "ticks", PARTITIONS)
    result = compare_lake(root, truth)
    assert result.duplicated == result.invented == 0, result
    assert result.lost_silently == result.lost_in_reported_gaps == 0, result
    assert result.recorded == result.truth > 0, result
    in_lake = lake_frames(root)
    assert in_lake == spooled, (len(in_lake - spooled), len(spooled - in_lake))
    assert overlapping_files(store.filesystem(), root) == []
    return {"partitions": PARTITIONS, "recorders": 2, "writers": 3, "killed": 1,
            "frames": sum(spooled.values()), "kafka_messages": sum(positions),
            **result.summary()}


@pytest.mark.long
@pytest.mark.timeout(1200)
def test_long_scaleout_kill9(tmp_path: Path, tansu: Tansu, seaweed: SeaweedFS,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    figure("scaleout_kill9_long", **run_scaleout(tmp_path, tansu, seaweed,
                                                 "scaleout-kill9-long", monkeypatch,
                                                 20_000, 20_000, rate="200"))
