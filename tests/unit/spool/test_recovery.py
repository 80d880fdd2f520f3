"""Recovery: a torn or damaged tail is truncated; damage in an older segment is SpoolCorrupt."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from ticklake.model import RawFrame
from ticklake.spool import FsyncPolicy, SpoolCorrupt, SpoolReader, SpoolWriter
from ticklake.spool.segment import HEADER_SIZE, RECORD_HEADER_SIZE

from .helpers import frame_for, read_all, segment_files


def write(directory: Path, n: int, seed: int = 5, segment_bytes: int = 64 * 2**20) -> None:
    with SpoolWriter(directory, fsync=FsyncPolicy.NEVER, segment_bytes=segment_bytes) as w:
        for i in range(n):
            w.append(frame_for(seed, i))


def record_ends(directory: Path, seed: int, n: int) -> list[int]:
    """Byte position after each record of a single-segment spool."""
    ends, pos = [], HEADER_SIZE
    for i in range(n):
        pos += RECORD_HEADER_SIZE + len(frame_for(seed, i).payload)
        ends.append(pos)
    return ends


def check_reopened(directory: Path, complete: int, seed: int = 5) -> None:
    """``complete`` records survive intact, the next append gets offset ``complete``."""
    with SpoolWriter(directory, fsync=FsyncPolicy.NEVER) as writer:
        assert writer.end_offset == complete
        assert writer.append(RawFrame(9, 9, b"after")) == complete
    got = read_all(directory)
    assert [r.offset for r in got] == list(range(complete + 1))
    assert [r.payload for r in got[:complete]] == [
        frame_for(seed, i).payload for i in range(complete)
    ]
    assert got[-1].payload == b"after"


def test_truncation_at_every_byte_of_the_last_record(tmp_path: Path) -> None:
    pristine_dir = tmp_path / "pristine"
    n = 12
    write(pristine_dir, n - 1)
    with SpoolWriter(pristine_dir, fsync=FsyncPolicy.NEVER) as writer:
        writer.append(RawFrame(1, 2, b"\xfflast record payload, 40 bytes long....."))
    (segment,) = segment_files(pristine_dir)
    pristine = segment.read_bytes()
    last_start = record_ends(pristine_dir, 5, n - 1)[-1]
    assert len(pristine) - last_start == RECORD_HEADER_SIZE + 40
    spool = tmp_path / "spool"
    for cut in range(last_start, len(pristine)):
        target = spool / "segments" / segment.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(pristine[:cut])
        assert SpoolReader(spool).end_offset() == n - 1  # readers skip the torn tail too
        check_reopened(spool, n - 1)


def test_truncation_at_random_places(tmp_path: Path) -> None:
    rng = random.Random(1234)
    pristine_dir = tmp_path / "pristine"
    n = 60
    write(pristine_dir, n)
    (segment,) = segment_files(pristine_dir)
    pristine = segment.read_bytes()
    ends = record_ends(pristine_dir, 5, n)
    assert ends[-1] == len(pristine)
    for attempt in range(25):
        cut = rng.randrange(HEADER_SIZE, len(pristine) + 1)
        spool = tmp_path / f"spool{attempt}"
        (spool / "segments").mkdir(parents=True)
        (spool / "segments" / segment.name).write_bytes(pristine[:cut])
        check_reopened(spool, sum(1 for end in ends if end <= cut))


def test_flipped_byte_in_the_last_record_is_truncated(tmp_path: Path) -> None:
    write(tmp_path, 10)
    (segment,) = segment_files(tmp_path)
    data = bytearray(segment.read_bytes())
    start = record_ends(tmp_path, 5, 9)[-1]
    for position in (start + 5, start + 10, len(data) - 1):  # crc, recv_ns, payload
        damaged = data.copy()
        damaged[position] ^= 0x40
        segment.write_bytes(damaged)
        assert SpoolReader(tmp_path).end_offset() == 9
        check_reopened(tmp_path, 9)
        segment.write_bytes(data)


def test_damage_inside_the_newest_segment_drops_the_rest(tmp_path: Path) -> None:
    """Documented trade-off: the newest segment cannot tell a torn tail from other damage."""
    write(tmp_path, 10)
    (segment,) = segment_files(tmp_path)
    data = bytearray(segment.read_bytes())
    data[record_ends(tmp_path, 5, 4)[-1] + 9] ^= 1  # inside record 4
    segment.write_bytes(data)
    check_reopened(tmp_path, 4)


def test_flipped_byte_in_an_older_segment_is_corrupt(tmp_path: Path) -> None:
    write(tmp_path, 200, segment_bytes=2048)
    files = segment_files(tmp_path)
    assert len(files) > 3
    older = files[1]
    data = bytearray(older.read_bytes())
    position = len(data) // 2
    data[position] ^= 0x01
    older.write_bytes(data)
    with SpoolWriter(tmp_path, fsync=FsyncPolicy.NEVER):  # opening checks the newest only
        pass
    with pytest.raises(SpoolCorrupt) as caught:
        read_all(tmp_path)
    message = str(caught.value)
    assert older.name in message and "byte" in message and "\n" not in message
    first = int(files[1].stem)
    assert [r.offset for r in SpoolReader(tmp_path).read(0, max_records=first)] == list(
        range(first)
    )
    after = int(files[2].stem)
    assert SpoolReader(tmp_path).read(after)[0].offset == after  # later segments still read


def test_an_older_segment_missing_records_is_corrupt(tmp_path: Path) -> None:
    write(tmp_path, 200, segment_bytes=2048)
    older = segment_files(tmp_path)[0]
    data = older.read_bytes()
    cut = HEADER_SIZE + RECORD_HEADER_SIZE + len(frame_for(5, 0).payload)  # one whole record
    older.write_bytes(data[:cut])
    with pytest.raises(SpoolCorrupt, match=f"{older.name}.*unexpected end of file"):
        read_all(tmp_path)


def test_bad_header_in_the_newest_segment_is_corrupt(tmp_path: Path) -> None:
    write(tmp_path, 3)
    (segment,) = segment_files(tmp_path)
    data = bytearray(segment.read_bytes())
    data[0] ^= 0xFF
    segment.write_bytes(data)
    with pytest.raises(SpoolCorrupt, match="bad magic"):
        SpoolWriter(tmp_path)
    with pytest.raises(SpoolCorrupt, match="bad magic"):
        SpoolReader(tmp_path).read(0)


def test_torn_header_of_an_empty_newest_segment_is_rewritten(tmp_path: Path) -> None:
    write(tmp_path, 30, segment_bytes=1024)
    write(tmp_path, 0)  # reopen ...
    files = segment_files(tmp_path)
    newest_base = int(files[-1].stem)
    with SpoolWriter(tmp_path, fsync=FsyncPolicy.NEVER, segment_bytes=1024) as writer:
        while len(segment_files(tmp_path)) == len(files):
            writer.append(frame_for(5, writer.end_offset))
        end = writer.end_offset
    newest = segment_files(tmp_path)[-1]
    assert int(newest.stem) > newest_base
    newest.write_bytes(newest.read_bytes()[:7])  # a rotation cut short by a power loss
    with SpoolWriter(tmp_path, fsync=FsyncPolicy.NEVER) as writer:
        assert writer.end_offset == end - 1  # the record written into it is gone
    assert len(read_all(tmp_path)) == end - 1


def test_stray_temp_segment_is_removed(tmp_path: Path) -> None:
    write(tmp_path, 3)
    stray = tmp_path / "segments" / "00000000000000000003.seg.tmp"
    stray.write_bytes(b"TLSP")
    with SpoolWriter(tmp_path) as writer:
        assert writer.end_offset == 3
    assert not stray.exists()
