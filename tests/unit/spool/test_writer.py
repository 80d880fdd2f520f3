"""SpoolWriter: dense offsets, rotation, fsync policies and acknowledgement, I/O errors."""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ticklake.model import RawFrame
from ticklake.spool import FsyncPolicy, SpoolError, SpoolReader, SpoolWriter
from ticklake.spool import writer as writer_module

from .helpers import frame_for, read_all, scaled, segment_files, wait_durable, wait_for

BIG = bytes(range(256)) * 4096  # 1 MiB, not valid UTF-8
SPECIAL = [b"", b"\xff\xfe\x00\x80invalid utf-8 \xc3\x28", BIG, b"x"]


def frames(n: int, seed: int = 1) -> list[RawFrame]:
    out = [frame_for(seed, i) for i in range(n)]
    for i, payload in enumerate(SPECIAL):
        out[7 + 13 * i] = RawFrame(conn_id=i, recv_ns=2**64 - 1 - i, payload=payload)
    return out


@pytest.mark.parametrize("policy", list(FsyncPolicy))
def test_round_trip_across_rotations(tmp_path: Path, policy: FsyncPolicy) -> None:
    sent = frames(400)
    with SpoolWriter(tmp_path, fsync=policy, segment_bytes=8192) as writer:
        offsets = []
        for i, frame in enumerate(sent):
            offsets.append(writer.append(frame))
            if i % 10 == 9:  # in bursts, as the session flushes once per event-loop turn
                writer.flush()
        assert writer.end_offset == 400
    assert offsets == list(range(400))
    assert len(segment_files(tmp_path)) > 5
    got = read_all(tmp_path)
    assert [r.offset for r in got] == offsets
    assert [(r.conn_id, r.recv_ns, r.payload) for r in got] == [
        (f.conn_id, f.recv_ns, f.payload) for f in sent
    ]


def test_rotates_after_the_record_that_crosses_segment_bytes(tmp_path: Path) -> None:
    with SpoolWriter(tmp_path, segment_bytes=100) as writer:
        for i in range(3):
            writer.append(RawFrame(0, i, b"a" * 70))  # 20 header + 90 record > 100
    sizes = [p.stat().st_size for p in segment_files(tmp_path)]
    names = [p.name for p in segment_files(tmp_path)]
    assert sizes == [110, 110, 110]
    assert names == [f"{i:020d}.seg" for i in range(3)]


def test_reopen_continues_offsets(tmp_path: Path) -> None:
    with SpoolWriter(tmp_path, segment_bytes=2048) as writer:
        for i in range(50):
            writer.append(frame_for(3, i))
    with SpoolWriter(tmp_path, segment_bytes=2048) as writer:
        assert writer.end_offset == writer.durable_offset == 50
        assert writer.append(frame_for(3, 50)) == 50
    assert [r.payload for r in read_all(tmp_path)] == [
        frame_for(3, i).payload for i in range(51)
    ]


def test_always_acknowledges_each_flush(tmp_path: Path) -> None:
    with SpoolWriter(tmp_path, fsync=FsyncPolicy.ALWAYS) as writer:
        for i in range(5):
            assert writer.append(frame_for(0, i)) == i
            assert writer.durable_offset == i  # queued in this process: kill -9 loses it
            writer.flush()
            assert writer.durable_offset == i + 1


def test_never_acknowledges_on_write(tmp_path: Path) -> None:
    with SpoolWriter(tmp_path, fsync=FsyncPolicy.NEVER) as writer:
        writer.append(frame_for(0, 0))
        assert (writer.durable_offset, writer.end_offset) == (0, 1)  # queued, not written
        writer.flush()
        assert writer.durable_offset == writer.end_offset == 1


def test_interval_group_commits_in_background(tmp_path: Path) -> None:
    with SpoolWriter(tmp_path, fsync=FsyncPolicy.INTERVAL, fsync_interval=0.01) as writer:
        last = [writer.append(frame_for(0, i)) for i in range(100)][-1]
        assert not wait_durable(writer, 0, 0.05)  # the group commit never writes the queue
        writer.flush()
        assert wait_durable(writer, last, scaled(5))
        assert writer.durable_offset == 100
        assert not wait_durable(writer, 100, 0.02)


def test_interval_does_not_acknowledge_before_fsync(tmp_path: Path) -> None:
    with SpoolWriter(tmp_path, fsync=FsyncPolicy.INTERVAL, fsync_interval=3600) as writer:
        writer.append(frame_for(0, 0))
        writer.flush()
        assert writer.durable_offset == 0
        writer.sync()
        assert writer.durable_offset == 1


def test_close_is_final_and_idempotent(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path, fsync=FsyncPolicy.INTERVAL, fsync_interval=3600)
    writer.append(frame_for(0, 0))
    writer.close()
    writer.close()
    assert writer.durable_offset == 1  # close flushed and fsynced the queue
    with pytest.raises(SpoolError, match="closed"):
        writer.append(frame_for(0, 1))


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    with SpoolWriter(tmp_path), pytest.raises(SpoolError, match="already open"):
        SpoolWriter(tmp_path)
    SpoolWriter(tmp_path).close()  # the lock went with the first writer


