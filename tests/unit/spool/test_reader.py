"""SpoolReader: offsets, limits, seeking without rescans, reading while the writer appends."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from ticklake.model import RawFrame
from ticklake.spool import FsyncPolicy, SpoolError, SpoolReader, SpoolRecord, SpoolWriter

from .helpers import frame_for, payload_for, scaled, wait_for


def fill(directory: Path, n: int, segment_bytes: int = 4096, seed: int = 2) -> None:
    with SpoolWriter(directory, fsync=FsyncPolicy.NEVER, segment_bytes=segment_bytes) as w:
        for i in range(n):
            w.append(frame_for(seed, i))


def test_empty_spool(tmp_path: Path) -> None:
    reader = SpoolReader(tmp_path)
    assert reader.read(0) == []
    assert reader.end_offset() == reader.first_offset() == 0
    SpoolWriter(tmp_path).close()
    assert reader.read(0) == [] and reader.read(5) == []
    assert reader.end_offset() == 0


def test_reads_from_arbitrary_offsets(tmp_path: Path) -> None:
    fill(tmp_path, 500)
    reader = SpoolReader(tmp_path)
    rng = random.Random(7)
    for _ in range(200):
        start = rng.randrange(0, 520)
        count = rng.randrange(1, 60)
        got = reader.read(start, max_records=count)
        expected = list(range(start, min(start + count, 500)))
        assert [r.offset for r in got] == expected
        assert all(r.payload == payload_for(2, r.offset) for r in got)
    assert reader.end_offset() == 500


def test_max_bytes_limit(tmp_path: Path) -> None:
    with SpoolWriter(tmp_path, fsync=FsyncPolicy.NEVER, segment_bytes=300) as writer:
        for i in range(20):
            writer.append(RawFrame(0, i, bytes([i]) * 100))
    reader = SpoolReader(tmp_path)
    assert [r.offset for r in reader.read(3, max_bytes=350)] == [3, 4, 5]
    assert [r.offset for r in reader.read(3, max_bytes=50)] == [3]  # one record at least
    assert [r.offset for r in reader.read(3, max_bytes=100, max_records=5)] == [3]
    assert len(reader.read(0, max_bytes=10**9, max_records=10**6)) == 20


@pytest.mark.parametrize(
    ("offset", "max_records", "max_bytes"), [(-1, 1, 1), (0, 0, 1), (0, 1, 0)]
)
def test_invalid_read_arguments(tmp_path: Path, offset: int, max_records: int,
                                max_bytes: int) -> None:
    with pytest.raises(SpoolError, match="invalid read"):
        SpoolReader(tmp_path).read(offset, max_records, max_bytes)


def test_rereading_inside_a_large_segment_does_not_rescan(tmp_path: Path) -> None:
    with SpoolWriter(tmp_path, fsync=FsyncPolicy.NEVER) as writer:
        for i in range(20_000):
            writer.append(RawFrame(0, i, b"p" * 100))  # one ~2.4 MB segment
    reader = SpoolReader(tmp_path)
    assert reader.read(15_000, max_records=1)[0].offset == 15_000  # validates the prefix once
    assert reader.bytes_read > 15_000 * 120
    assert reader.end_offset() == 20_000  # ... and the rest
    for start in (15_000, 15_001, 12_345, 19_999, 100, 15_000):
        before = reader.bytes_read
        assert reader.read(start, max_records=10)[0].offset == start
        # at most one index stride of headers plus one read-ahead window
        assert reader.bytes_read - before <= 256 * 120 + 2**16 + 4096


def test_concurrent_reader_never_sees_a_partial_record(tmp_path: Path) -> None:
    n = 3000
    rng = random.Random(11)
    sizes = [rng.choice([0, 1, 150, 4095, 4096, 4097, 20_000, 70_000]) for _ in range(n)]
    payloads = [bytes([i % 251]) * size for i, size in enumerate(sizes)]
    SpoolWriter(tmp_path).close()
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            with SpoolWriter(tmp_path, fsync=FsyncPolicy.NEVER, segment_bytes=200_000) as w:
                for i, payload in enumerate(payloads):
                    w.append(RawFrame(1, i, payload))
                    if i % 5 == 4:  # one os.write of several records, for the reader to race
                        w.flush()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    thread = threading.Thread(target=produce)
    thread.start()
    reader = SpoolReader(tmp_path)
    got: list[SpoolRecord] = []

    def caught_up() -> bool:
        assert not errors
        batch = reader.read(len(got), max_records=rng.randrange(1, 500))
        for record in batch:
            assert record.offset == len(got)
            assert record.payload == payloads[record.offset]
            got.append(record)
        return len(got) == n

    try:
        wait_for(caught_up, 60, "the reader to see every record")
    finally:
        thread.join(scaled(60))
    assert not errors
    assert reader.end_offset() == n


def test_reader_sees_new_segments_and_tail(tmp_path: Path) -> None:
    reader = SpoolReader(tmp_path)
    with SpoolWriter(tmp_path, fsync=FsyncPolicy.NEVER, segment_bytes=500) as writer:
        seen = 0
        for i in range(100):
            writer.append(frame_for(4, i))
            writer.flush()
            batch = reader.read(seen)
            assert [r.offset for r in batch] == list(range(seen, i + 1))
            seen = i + 1
            assert reader.end_offset() == seen
