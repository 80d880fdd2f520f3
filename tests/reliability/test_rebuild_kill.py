"""kill -9 of ``ticklake rebuild`` at random points: every partition is either its old self or
its new one, never a mix, never a duplicate, nothing lost; the run after the kills finishes
the job, and a run after that finds nothing to do.

The lake is written by the real LakeWriter from a three-day spool, then its ``trades`` files
are turned into files an older ticklake wrote (no ``msg_index``), so that a rebuild rewrites
every partition. Each attempt is a real ``ticklake rebuild`` process, killed (its whole
process group) after a random delay spread over the time a full run takes.
"""

from __future__ import annotations

import random
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ticklake.catalog import Lake

from ..unit.lake.recorded import record
from ..unit.lake.test_rebuild import drop_column
from .procs import TICKLAKE, kill_group

KEY = "symbol, ts_ns, side, price, qty, spool_offset"


def state(root: Path) -> tuple[Counter[tuple[Any, ...]], dict[str, str]]:
    """The trades as a multiset (without msg_index), and each partition's msg_index state:
    "old" (all null), "new" (none null) or "mixed"."""
    lake = Lake(str(root))
    rows = Counter(lake.query(f"SELECT {KEY} FROM trades", max_rows=None).rows())
    kinds = {}
    for symbol, day, nulls, total in lake.query(
            "SELECT symbol, CAST(date AS VARCHAR), count(*) FILTER (WHERE msg_index IS NULL),"
            " count(*) FROM trades GROUP BY ALL", max_rows=None).rows():
        kinds[f"{symbol}/{day}"] = ("old" if nulls == total else "new" if nulls == 0
                                    else "mixed")
    return rows, kinds


def run(root: Path, kill_after: float | None) -> tuple[int | None, float]:
    """A ``ticklake rebuild`` of ``root``'s trades: its exit code, or None if it was killed
    after ``kill_after`` seconds; and how long it ran."""
    started = time.monotonic()
    errors = root.parent / "rebuild.err"
    with errors.open("w") as stderr:
        process = subprocess.Popen(
            [*TICKLAKE, "rebuild", "--lake", str(root), "--tables", "trades"],
            stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True)
        try:
            process.wait(timeout=kill_after if kill_after is not None else 120)
        except subprocess.TimeoutExpired:
            kill_group(process)
            return None, time.monotonic() - started
        finally:
            if process.poll() is None:
                kill_group(process)
    assert process.returncode == 0, errors.read_text()
    return process.returncode, time.monotonic() - started


def test_kill_9_during_a_rebuild_leaves_each_partition_old_or_new(tmp_path: Path) -> None:
    pristine_root = tmp_path / "pristine"
    recorded = record(pristine_root, steps=24_000, every=2_000)
    pristine = Lake(str(recorded.root)).query(
        f"SELECT {KEY}, msg_index FROM trades", max_rows=None).rows()
    work = tmp_path / "work"
    subprocess.run(["cp", "-a", str(recorded.root), str(work)], check=True)
    assert drop_column(work, "trades", "*", "msg_index")  # every day's files
    rows, kinds = state(work)
    assert rows == Counter(r[:-1] for r in pristine) and set(kinds.values()) == {"old"}

    # How long a whole run takes, on a copy (this machine, this load).
    probe = tmp_path / "probe"
    subprocess.run(["cp", "-a", str(work), str(probe)], check=True)
    _, full = run(probe, None)
    rng = random.Random(19)
    killed = 0
    for attempt in range(6):
        code, _ = run(work, rng.uniform(0.05, 1.1) * full)
        killed += code is None
        now, kinds = state(work)
        assert now == rows, f"attempt {attempt}: rows lost or duplicated"
        assert "mixed" not in kinds.values(), (attempt, kinds)
    assert killed >= 3  # (most attempts were cut short, at different points)
    code, _ = run(work, None)
    assert code == 0
    now, kinds = state(work)
    assert now == rows and set(kinds.values()) == {"new"}
    final = Lake(str(work)).query(f"SELECT {KEY}, msg_index FROM trades",
                                  max_rows=None).rows()
    assert Counter(final) == Counter(pristine)  # msg_index derived exactly as live
    out = subprocess.run([*TICKLAKE, "rebuild", "--lake", str(work), "--tables", "trades"],
                         capture_output=True, text=True, check=True).stdout
    assert "rewrote 0 partitions" in out
