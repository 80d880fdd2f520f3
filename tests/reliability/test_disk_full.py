"""5. Disk full: a small tmpfs (8 MiB) the test mounts itself, filled with ballast, holding
the spool or the lake of a real ``ticklake record`` process.

Policy (docs/reliability.md): the spool is the acknowledgement, so a frame that cannot be
appended stops the recording — one-line error, exit code 2, the spool and the lake left
consistent (no partial record, every spooled frame published exactly once); a restart once
space is back resumes. A full lake only delays publishing: the spool keeps the backlog and
the writer retries until space returns.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ticklake.catalog import Lake
from ticklake.lake.writer import CURSOR, INTENT
from ticklake.spool import CursorStore, SpoolReader

from .common import compare_lake, figure, wait_for, wait_recorded
from .procs import control, emulator_process, recorder, stop_recorder

SIZE = "8m"
LEFT = 256 * 1024  # bytes left free by the ballast


@contextlib.contextmanager
def small_filesystem(path: Path) -> Iterator[Path]:
    path.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(path)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip() or 'not permitted'})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> Path:
    """Ballast that leaves about ``LEFT`` bytes free."""
    ballast = path / "ballast"
    stat = os.statvfs(path)
    free = stat.f_bavail * stat.f_frsize
    with ballast.open("wb") as out:
        out.write(b"\0" * max(0, free - LEFT))
    return ballast


def committed(spool: Path) -> int:
    with contextlib.suppress(Exception):
        return CursorStore(spool / "cursors").load(CURSOR)[0]
    return 0


def spool_end(spool: Path) -> int:
    with contextlib.suppress(Exception):
        return SpoolReader(spool).end_offset()
    return 0


def published_prefix(lake: Path, spool: Path) -> int:
    """Raw holds spool frames [0, cursor) exactly once; the spool reads without damage."""
    reader = SpoolReader(spool)
    end, first = reader.end_offset(), reader.first_offset()
    assert len(reader.read(first, 10**7)) == end - first  # no SpoolCorrupt, no hole
    cursor = committed(spool)
    offsets = [r[0] for r in Lake(str(lake)).query(
        "SELECT spool_offset FROM raw ORDER BY 1", max_rows=10**8).rows()]
    # Beyond the cursor only the batch of a pending intent may be published (it is redone
    # under the same names, so still exactly once).
    intent_end = CursorStore(spool / "cursors").load(INTENT)[0]
    assert offsets == list(range(len(offsets))), "a frame twice or a hole in raw"
    assert cursor <= len(offsets) <= max(cursor, intent_end) <= end, (
        len(offsets), cursor, intent_end, end)
    return end


def test_a_full_spool_disk_stops_with_one_line_and_resumes_after(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "small") as small, \
            emulator_process(tmp_path, "--symbols", "BTCUSD,BTCUSDT", "--rate", "200") as (
                url, truth):
        spool, lake = small / "spool", tmp_path / "lake"
        control(url, "halt")
        first = recorder(url, str(lake), spool, log=tmp_path / "first.log")
        wait_for(lambda: committed(spool) > 0, 60, "a first publish")
        control(url, "resume")
        ballast = fill(small)
        filled = time.monotonic()
        code = first.wait(timeout=120)
        stopped_s = time.monotonic() - filled
        output = (tmp_path / "first.log").read_text()
        frames_before = published_prefix(lake, spool)  # the rest waits in the spool
        os.unlink(ballast)  # space is back
        second = recorder(url, str(lake), spool, log=tmp_path / "second.log")
        wait_for(lambda: spool_end(spool) > frames_before + 100, 60, "recording to resume")
        control(url, "halt")
        wait_recorded(str(lake), spool, truth)
        assert stop_recorder(second) == 0, (tmp_path / "second.log").read_text()[-2000:]
        frames = published_prefix(lake, spool)
        assert committed(spool) == frames  # drained: every frame published exactly once
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert code == 2, output[-3000:]
    assert len(errors) == 1 and "No space left on device" in errors[0], output[-3000:]
    assert str(spool) in errors[0]
    result = compare_lake(str(lake), truth)
    assert result.duplicated == result.invented == result.lost_silently == 0, result
    figure("disk_full_spool", tmpfs=SIZE, exit_code=code,
           error=errors[0].replace(str(tmp_path), "…"),
           tracebacks_printed=output.count("Traceback"), stopped_after_s=round(stopped_s, 1),
           frames_before=frames_before, frames=frames, **result.summary())
    # One line, not a stack: the logs must not dump tracebacks for an expected I/O error.
    assert "Traceback" not in output, output[-3000:]


def test_a_full_lake_disk_delays_publishing_and_loses_nothing(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "small") as small, \
            emulator_process(tmp_path, "--symbols", "BTCUSD,BTCUSDT", "--rate", "200") as (
                url, truth):
        spool, lake = tmp_path / "spool", small / "lake"
        control(url, "halt")
        process = recorder(url, str(lake), spool, log=tmp_path / "recorder.log")
        try:
            wait_for(lambda: committed(spool) > 0, 60, "a first publish")
            control(url, "resume")
            ballast = fill(small)
            wait_for(lambda: spool_end(spool) - committed(spool) > 500, 60,
                     "publishing to stall and a backlog to build")
            held, end = committed(spool), spool_end(spool)
            # Stalled, not slow: while 300 more frames are recorded, nothing is published.
            wait_for(lambda: spool_end(spool) > end + 300, 60, "300 more frames recorded")
            assert committed(spool) == held
            assert process.poll() is None, "the recorder must keep recording"
            os.unlink(ballast)
            freed = time.monotonic()
            target = spool_end(spool)
            wait_for(lambda: committed(spool) >= target, 120, "publishing to resume")
            resumed_s = time.monotonic() - freed
            control(url, "halt")
            wait_recorded(str(lake), spool, truth)
        finally:
            code = stop_recorder(process)
        output = (tmp_path / "recorder.log").read_text()
        assert code == 0, output[-3000:]
        frames = published_prefix(lake, spool)
        assert committed(spool) == frames
        result = compare_lake(str(lake), truth)
    assert result.duplicated == result.invented == 0, result
    assert result.lost_silently == result.lost_in_reported_gaps == 0, result
    figure("disk_full_lake", tmpfs=SIZE, resumed_after_s=round(resumed_s, 1), frames=frames,
           **result.summary())
