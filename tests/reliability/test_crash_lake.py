"""3. kill -9 of the recorder (its whole process tree, lake writer included) at chosen and
random moments — during fsync, during a Parquet write, between a publish's intent and its
cursor, at random — with a compactor process killed mid-run beside it. Afterwards: every
acknowledged spool frame is in the lake exactly once, no trade twice, no unreadable file,
the cursor consistent with what is published."""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ticklake.catalog import Lake
from ticklake.lake.writer import CURSOR, INTENT
from ticklake.spool import CursorStore, SpoolReader
from ticklake.tables import parse_file_name

from .common import compare_lake, figure, wait_for
from .procs import control, emulator_process, kill_group, recorder, stop_recorder

FSYNC_SYSCALLS = {"74", "75"}  # x86_64 fsync, fdatasync
MOMENTS = ("random", "fsync", "parquet_write", "publish", "compaction")

COMPACTOR = """
import datetime as dt, sys, time
from pathlib import Path
from ticklake.lake.compact import compact
from ticklake.lake.storage import LakeStorage
from ticklake.spool import CursorStore
# Today's partitions count as closed (tomorrow's date): the compactor merges what the
# recorder publishes while it publishes, the hardest case for both.
tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
storage, cursors = LakeStorage(sys.argv[1]), CursorStore(Path(sys.argv[2]))
while True:
    compact(storage, cursors, today=tomorrow)
    time.sleep(0.05)
"""


def spool_end(spool: Path) -> int:
    try:
        return SpoolReader(spool).end_offset()
    except Exception:
        return 0


def pending_publish(cursors: CursorStore) -> bool:
    """The writer committed an intent for a batch whose cursor it has not committed yet."""
    try:
        committed = cursors.load(CURSOR)[0]
        intent_end, intent = cursors.load(INTENT)
    except Exception:
        return False
    return bool(intent) and intent_end > committed and f'"first": {committed}}}' in intent.decode()


def in_fsync(pid: int) -> bool:
    for task in _tree_tasks(pid):
        try:
            if Path(task, "syscall").read_text().split(" ", 1)[0] in FSYNC_SYSCALLS:
                return True
        except OSError:
            continue
    return False


def _tree_tasks(pid: int) -> list[str]:
    pids = [pid]
    try:
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            pids.append(int(child))
    except OSError:
        pass
    tasks = []
    for each in pids:
        try:
            tasks += [f"/proc/{each}/task/{t}" for t in os.listdir(f"/proc/{each}/task")]
        except OSError:
            continue
    return tasks


def committed(cursors: CursorStore) -> int:
    try:
        return cursors.load(CURSOR)[0]
    except Exception:
        return 0


def await_moment(moment: str, pid: int, lake: Path, cursors: CursorStore,
                 rng: random.Random) -> bool:
    """Wait for the moment to kill at; False if it did not come within 3 s (killed anyway)."""
    tmp_dir = lake / "_ticklake" / "tmp"
    if moment == "fsync":
        return wait_moment(lambda: in_fsync(pid), 3.0)
    if moment == "parquet_write":
        return wait_moment(lambda: tmp_dir.is_dir() and bool(os.listdir(tmp_dir)), 3.0)
    if moment == "publish":
        return wait_moment(lambda: pending_publish(cursors), 3.0)
    time.sleep(rng.uniform(0.0, 1.0))
    return True


def wait_moment(condition: Callable[[], bool], budget: float) -> bool:
    """Spin (0.2 ms) until the moment comes; False if it did not within ``budget`` seconds."""
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.0002)
    return False


