"""The broker goes away mid-run (Tansu killed with -9, its log on SeaweedFS) and comes back
on the same port: the recorder keeps recording into its spool meanwhile, ships the backlog
when the broker returns, and the lake ends up with every frame and trade exactly once (the
producer's retries and any re-sends are dropped by the writers)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ticklake.spool import SpoolReader

from ..reliability.common import compare_lake, figure, wait_for, wait_recorded
from ..reliability.procs import control, emulator_process
from ..seaweed import SeaweedFS
from .procs import deliver, lake_frames, shipped, shipping_recorder, spooled_frames, stop, trades_in
from .tansu import Tansu

SYMBOLS = "BTCUSD,BTCUSDT,ETHUSD"
FAST = {"TICKLAKE_FEED__PING_INTERVAL": "1", "TICKLAKE_FEED__PONG_TIMEOUT": "3",
        "TICKLAKE_FEED__SILENCE_TIMEOUT": "5", "TICKLAKE_LAKE__PARTITIONS": "4"}


def spool_end(spool: Path) -> int:
    return SpoolReader(spool).end_offset()


def restart_broker_midrun(tmp_path: Path, broker: Tansu, store: SeaweedFS, name: str,
                          monkeypatch: pytest.MonkeyPatch, backlog: int,
                          rate: str = "60") -> dict[str, object]:
    for key, value in store.env().items():
        monkeypatch.setenv(key, value)
    root = f"s3://{store.bucket}/{name}"
    uri = broker.uri("ticks")
    env = {**store.env(), **FAST}
    spool = tmp_path / "spool"
    writers: list[subprocess.Popen[bytes]] = []
    with emulator_process(tmp_path, "--symbols", SYMBOLS, "--rate", rate) as (url, truth):
        control(url, "halt")
        process = shipping_recorder(url, uri, spool, SYMBOLS, tmp_path / "recorder.log", env)
        try:
            writers = [deliver(uri, root, tmp_path / f"deliver{i}.log", env) for i in range(2)]
            wait_for(lambda: shipped(spool) > 0, 60, "the recorder ships")
            control(url, "resume")
            wait_for(lambda: trades_in(root) >= 300, 90, "300 trades in the lake",
                     interval=0.5)
            broker.stop()  # kill -9: in-flight produce requests are left unanswered
            down_at = shipped(spool)
            # Recording goes on: the spool grows while nothing more is acknowledged.
            wait_for(lambda: spool_end(spool) - shipped(spool) >= backlog, 60 + backlog / 50,
                     f"a backlog of {backlog} frames in the spool while the broker is down")
            assert process.poll() is None, "the recorder stopped with the broker"
            held = spool_end(spool) - down_at
            broker.start()
            wait_for(lambda: shipped(spool) >= down_at + held, 120,
                     "the backlog shipped after the broker came back")
            control(url, "halt")
            wait_recorded(root, spool, truth)  # (its spool: the recorder writes no lake)
        finally:  # (with the broker still down it tries to ship for 60 s, then keeps it)
            code = stop(process, timeout=120)
        assert code == 0, (tmp_path / "recorder.log").read_text()[-2000:]
        spooled = spooled_frames(spool)
        try:
            wait_for(lambda: sum(lake_frames(root).values()) >= sum(spooled.values()), 120,
                     f"all {sum(spooled.values())} spooled frames in the lake", interval=0.5)
        finally:
            writer_codes = [stop(w) for w in writers]
    assert writer_codes == [0, 0], [(tmp_path / f"deliver{i}.log").read_text()[-2000:]
                                    for i in range(2)]
    assert lake_frames(root) == spooled
    result = compare_lake(root, truth)
    assert result.duplicated == result.invented == 0, result
    assert result.lost_silently == result.lost_in_reported_gaps == 0, result
    assert result.recorded == result.truth > 0, result
    return {"backlog_frames": held, "frames": sum(spooled.values()), **result.summary()}


@pytest.mark.timeout(300)
def test_broker_restart_loses_nothing_and_duplicates_nothing(
        tmp_path: Path, s3_tansu: Tansu, seaweed: SeaweedFS,
        monkeypatch: pytest.MonkeyPatch) -> None:
    figure("scaleout_broker_restart", **restart_broker_midrun(
        tmp_path, s3_tansu, seaweed, "scaleout-restart", monkeypatch, backlog=300))


@pytest.mark.long
@pytest.mark.timeout(1200)
def test_long_broker_outage(tmp_path: Path, s3_tansu: Tansu, seaweed: SeaweedFS,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    figure("scaleout_broker_outage_long", **restart_broker_midrun(
        tmp_path, s3_tansu, seaweed, "scaleout-outage-long", monkeypatch, backlog=20_000,
        rate="200"))
