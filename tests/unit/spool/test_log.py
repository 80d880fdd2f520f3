"""Spool: retention by cursors, high watermark, exports."""

from __future__ import annotations

from pathlib import Path

import pytest

import ticklake.spool
from ticklake.model import RawFrame
from ticklake.spool import FsyncPolicy, Spool, SpoolError, SpoolReader, SpoolWriter

from .helpers import frame_for, read_all, segment_files


def test_exports() -> None:
    assert sorted(ticklake.spool.__all__) == sorted([
        "Spool", "SpoolWriter", "SpoolReader", "SpoolRecord", "FsyncPolicy", "CursorStore",
        "SpoolError", "SpoolCorrupt",
    ])


def test_layout_and_round_trip(tmp_path: Path) -> None:
    with Spool(tmp_path, fsync=FsyncPolicy.ALWAYS) as spool:
        assert spool.writer().append(RawFrame(1, 2, b"a")) == 0
        spool.writer().flush()
        assert spool.end_offset() == 1
        assert [r.payload for r in spool.read(0)] == [b"a"]
        spool.commit("lake", 1, b"s")
        assert spool.committed("lake") == (1, b"s")
        assert spool.writer() is spool.writer()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cursors", "segments"]
    assert Spool(tmp_path).end_offset() == 1  # no writer: what is on disk


def test_read_stops_at_the_durable_offset(tmp_path: Path) -> None:
    with Spool(tmp_path, fsync=FsyncPolicy.INTERVAL, fsync_interval=3600) as spool:
        writer = spool.writer()
        for i in range(3):
            writer.append(frame_for(0, i))
        writer.flush()
        assert spool.end_offset() == 0
        assert spool.read(0) == []
        assert len(spool.reader().read(0)) == 3  # a raw reader sees the page cache
        writer.sync()
        assert [r.offset for r in spool.read(1)] == [1, 2]
        writer.append(frame_for(0, 3))
        writer.flush()
        assert [r.offset for r in spool.read(0, max_records=10)] == [0, 1, 2]


def fill(spool: Spool, n: int) -> None:
    writer = spool.writer()
    for i in range(n):
        writer.append(frame_for(6, i))
    writer.flush()


def test_delete_before_removes_only_whole_old_segments(tmp_path: Path) -> None:
    with SpoolWriter(tmp_path, fsync=FsyncPolicy.NEVER, segment_bytes=1024) as writer:
        for i in range(100):
            writer.append(frame_for(6, i))
        bases = [int(p.stem) for p in segment_files(tmp_path)]
        assert len(bases) > 4
        assert writer.delete_before(bases[1] - 1) == 0  # segment 0 still has a needed record
        assert writer.delete_before(bases[2]) == 2
        assert [int(p.stem) for p in segment_files(tmp_path)] == bases[2:]
        assert writer.delete_before(10**9) == len(bases) - 3  # never the active one
        assert [int(p.stem) for p in segment_files(tmp_path)] == bases[-1:]
        assert writer.append(frame_for(6, 100)) == 100
    reader = SpoolReader(tmp_path)
    assert reader.first_offset() == bases[-1]
    assert read_all(tmp_path, bases[-1])[-1].offset == 100
    with pytest.raises(SpoolError) as caught:
        reader.read(3)
    message = str(caught.value)
    assert f"offset 3 is below the oldest retained spool offset {bases[-1]}" in message
    assert "\n" not in message


def test_retain_uses_the_minimum_cursor(tmp_path: Path) -> None:
    with Spool(tmp_path, fsync=FsyncPolicy.NEVER, segment_bytes=1024) as spool:
        fill(spool, 100)
        bases = [int(p.stem) for p in segment_files(tmp_path)]
        assert spool.retain() == 0  # nobody committed: keep everything
        spool.commit("lake", bases[3])
        spool.commit("detector", bases[1])
        assert spool.retain() == 1
        assert spool.reader().first_offset() == bases[1]
        spool.commit("detector", 100)
        assert spool.retain() == 2
        assert spool.reader().first_offset() == bases[3]
    with Spool(tmp_path) as spool:  # no writer open here: deletes on its own
        spool.commit("lake", 100)
        assert spool.retain() == len(bases) - 4
        assert [int(p.stem) for p in segment_files(tmp_path)] == bases[-1:]
