"""The lake writer's child process: ``python -m ticklake.lake.child`` (see ``LakeProcess``).

Reads a :class:`ChildConfig` line on stdin, then polls a :class:`LakeWriter` over the spool,
never past the recorder's acknowledged offset, until told ``drain`` or ``stop`` on stdin
(answering ``done`` or ``error <why>`` on stdout), or until nothing is due within ``linger``
seconds: it then exits 0, leaving the age and size of its unpublished batch in the shared
offsets. stdin at EOF means the recorder is gone (killed, say): the child exits at its next
look, after the publish in progress if any (``PR_SET_PDEATHSIG`` would fire when the
recorder's *thread* that started the child ends, not the recorder).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import logging
import os
import select
import signal
import sys
from pathlib import Path

import msgspec

from ticklake.errors import TicklakeError
from ticklake.feed.phemex.products import ProductTable
from ticklake.lake.hints import BufferingHints
from ticklake.lake.process import ChildConfig, SharedOffsets
from ticklake.spool import Spool, SpoolReader, SpoolRecord

logger = logging.getLogger("ticklake.lake.writer")
_NS = 1_000_000_000


class _DurableSource:
    """Spool records, never past the recorder's acknowledged offset."""

    def __init__(self, reader: SpoolReader, shared: SharedOffsets) -> None:
        self._reader = reader
        self._shared = shared

    def read(self, offset: int, max_records: int = 10_000,
             max_bytes: int = 16 * 2**20) -> list[SpoolRecord]:
        limit = self._shared[SharedOffsets.DURABLE]
        if limit >= 0:
            if offset >= limit:
                return []
            max_records = min(max_records, limit - offset)
        return self._reader.read(offset, max_records, max_bytes)


class _Commands:
    """Lines from the recorder on stdin, without blocking."""

    def __init__(self) -> None:
        self._fd = sys.stdin.fileno()
        self._buffer = b""

    def first_line(self) -> bytes:
        while b"\n" not in self._buffer:
            self._read()
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def _read(self) -> None:
        chunk = os.read(self._fd, 65536)
        if not chunk:
            raise EOFError
        self._buffer += chunk

    def next(self, timeout: float) -> str | None:
        if b"\n" not in self._buffer and select.select([self._fd], [], [], timeout)[0]:
            self._read()
        if b"\n" not in self._buffer:
            return None
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode().strip()


def _trim_heap() -> None:
    """Return the freed batch's memory to the OS (glibc keeps it in its arenas otherwise)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


def _reply(text: str) -> None:
    with contextlib.suppress(OSError):
        os.write(sys.stdout.fileno(), text.encode(errors="replace") + b"\n")


def run(config: ChildConfig, commands: _Commands) -> None:
    # Imported here, after ``nice``: pyarrow's import is most of a start's CPU.
    from ticklake.lake.storage import LakeStorage
    from ticklake.lake.writer import LakeWriter

    shared = SharedOffsets(config.shared_fd)
    directory = Path(config.spool)
    lock = os.open(directory / ".lake-writer.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(lock, fcntl.LOCK_EX)  # released by the kernel when this process ends
    spool = Spool(directory)
    since = config.pending_since_ns / _NS if config.pending_since_ns else None
    writer = LakeWriter(_DurableSource(spool.reader(), shared), spool.cursors,
                        LakeStorage(config.lake), ProductTable(config.products),
                        BufferingHints(config.size_mib, config.interval, config.compact_mib),
                        config.snapshot_size, pending_since=since)
    shared[SharedOffsets.COMMITTED] = writer.committed_offset
    wait = 0.0
    while True:
        command = commands.next(wait)  # when idle, waits for one (or poll_interval)
        if command is not None:
            if command == "drain":  # once, as the thread does: a failure leaves the
                writer.drain()  # rest in the spool for the next run
            shared[SharedOffsets.COMMITTED] = writer.committed_offset
            spool.retain()
            _reply("done")
            return
        before = writer.committed_offset
        busy = writer.poll()
        if writer.committed_offset != before:
            shared[SharedOffsets.COMMITTED] = writer.committed_offset
            spool.retain()
            _trim_heap()
        if not busy and writer.quiet_for(config.linger):
            started = writer.pending_since
            shared[SharedOffsets.PENDING_SINCE] = int(started * _NS) if started else 0
            shared[SharedOffsets.PENDING_BYTES] = writer.pending_bytes
            return
        wait = 0.0 if busy else config.poll_interval


def main() -> None:
    with contextlib.suppress(OSError):
        os.nice(5)  # the socket reader comes first; the spool absorbs the lake's lag
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the recorder drains this process
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    commands = _Commands()
    try:
        config = msgspec.json.decode(commands.first_line(), type=ChildConfig)
        if os.getppid() != config.parent:  # the recorder is gone already
            raise SystemExit(1)
        run(config, commands)
    except EOFError:  # the recorder went away
        raise SystemExit(1) from None
    except BaseException as exc:
        if isinstance(exc, SystemExit):
            raise
        if isinstance(exc, TicklakeError):
            logger.error("= lake writer stopped: %s", exc)
        else:
            logger.exception("= lake writer stopped")
        _reply(f"error {type(exc).__name__}: {exc}")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
