"""LakeProcess: the recorder's lake writer in a child process (``ticklake.lake.child``),
started when a publish is due.

The child holds pyarrow: ~60 MB the recorder does not need between publishes. With the
default 5-minute interval it runs only while a publish is due or the stream fills batches
quickly, and exits in between; the spool is the buffer meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import msgspec

from ticklake.errors import LakeWriterFailed
from ticklake.feed.phemex.products import Product, ProductTable
from ticklake.lake.hints import CURSOR, INTENT, BufferingHints
from ticklake.spool import CursorStore, SpoolWriter

logger = logging.getLogger(__name__)


class SharedOffsets:
    """Four int64 slots in a memory file both processes map (aligned 8-byte stores: no lock).

    ``DURABLE``: the spool's acknowledged end (-1: no limit), set by the recorder;
    ``COMMITTED``: the lake cursor, set by the writer; ``PENDING_SINCE`` (monotonic ns, 0 =
    none) and ``PENDING_BYTES``: the batch a writer left unpublished when it exited.
    """

    DURABLE, COMMITTED, PENDING_SINCE, PENDING_BYTES = range(4)

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._map = mmap.mmap(fd, 32)
        self._slots = memoryview(self._map).cast("q")

    @classmethod
    def create(cls) -> SharedOffsets:
        fd = os.memfd_create("ticklake-lake-offsets")
        os.ftruncate(fd, 32)
        return cls(fd)

    def __getitem__(self, slot: int) -> int:
        return int(self._slots[slot])

    def __setitem__(self, slot: int, value: int) -> None:
        self._slots[slot] = value


class ChildConfig(msgspec.Struct):
    """The first line a writer child reads on its stdin; then commands: drain, stop."""

    parent: int
    spool: str
    lake: str
    products: list[Product]
    size_mib: float
    interval: float
    snapshot_size: int | None
    poll_interval: float
    linger: float
    shared_fd: int
    pending_since_ns: int = 0  # monotonic; 0: nothing older than the child's first read
    compact_mib: float = 128.0


class LakeProcess:
    """A :class:`LakeWriter` in a child process (its own core and GIL), over the spool files,
    started when a publish is due and gone while none is near.

    A ``SpoolConsumer`` (``ticklake.pipeline``): ``start``, ``stop(drain)``,
    ``committed_offset``.
    A supervisor thread starts the child once unpublished frames are ``hints.interval`` old or
    ``hints.size_mib`` large; the child publishes, goes on while more is due within ``linger``
    seconds, and exits otherwise, leaving what it did not publish in the spool (its age and
    size in :class:`SharedOffsets` for the next start). It reads the spool by itself but never
    past the recorder's acknowledged offset (:meth:`set_durable`, called by the spool writer).
    ``stop(drain=True)`` publishes everything the spool holds. Crash safety: the child exits
    when the recorder is gone (its stdin ends), ignores the terminal's SIGINT/SIGTERM (the
    recorder drains it), and holds an exclusive lock on ``<spool>/.lake-writer.lock``, so a new
    recorder's writer waits for an old one to be gone; the writer's intent protocol makes its
    work exactly-once. A child that fails (killed by the OOM killer, a store it cannot reach at
    start) is started again after a pause that doubles up to ``restart_backoff[1]``; the spool
    keeps every frame meanwhile, and ``stop`` raises if the drain fails too.
    """

    def __init__(
        self,
        spool_writer: SpoolWriter,
        spool_dir: Path,
        lake_root: str,
        products: ProductTable,
        hints: BufferingHints,
        snapshot_size: int | None = None,
        poll_interval: float = 0.05,
        drain_timeout: float = 600.0,
        linger: float = 30.0,
        tick: float = 0.25,
        restart_backoff: tuple[float, float] = (5.0, 300.0),
    ) -> None:
        self._spool = spool_writer
        self._hints = hints
        self._shared = SharedOffsets.create()
        self._shared[SharedOffsets.DURABLE] = -1
        cursors = CursorStore(spool_dir / "cursors")
        committed = self._shared[SharedOffsets.COMMITTED] = cursors.load(CURSOR)[0]
        self._urgent = ("://" in lake_root or cursors.load(INTENT)[0] > committed
                        or spool_writer.end_offset > committed)
        self._config = ChildConfig(
            os.getpid(), str(spool_dir), lake_root,
            products.listing(), hints.size_mib, hints.interval,
            snapshot_size, poll_interval, linger, self._shared.fd,
            compact_mib=hints.compact_mib)
        self._drain_timeout = drain_timeout
        self._tick = tick
        self._child: subprocess.Popen[bytes] | None = None
        self._pending_since: float | None = None  # monotonic s of the oldest unpublished frame
        self._bytes_base = 0  # spool bytes appended when nothing was pending
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="lake-supervisor",
                                        daemon=True)
        self.starts = 0
        self._backoff = restart_backoff
        self._failures = 0  # children in a row that failed
        self._retry_at = 0.0
        self.error: BaseException | None = None

    @property
    def committed_offset(self) -> int:
        """Every spool offset below it is published (the child's cursor, shared memory)."""
        return self._shared[SharedOffsets.COMMITTED]

    def set_durable(self, offset: int) -> None:
        """The spool's acknowledged offset (called by the spool writer's fsync thread)."""
        self._shared[SharedOffsets.DURABLE] = offset

    def start(self) -> None:
        """Start supervising; and a child at once when there is work already: frames the
        last run left unpublished (a backlog of more than a batch is published at once), a
        batch a crash left half-published, or an object-store lake to create or check (the
        recorder does not import pyarrow; a local lake is checked by ``open_lake``)."""
        self._bytes_base = self._spool.appended_bytes
        if self._urgent:
            self._spawn()
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._child is not None and self._child.poll() is None

    def _supervise(self) -> None:
        while not self._stop.wait(self._tick):
            try:
                self._step()
            except OSError as exc:  # cannot start a process: the spool keeps the frames
                self._failed(LakeWriterFailed(f"cannot start the lake writer: {exc}"))

    def _failed(self, error: LakeWriterFailed) -> None:
        """A child failed (killed, say): the next one starts after a growing pause."""
        self.error = error
        self._failures += 1
        initial, cap = self._backoff
        delay = min(cap, initial * 2 ** min(self._failures - 1, 16))
        self._retry_at = time.monotonic() + delay
        logger.error("= %s; the spool keeps every frame; next try in %.0f s", error, delay)

    def _step(self) -> None:
        if self._child is not None:
            if self._child.poll() is not None:
                self._reap()
            return
        if self.error is not None and time.monotonic() < self._retry_at:
            return
        if self._spool.end_offset <= self.committed_offset:
            self._pending_since = None
            self._bytes_base = self._spool.appended_bytes
            return
        now = time.monotonic()
        if self._pending_since is None:
            self._pending_since = now
        if (now - self._pending_since >= self._hints.interval
                or self._spool.appended_bytes - self._bytes_base >= self._hints.size_mib * 2**20):
            self._spawn()

    def _spawn(self) -> None:
        since = self._pending_since
        config = msgspec.structs.replace(
            self._config, pending_since_ns=int(since * 1e9) if since is not None else 0)
        env = {**os.environ, "ARROW_DEFAULT_MEMORY_POOL": "system"}
        # Arrow's own allocator keeps freed batches in its pools (~30 MB more at steady state
        # here); the system allocator plus malloc_trim after each publish hands them back.
        child = subprocess.Popen(
            [sys.executable, "-m", "ticklake.lake.child"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, pass_fds=(self._shared.fd,), env=env)
        assert child.stdin is not None
        child.stdin.write(msgspec.json.encode(config) + b"\n")
        child.stdin.flush()
        self._child = child
        self.starts += 1

    def _reap(self) -> None:
        """The child exited by itself: idle (0) or failed."""
        child, self._child = self._child, None
        assert child is not None
        self._close_pipes(child)
        if child.returncode != 0:
            self._failed(LakeWriterFailed(
                f"the lake writer process exited with code {child.returncode}"))
            return
        self.error, self._failures = None, 0
        since_ns = self._shared[SharedOffsets.PENDING_SINCE]
        self._pending_since = since_ns / 1e9 if since_ns else None
        self._bytes_base = self._spool.appended_bytes - self._shared[SharedOffsets.PENDING_BYTES]

    @staticmethod
    def _close_pipes(child: subprocess.Popen[bytes]) -> None:
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def stop(self, drain: bool = True, timeout: float | None = None) -> None:
        """Stop supervising; with ``drain``, have a child publish everything and wait."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self._child is not None and self._child.poll() is not None:
            self._reap()
        timeout = self._drain_timeout if timeout is None else timeout
        if drain:
            self.error = None  # an earlier child's failure: the drain tries once more
        try:
            for _ in range(2):  # a child that exited idle as it was asked: once more
                if self.error is not None:
                    break
                if self._child is None:
                    if not drain or self._spool.end_offset <= self.committed_offset:
                        break
                    self._spawn()
                if self._command(b"drain" if drain else b"stop", timeout):
                    break
        finally:
            self._shared[SharedOffsets.DURABLE] = -1
        if self.error is not None:
            raise self.error

    def _command(self, command: bytes, timeout: float) -> bool:
        """Send ``command`` to the child and wait for it to end; False if it exited idle
        before reading it."""
        child = self._child
        assert child is not None and child.stdin is not None and child.stdout is not None
        reply = b""
        with contextlib.suppress(OSError):  # a child gone already: its exit code says how
            child.stdin.write(command + b"\n")
            child.stdin.flush()
            if select.select([child.stdout], [], [], timeout)[0]:
                reply = child.stdout.readline()
        try:
            child.wait(10 if reply else 1)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            self.error = LakeWriterFailed(f"the lake writer did not stop within {timeout:.0f}s")
        self._close_pipes(child)
        self._child = None
        if self.error is not None:
            return True
        if reply.startswith(b"error "):
            self.error = LakeWriterFailed(
                f"the lake writer failed: {reply[6:].decode(errors='replace').strip()}")
        elif child.returncode != 0:
            self.error = LakeWriterFailed(
                f"the lake writer process exited with code {child.returncode}")
        return bool(reply) or self.error is not None