def test_refuses_oversized_and_out_of_range_frames(tmp_path: Path) -> None:
    with SpoolWriter(tmp_path) as writer:
        with pytest.raises(SpoolError, match="maximum record size"):
            writer.append(RawFrame(0, 0, b"\0" * (64 * 2**20 + 1)))
        with pytest.raises(SpoolError, match="out of range"):
            writer.append(RawFrame(2**32, 0, b""))
        with pytest.raises(SpoolError, match="out of range"):
            writer.append(RawFrame(0, -1, b""))
        assert writer.append(RawFrame(0, 0, b"ok")) == 0


@pytest.mark.parametrize(
    "options",
    [{"fsync_interval": 0.0}, {"segment_bytes": 10}, {"fsync": "always"}],
)
def test_invalid_options(tmp_path: Path, options: dict[str, object]) -> None:
    with pytest.raises(SpoolError, match="invalid"):
        SpoolWriter(tmp_path, **options)  # type: ignore[arg-type]


def test_enospc_leaves_no_partial_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    with SpoolWriter(tmp_path, fsync=FsyncPolicy.NEVER) as writer:
        writer.append(frame_for(0, 0))
        writer.flush()

        def full_disk(fd: int, data: bytes) -> int:
            # A copy: the error's traceback keeps this frame, and a view of the writer's
            # queue kept alive in it would pin the queue (the real os.write keeps none).
            data = bytes(data)
            if len(data) > 10:
                return real_write(fd, data[:10])  # a short write, then nothing
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(os, "write", full_disk)
        writer.append(RawFrame(1, 1, b"y" * 100))
        with pytest.raises(SpoolError) as caught:
            writer.flush()
        message = str(caught.value)
        assert "No space left on device" in message
        assert "\n" not in message
        monkeypatch.undo()
        assert writer.append(frame_for(0, 1)) == 1  # the lost frame was never acknowledged
    assert [r.payload for r in read_all(tmp_path)] == [frame_for(0, i).payload for i in (0, 1)]


def test_fsync_failure_stops_the_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        caplog: pytest.LogCaptureFixture) -> None:
    def broken(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    caplog.set_level(logging.ERROR, logger=writer_module.__name__)
    writer = SpoolWriter(tmp_path, fsync=FsyncPolicy.INTERVAL, fsync_interval=0.01)
    monkeypatch.setattr(writer_module, "fdatasync", broken)
    writer.append(frame_for(0, 0))
    writer.flush()
    wait_for(lambda: "appends will fail" in caplog.text, 5, "the group commit to fail")
    assert writer.durable_offset == 0
    with pytest.raises(SpoolError, match=r"fsync of spool segment .* failed: Input/output error"):
        writer.append(frame_for(0, 1))
    writer.close()


def _writable_despite_mode(directory: Path) -> bool:
    probe = directory / "probe"
    try:
        probe.touch()
    except PermissionError:
        return False
    probe.unlink()
    return True


def test_read_only_directory(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    spool.chmod(0o500)
    try:
        if _writable_despite_mode(spool):
            pytest.skip("running as root (or with CAP_DAC_OVERRIDE): 0o500 is still writable")
        with pytest.raises(SpoolError) as caught:
            SpoolWriter(spool)
        assert "Permission denied" in str(caught.value)
        assert "\n" not in str(caught.value)
    finally:
        spool.chmod(0o700)


CHILD = textwrap.dedent(
    """
    import resource, signal, sys
    from pathlib import Path
    from ticklake.model import RawFrame
    from ticklake.spool import SpoolError, SpoolWriter, FsyncPolicy
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    writer = SpoolWriter(Path(sys.argv[1]), fsync=FsyncPolicy.NEVER)
    resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, resource.RLIM_INFINITY))
    try:
        for i in range(10_000):
            writer.append(RawFrame(7, i, bytes([i % 256]) * 333))
            writer.flush()
            print(i, flush=True)
    except SpoolError as exc:
        print("ERROR", exc, flush=True)
        # the writer stays usable once the condition clears
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
        offset = writer.append(RawFrame(7, 0, b"after"))
        writer.flush()
        print("AFTER", offset, flush=True)
    """
)


def test_real_write_error_from_the_os(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes the kernel fail a write (EFBIG) mid-record, even for root."""
    result = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path)], capture_output=True,
                            text=True, timeout=scaled(60), check=True)
    lines = result.stdout.splitlines()
    error = next(line for line in lines if line.startswith("ERROR"))
    assert "File too large" in error
    acked = [int(line) for line in lines if line.isdigit()]
    assert acked == list(range(len(acked))) and acked
    assert lines[-1] == f"AFTER {len(acked)}"
    got = read_all(tmp_path)
    assert [r.payload for r in got[:-1]] == [bytes([i % 256]) * 333 for i in acked]
    assert got[-1].payload == b"after"
    assert SpoolReader(tmp_path).end_offset() == len(acked) + 1
