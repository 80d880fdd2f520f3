"""kill -9 at random moments: every acknowledged record survives intact, none is corrupt."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from ticklake.spool import FsyncPolicy, SpoolReader, SpoolWriter

from .helpers import frame_for, read_all, scaled

ROOT = Path(__file__).resolve().parents[3]
SEED = 77

CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from ticklake.spool import FsyncPolicy, SpoolWriter
    from tests.unit.spool.helpers import frame_for
    directory, policy, seed = Path(sys.argv[1]), FsyncPolicy(sys.argv[2]), int(sys.argv[3])
    writer = SpoolWriter(directory, fsync=policy, fsync_interval=0.002, segment_bytes=16384)
    out = sys.stdout
    while True:
        # A burst, flushed as the session does once per event-loop turn: until then the
        # frames are in this process only. ALWAYS: flush returns after fdatasync.
        # INTERVAL/NEVER: after write(), which is what survives kill -9 (the page cache
        # outlives the process).
        first = writer.end_offset
        for _ in range(1 + first % 5):
            writer.append(frame_for(seed, writer.end_offset))
        writer.flush()
        out.write("".join(f"{offset}\\n" for offset in range(first, writer.end_offset)))
        out.flush()
    """
)


def run_and_kill(directory: Path, policy: FsyncPolicy, rng: random.Random) -> list[int]:
    """Start a writer process, SIGKILL it after a random number of acks; return all acks."""
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(directory), policy.value, str(SEED)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
    ) as proc:
        acks, rest, errors = _ack_then_kill(proc, directory, policy, rng)
    assert proc.returncode == -signal.SIGKILL, errors.decode()
    complete = rest.split(b"\n")[:-1]  # a line cut by the kill is not an ack
    acks.extend(int(line) for line in complete)
    return acks


def _ack_then_kill(proc: subprocess.Popen[bytes], directory: Path, policy: FsyncPolicy,
                   rng: random.Random) -> tuple[list[int], bytes, bytes]:
    watchdog = threading.Timer(scaled(60), proc.kill)
    watchdog.start()
    assert proc.stdout is not None and proc.stderr is not None
    acks: list[int] = []
    try:
        target = rng.randrange(1, 300 if policy is FsyncPolicy.ALWAYS else 6000)
        while len(acks) < target:
            line = proc.stdout.readline()
            if not line:
                break
            acks.append(int(line))
            if len(acks) == target // 2:  # read concurrently from this (another) process
                got = SpoolReader(directory).read(0, max_records=10**6)
                assert [r.offset for r in got] == list(range(len(got)))
                assert len(got) > acks[-1]
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()  # not communicate(): it would skip what readline buffered
        errors = proc.stderr.read()
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
    return acks, rest, errors


@pytest.mark.parametrize("round_seed", [1, 2])
@pytest.mark.parametrize("policy", list(FsyncPolicy))
def test_kill_9_keeps_every_acknowledged_record(tmp_path: Path, policy: FsyncPolicy,
                                                round_seed: int) -> None:
    rng = random.Random(f"{policy.value}-{round_seed}")
    highest = -1
    on_disk = 0
    for _ in range(3):
        acks = run_and_kill(tmp_path, policy, rng)
        # a restart continues after every complete record, acknowledged or not
        assert acks == list(range(on_disk, on_disk + len(acks)))
        if acks:
            highest = acks[-1]
        got = read_all(tmp_path)  # raises SpoolCorrupt if any older segment is damaged
        assert [r.offset for r in got] == list(range(len(got)))
        assert len(got) > highest
        for record in got:
            expected = frame_for(SEED, record.offset)
            assert (record.conn_id, record.recv_ns, record.payload) == (
                expected.conn_id, expected.recv_ns, expected.payload)
        on_disk = len(got)
    with SpoolWriter(tmp_path) as writer:
        assert writer.end_offset == len(got)
    assert len(list((tmp_path / "segments").glob("*.seg"))) > 1 or len(got) < 100
