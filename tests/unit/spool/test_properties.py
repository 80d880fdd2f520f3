"""Properties: crash/reopen sequences keep the acknowledged prefix; readers survive any bytes."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from ticklake.model import RawFrame
from ticklake.spool import FsyncPolicy, SpoolError, SpoolReader, SpoolRecord, SpoolWriter
from ticklake.spool.segment import HEADER_SIZE, RECORD_HEADER_SIZE, encode_header, encode_record

SEGMENT_BYTES = 400


class SpoolMachine(RuleBasedStateMachine):
    """A model (list of payloads) against the real spool, with simulated crashes.

    Appends queue in the writer until a flush (or a rotation) writes them, so readers see a
    prefix of the model: at least what the machine flushed. A kill -9 loses exactly the queue.
    A crash (power loss) damages only what is not acknowledged: bytes of the newest segment at
    or after the first record >= durable_offset (the INTERVAL thread never fires on its own
    here, so durability advances only by sync, rotation and reopen). After reopening, the
    spool must hold exactly the model prefix that precedes the damage -- at least every
    acknowledged one.
    """

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="spool-prop-"))
        self.model: list[bytes] = []
        self.flushed = 0  # the model prefix known to be written
        self.writer = self._open()
        self.reader = SpoolReader(self.dir)

    def _open(self) -> SpoolWriter:
        return SpoolWriter(self.dir, fsync=FsyncPolicy.INTERVAL, fsync_interval=3600,
                           segment_bytes=SEGMENT_BYTES)

    @initialize()
    def start(self) -> None:
        assert self.writer.end_offset == 0

    @rule(burst=st.lists(st.binary(max_size=150), min_size=1, max_size=6))
    def append(self, burst: list[bytes]) -> None:
        for payload in burst:  # a burst often crosses SEGMENT_BYTES with frames queued
            assert self.writer.append(RawFrame(len(self.model), 5, payload)) == len(self.model)
            self.model.append(payload)

    @rule()
    def flush(self) -> None:
        self.writer.flush()
        self.flushed = len(self.model)

    @rule()
    def sync(self) -> None:
        self.writer.sync()
        self.flushed = len(self.model)
        assert self.writer.durable_offset == len(self.model)

    @rule()
    def reopen(self) -> None:
        self.writer.close()
        self.writer = self._open()
        self.flushed = len(self.model)
        assert self.writer.end_offset == len(self.model)

    @rule()
    def kill(self) -> None:
        written = len(self._read_all())
        self.writer.close()  # stands in for the kill: what it flushes is cut off below
        path, base, bounds = self._newest()
        assert written >= base  # a rotation writes the queue first
        path.write_bytes(path.read_bytes()[: bounds[written - base]])
        self.writer = self._open()
        assert self.writer.end_offset == written
        del self.model[written:]
        self.flushed = written

    def _newest(self) -> tuple[Path, int, list[int]]:
        newest = sorted((self.dir / "segments").glob("*.seg"))[-1]
        base = int(newest.stem)
        starts, pos = [], HEADER_SIZE
        for payload in self.model[base:]:
            starts.append(pos)
            pos += RECORD_HEADER_SIZE + len(payload)
        assert pos == newest.stat().st_size
        return newest, base, [*starts, pos]

    @precondition(lambda self: self.writer.durable_offset < len(self.model))
    @rule(where=st.floats(0, 1), flip=st.booleans(), bit=st.integers(0, 7))
    def crash(self, where: float, flip: bool, bit: int) -> None:
        durable = self.writer.durable_offset
        self.writer.close()  # its final fsync changes no bytes; the damage stands for a crash
        path, base, bounds = self._newest()
        first = bounds[durable - base]
        size = bounds[-1]
        data = bytearray(path.read_bytes())
        position = first + int(where * (size - first - 1))
        if flip:
            data[position] ^= 1 << bit
            survivors = max(i for i, start in enumerate(bounds) if start <= position)
        else:
            del data[position:]
            survivors = max(i for i, end in enumerate(bounds) if end <= position)
        path.write_bytes(bytes(data))
        self.writer = self._open()
        assert durable <= base + survivors == self.writer.end_offset
        del self.model[base + survivors :]
        self.flushed = len(self.model)
        self.reader = SpoolReader(self.dir)  # readers die with the machine, too

    def _read_all(self) -> list[SpoolRecord]:
        got: list[SpoolRecord] = []
        while batch := self.reader.read(len(got), max_records=7, max_bytes=300):
            got.extend(batch)
        return got

    @invariant()
    def reader_returns_a_prefix_of_the_model(self) -> None:
        got = self._read_all()
        written = len(got)
        assert self.flushed <= written <= len(self.model)  # the rest is queued
        assert [r.payload for r in got] == self.model[:written]
        assert [r.offset for r in got] == list(range(written))
        assert self.reader.end_offset() == written
        assert self.writer.durable_offset <= written

    def teardown(self) -> None:
        self.writer.close()
        shutil.rmtree(self.dir, ignore_errors=True)


TestSpoolMachine = SpoolMachine.TestCase
TestSpoolMachine.settings = settings(max_examples=40, stateful_step_count=30, deadline=None,
                                     suppress_health_check=[HealthCheck.too_slow])


def _pristine() -> list[tuple[str, bytes]]:
    """Three segments of a valid spool, built in memory."""
    files, offset = [], 0
    for count in (4, 3, 5):
        data = encode_header(offset) + b"".join(
            encode_record(i, i % 3, bytes([i]) * (i * 7 % 40)) for i in range(offset,
                                                                              offset + count)
        )
        files.append((f"{offset:020d}.seg", data))
        offset += count
    return files


PRISTINE = _pristine()

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 2), st.integers(0, 400), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 2), st.integers(0, 400), st.just(0)),
    st.tuples(st.just("append"), st.integers(0, 2), st.binary(max_size=64), st.just(0)),
    st.tuples(st.just("splice"), st.integers(0, 2), st.integers(0, 400), st.binary(max_size=24)),
    st.tuples(st.just("replace"), st.integers(0, 2), st.binary(max_size=200), st.just(0)),
    st.tuples(st.just("rename"), st.integers(0, 2), st.integers(0, 30), st.just(0)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(mutation, max_size=4), start=st.integers(0, 14))
def test_reader_on_damaged_files_returns_records_or_spool_errors(
    mutations: list[tuple[str, int, object, object]], start: int
) -> None:
    names = [name for name, _ in PRISTINE]
    contents = [bytearray(data) for _, data in PRISTINE]
    for op, index, a, b in mutations:
        data = contents[index]
        if op == "flip" and isinstance(a, int) and isinstance(b, int) and data:
            data[a % len(data)] ^= b
        elif op == "cut" and isinstance(a, int):
            del data[a:]
        elif op == "append" and isinstance(a, bytes):
            data.extend(a)
        elif op == "splice" and isinstance(a, int) and isinstance(b, bytes):
            data[a : a + len(b)] = b
        elif op == "replace" and isinstance(a, bytes):
            contents[index] = bytearray(a)
        elif op == "rename" and isinstance(a, int):
            names[index] = f"{a:020d}.seg"
    expected = {i: bytes([i]) * (i * 7 % 40) for i in range(12)}
    with tempfile.TemporaryDirectory() as tmp:
        segments = Path(tmp) / "segments"
        segments.mkdir()
        for name, data in zip(names, contents, strict=True):
            (segments / name).write_bytes(bytes(data))
        reader = SpoolReader(Path(tmp))
        for call in (lambda: reader.read(start), lambda: reader.read(0, max_records=2),
                     reader.end_offset, reader.first_offset):
            try:
                result = call()
            except SpoolError:
                continue
            if isinstance(result, list):
                offsets = [r.offset for r in result]
                assert not offsets or offsets == list(range(offsets[0], offsets[-1] + 1))
                for record in result:  # whatever passes the checksum is what was written
                    assert record.payload == expected.get(record.offset, record.payload)
        with contextlib.suppress(SpoolError):
            SpoolWriter(Path(tmp), fsync=FsyncPolicy.NEVER).close()