def crash_loop(tmp_path: Path, kills: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    lake, spool = tmp_path / "lake", tmp_path / "spool"
    cursors = CursorStore(spool / "cursors")
    tmp_dir = lake / "_ticklake" / "tmp"
    hit: Counter[str] = Counter()
    aimed: Counter[str] = Counter()
    started = time.monotonic()
    live: list[subprocess.Popen[bytes]] = []  # killed whatever happens to the test
    try:
        with emulator_process(tmp_path, "--symbols", "BTCUSD,BTCUSDT", "--rate", "60") as (
                url, truth):
            compactor: subprocess.Popen[bytes] | None = None
            for i in range(kills):
                moment = MOMENTS[i % len(MOMENTS)]
                aimed[moment] += 1
                env = {"TICKLAKE_LAKE__FSYNC": "always"} if moment == "fsync" else {}
                published = committed(cursors)
                cycle = time.monotonic()
                process = recorder(url, str(lake), spool, env=env)
                live.append(process)
                # Up and publishing (its lake writer is a process of its own, slower to start).
                wait_for(lambda: committed(cursors) > published, 60, "a publish")  # noqa: B023
                if compactor is None:
                    compactor = subprocess.Popen(
                        [sys.executable, "-c", COMPACTOR, str(lake), str(spool / "cursors")],
                        stdout=subprocess.DEVNULL, start_new_session=True)
                    live.append(compactor)
                caught = await_moment(moment, process.pid, lake, cursors, rng)
                if moment == "compaction":
                    kill_group(compactor)  # the compactor dies mid-run, at the same instant
                    compactor.wait()
                    compactor = None
                kill_group(process)
                process.wait()
                hit[moment] += caught
                # What the kill actually interrupted, read from the disk afterwards.
                hit["state: publish pending (intent > cursor)"] += pending_publish(cursors)
                hit["state: temporary Parquet file left"] += bool(
                    tmp_dir.exists() and os.listdir(tmp_dir))
                print(f"kill {i + 1}/{kills} {moment}: caught={caught} "
                      f"after {time.monotonic() - cycle:.1f}s", flush=True)
            if compactor is not None:
                kill_group(compactor)
                compactor.wait()
            control(url, "halt")
            halted_at = time.time_ns()
            final = recorder(url, str(lake), spool)
            live.append(final)

            def resubscribed_after_halt() -> bool:
                records = SpoolReader(spool).read(max(0, spool_end(spool) - 200),
                                                  max_records=200)
                return any(r.recv_ns > halted_at and b'"snapshot"' in r.payload for r in records)

            wait_for(resubscribed_after_halt, 60, "the resubscribe snapshot after the halt")
            assert stop_recorder(final) == 0
            # One more compaction, not killed: it must finish what the killed ones left.
            subprocess.run([sys.executable, "-c", COMPACTOR.replace("while True:", "for _ in [0]:"),
                            str(lake), str(spool / "cursors")], check=True, timeout=120)
    finally:
        for each in live:
            if each.poll() is None:
                kill_group(each)
                each.wait()
    return verify(lake, spool, truth, kills, hit, aimed, time.monotonic() - started)


def verify(lake: Path, spool: Path, truth: Path, kills: int, hit: Counter[str],
           aimed: Counter[str], seconds: float) -> dict[str, object]:
    unreadable = []
    for path in lake.rglob("*.parquet"):
        try:
            pq.read_table(path)
        except Exception as exc:  # an unreadable file is exactly what must not exist
            unreadable.append(f"{path}: {exc}")
    assert not unreadable, unreadable
    assert not list((lake / "_ticklake" / "tmp").iterdir()), "a temporary file was left"
    # Every acknowledged spool frame is in raw exactly once: offsets 0..end-1, each once.
    end = spool_end(spool)
    offsets = [r[0] for r in Lake(str(lake)).query(
        "SELECT spool_offset FROM raw ORDER BY spool_offset", max_rows=10**8).rows()]
    assert len(offsets) == end and offsets == list(range(end)), (len(offsets), end)
    # The cursor: at the spool's end, no batch pending, at the end of what is published.
    cursors = CursorStore(spool / "cursors")
    committed = cursors.load(CURSOR)[0]
    published = max(parse_file_name(p.name)[2] for p in (lake / "raw").rglob("*.parquet"))  # type: ignore[index]
    assert committed == end == published, (committed, end, published)
    assert not pending_publish(cursors)
    compacted = sum(1 for p in lake.rglob("compact-*.parquet"))
    assert compacted > 0, "the compactor never merged anything"
    # Trades: none twice, none invented; missing ones only inside recorded gaps (a restart
    # longer than the snapshot's reach). Owed: every trade after the first recorded
    # timestamp (the first snapshot may cut a group of trades sharing that timestamp).
    rows = Lake(str(lake)).query("SELECT symbol, min(ts_ns) FROM trades GROUP BY ALL").rows()
    result = compare_lake(str(lake), truth, {str(s): int(t) + 1 for s, t in rows})
    assert result.duplicated == result.invented == result.lost_silently == 0, result
    return {"kills": kills, "aimed": dict(aimed), "caught": dict(hit),
            "acknowledged_frames": end, "lake_raw_rows": len(offsets), "compact_files": compacted,
            "unreadable_files": 0, "seconds": round(seconds, 1), **result.summary(),
            "date": dt.datetime.now(dt.UTC).date().isoformat()}


@pytest.mark.timeout(900)
def test_kill_9_at_chosen_moments_keeps_every_acknowledged_frame_once(tmp_path: Path) -> None:
    figure("crash_kill9", **crash_loop(tmp_path, kills=15, seed=31))


@pytest.mark.long
@pytest.mark.timeout(3600)
def test_long_kill_9_fifty_times(tmp_path: Path) -> None:
    figure("crash_kill9_long", **crash_loop(tmp_path, kills=50, seed=32))
