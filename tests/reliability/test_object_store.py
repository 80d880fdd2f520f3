"""4. Slow sink: the object store (SeaweedFS) frozen with SIGSTOP — connections accepted,
nothing answered — while the recorder records: its memory stays flat, the exchange's socket
keeps being read (the emulator never drops it), the backlog drains once the store thaws.
6. Object-store outage: SeaweedFS down (stopped, then restarted on the same ports): 0 lost.

The recorder is a real ``ticklake record`` process writing to ``s3://``; the emulator a real
``ticklake emulate`` process whose heartbeat watchdog (3 s) drops a client that stops reading.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ticklake.lake.writer import CURSOR
from ticklake.spool import CursorStore, SpoolReader

from ..seaweed import SeaweedFS
from ..support import scaled
from .common import compare_lake, figure, rss_bytes, wait_for, wait_recorded
from .procs import control, emulator_process, recorder, stop_recorder

RATE = "150"  # trades/s per symbol
BACKLOG = 500  # frames held in the spool while the store is out, at least


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    server = SeaweedFS(tmp_path_factory.mktemp("seaweed-faults"))
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            os.killpg(server.process.pid, signal.SIGCONT)
        server.stop()


def committed(spool: Path) -> int:
    try:
        return CursorStore(spool / "cursors").load(CURSOR)[0]
    except Exception:
        return 0


def spool_end(spool: Path) -> int:
    try:
        return SpoolReader(spool).end_offset()
    except Exception:
        return 0


def sample_rss(process: subprocess.Popen[bytes], spool: Path, seconds: float,
               backlog: int) -> tuple[list[int], list[int]]:
    """RSS of the recorder's process tree and its lake cursor every 0.5 s for ``seconds``
    and until ``backlog`` frames wait in the spool (a loaded machine records fewer frames
    in the same time); the recorder must stay alive."""
    samples, cursors = [], []
    started = time.monotonic()
    deadline = started + seconds + scaled(60)
    while (time.monotonic() - started < seconds
           or spool_end(spool) - committed(spool) <= backlog):
        assert time.monotonic() < deadline, f"no backlog of {backlog} frames"
        samples.append(rss_bytes(process.pid))
        cursors.append(committed(spool))
        assert process.poll() is None, "the recorder died"
        time.sleep(0.5)
    return samples, cursors


def record_through(tmp_path: Path, store: SeaweedFS, name: str, seconds: float,
                   fault: Callable[[], None], heal: Callable[[], None],
                   monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Record, apply ``fault`` for ``seconds`` (sampling RSS), ``heal``, drain, compare."""
    for key, value in store.env().items():
        monkeypatch.setenv(key, value)
    root = f"s3://{store.bucket}/{name}"
    spool = tmp_path / "spool"
    samples: dict[str, list[int]] = {"before": [], "during": [], "after": []}
    # Heartbeats both ways, far shorter than the fault (a reader blocked by the store would
    # be dropped) and scaled (a loaded machine must not trip them).
    with emulator_process(tmp_path, "--symbols", "BTCUSD,BTCUSDT", "--rate", RATE,
                          "--heartbeat-timeout", str(scaled(3))) as (url, truth):
        control(url, "halt")  # until the recorder streams: every trade is then owed
        process = recorder(url, root, spool, log=tmp_path / "recorder.log",
                           env={"TICKLAKE_FEED__PING_INTERVAL": "1",
                                "TICKLAKE_FEED__PONG_TIMEOUT": str(scaled(3)),
                                "TICKLAKE_FEED__SILENCE_TIMEOUT": str(scaled(5))})
        try:
            wait_for(lambda: committed(spool) > 0, 60, "a first publish")
            control(url, "resume")
            time.sleep(1)
            for _ in range(10):
                samples["before"].append(rss_bytes(process.pid))
                time.sleep(0.3)
            fault()
            try:
                # Counted from when the fault is in place (a graceful stop can take seconds
                # under load and still answer); a publish already in flight may then land.
                frozen_at = committed(spool)
                samples["during"], cursors = sample_rss(process, spool, seconds, BACKLOG)
                backlog = spool_end(spool) - committed(spool)
                publishes_during = len({frozen_at, *cursors}) - 1
            finally:
                heal()
            healed = time.monotonic()
            target = spool_end(spool)
            wait_for(lambda: committed(spool) >= target, 120, "the backlog to drain")
            drained_s = time.monotonic() - healed
            for _ in range(6):
                samples["after"].append(rss_bytes(process.pid))
                time.sleep(0.3)
            state = control(url, "state")
            control(url, "halt")
            wait_recorded(root, spool, truth)
        finally:
            code = stop_recorder(process, timeout=120)
    assert code == 0, (tmp_path / "recorder.log").read_text()[-3000:]
    # The socket kept being read: one connection all along, never dropped by the exchange.
    assert state["connections_total"] == 1 and state["heartbeat_drops"] == 0, state
    assert publishes_during <= 1 and backlog > BACKLOG, (publishes_during, backlog, cursors)
    result = compare_lake(root, truth)
    assert result.duplicated == result.invented == 0, result
    assert result.lost_silently == result.lost_in_reported_gaps == 0, result
    mib = 2**20
    before, during = max(samples["before"]), samples["during"]
    third = max(1, len(during) // 3)
    growth = max(during[-third:]) - max(during[:third])
    assert max(during) - before < 64 * mib, samples  # bounded: not a copy of the backlog
    assert growth < 16 * mib, samples  # and flat: no growth with the backlog
    return {"store_fault_s": seconds, "backlog_frames": backlog,
            "rss_mib_before": round(before / mib, 1),
            "rss_mib_max_during": round(max(during) / mib, 1),
            "rss_mib_growth_last_vs_first_third": round(growth / mib, 1),
            "drain_s": round(drained_s, 1), "exchange_connections": state["connections_total"],
            "heartbeat_drops": state["heartbeat_drops"], **result.summary()}


def freeze(store: SeaweedFS) -> tuple[Callable[[], None], Callable[[], None]]:
    assert store.process is not None
    pid = store.process.pid
    return (lambda: os.killpg(pid, signal.SIGSTOP)), (lambda: os.killpg(pid, signal.SIGCONT))


def outage(store: SeaweedFS) -> tuple[Callable[[], None], Callable[[], None]]:
    return store.stop, store.start


@pytest.mark.timeout(600)
def test_a_frozen_object_store_keeps_memory_flat_and_the_socket_read(
        tmp_path: Path, store: SeaweedFS, monkeypatch: pytest.MonkeyPatch) -> None:
    figure("slow_sink", **record_through(tmp_path, store, "frozen", 12, *freeze(store),
                                         monkeypatch=monkeypatch))


@pytest.mark.timeout(600)
def test_an_object_store_outage_loses_nothing(
        tmp_path: Path, store: SeaweedFS, monkeypatch: pytest.MonkeyPatch) -> None:
    figure("store_outage", **record_through(tmp_path, store, "outage", 12, *outage(store),
                                            monkeypatch=monkeypatch))


@pytest.mark.long
@pytest.mark.timeout(1800)
def test_long_frozen_object_store(tmp_path: Path, store: SeaweedFS,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    figure("slow_sink_long", **record_through(tmp_path, store, "frozen-long", 180,
                                              *freeze(store), monkeypatch=monkeypatch))


@pytest.mark.long
@pytest.mark.timeout(1800)
def test_long_object_store_outage_of_five_minutes(
        tmp_path: Path, store: SeaweedFS, monkeypatch: pytest.MonkeyPatch) -> None:
    figure("store_outage_long", **record_through(tmp_path, store, "outage-long", 300,
                                                 *outage(store), monkeypatch=monkeypatch))
