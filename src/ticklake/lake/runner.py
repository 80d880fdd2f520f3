"""LakeRunner: drives a LakeWriter in its own thread; LakeProcess: in a child process.

Parquet encoding takes milliseconds to seconds per batch; running it off the event loop keeps
the socket reader responsive. The thread polls the spool (every ``poll_interval`` when idle),
publishes when the buffering hints say so, and applies spool retention after each publish.
``stop(drain=True)`` publishes everything the spool holds before returning.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import logging
import multiprocessing as mp
import os
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from ticklake.errors import TicklakeError
from ticklake.feed.phemex.products import Product, ProductTable
from ticklake.lake.hints import BufferingHints
from ticklake.spool import Spool, SpoolReader, SpoolRecord

if TYPE_CHECKING:  # the Parquet side runs in the child: pyarrow stays out of the recorder
    from ticklake.lake.writer import LakeWriter

logger = logging.getLogger(__name__)


class WriterView:
    """What the recorder sees of a writer that runs in another process."""

    def __init__(self, committed: Synchronized[int]) -> None:
        self._committed = committed

    @property
    def committed_offset(self) -> int:
        return int(self._committed.value)


class LakeRunner:
    writer: LakeWriter | WriterView

    def __init__(
        self,
        writer: LakeWriter,
        retain: Callable[[], object] | None = None,
        poll_interval: float = 0.05,
    ) -> None:
        self.writer = self._writer = writer
        self._retain = retain
        self._poll_interval = poll_interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lake-writer", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        writer = self._writer
        try:
            while not self._stop.is_set():
                committed = writer.committed_offset
                busy = writer.poll()
                if writer.committed_offset != committed and self._retain is not None:
                    self._retain()
                if not busy:
                    self._stop.wait(self._poll_interval)
        except BaseException as exc:  # surfaced by stop(); the recording must not go on blind
            self.error = exc
            logger.exception("= lake writer stopped")

    def stop(self, drain: bool = True, timeout: float = 60.0) -> None:
        """Stop the thread; with ``drain`` publish everything already in the spool."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if drain and self.error is None:
            self._writer.drain()
        if self.error is not None:
            raise self.error


class LakeWriterFailed(TicklakeError):
    """The lake writer process failed or could not be stopped."""


class LakeProcess(LakeRunner):
    """A :class:`LakeWriter` in a child process (its own core and GIL), over the spool files.

    Same contract as :class:`LakeRunner`: ``start``, ``stop(drain)``, ``writer.committed_offset``.
    The child reads the spool by itself (it is a file plus a cursor store) but never past the
    recorder's acknowledged (durable) offset, which the spool writer pushes into shared memory
    (:meth:`set_durable`; ``-1`` = no limit, for ``fsync = never``). ``stop(drain=True)``
    asks it to publish everything the spool holds and waits for it. Crash safety: the child
    dies with its parent (``PR_SET_PDEATHSIG``; a recorder killed with -9 takes its writer
    along), ignores the terminal's SIGINT/SIGTERM (the recorder drains it), and holds an
    exclusive lock on ``<spool>/.lake-writer.lock`` so that a new recorder's writer waits
    for an old one to be gone; its work is exactly-once by the writer's intent protocol.
    """

    def __init__(
        self,
        spool_dir: Path,
        lake_root: str,
        products: ProductTable,
        hints: BufferingHints,
        snapshot_size: int = 200,
        poll_interval: float = 0.05,
        drain_timeout: float = 600.0,
    ) -> None:
        ctx = mp.get_context("spawn")  # no fork of a process with threads and a loop
        self._durable: Synchronized[int] = ctx.Value("q", -1, lock=False)
        committed: Synchronized[int] = ctx.Value("q", 0, lock=False)
        self.writer = WriterView(committed)
        self._conn, child_conn = ctx.Pipe()
        products_json = msgspec.json.encode([products.require(s) for s in products.symbols()])
        self._process = ctx.Process(
            target=_child_main, name="ticklake-lake-writer", daemon=False,
            args=(os.getpid(), child_conn, str(spool_dir), lake_root, products_json,
                  (hints.size_mib, hints.interval), snapshot_size, poll_interval,
                  self._durable, committed),
        )
        self._child_conn = child_conn
        self._drain_timeout = drain_timeout
        self.error: BaseException | None = None

    def set_durable(self, offset: int) -> None:
        """The spool's acknowledged offset (called by the spool writer's fsync thread)."""
        self._durable.value = offset

    def start(self) -> None:
        self._process.start()
        self._child_conn.close()

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    def stop(self, drain: bool = True, timeout: float | None = None) -> None:
        """Ask the child to stop (publishing everything first with ``drain``) and wait."""
        process = self._process
        if process.pid is None:  # never started: nothing to stop
            return
        timeout = self._drain_timeout if timeout is None else timeout
        reply: tuple[str, str] | None = None
        try:
            self._conn.send("drain" if drain else "stop")
            if self._conn.poll(timeout):
                reply = self._conn.recv()
        except (OSError, EOFError):
            pass  # the child is gone already: its exit code says how
        process.join(10 if reply is not None else 1)
        if process.is_alive():
            process.kill()
            process.join()
            self.error = LakeWriterFailed(f"the lake writer did not stop within {timeout:.0f}s")
        elif reply is not None and reply[0] == "error":
            self.error = LakeWriterFailed(f"the lake writer failed: {reply[1]}")
        elif reply is None or process.exitcode != 0:
            self.error = LakeWriterFailed(
                f"the lake writer process exited with code {process.exitcode}")
        self._conn.close()
        if self.error is not None:
            raise self.error


class _DurableSource:
    """Spool records, never past the recorder's acknowledged offset."""

    def __init__(self, reader: SpoolReader, durable: Synchronized[int]) -> None:
        self._reader = reader
        self._durable = durable

    def read(self, offset: int, max_records: int = 10_000,
             max_bytes: int = 16 * 2**20) -> list[SpoolRecord]:
        limit = int(self._durable.value)
        if limit >= 0:
            if offset >= limit:
                return []
            max_records = min(max_records, limit - offset)
        return self._reader.read(offset, max_records, max_bytes)


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _trim_heap() -> None:
    """Return the freed batch's memory to the OS (glibc keeps it in its arenas otherwise)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


def _child_main(parent: int, conn: Connection, spool_dir: str, lake_root: str, products_json: bytes,
                hints: tuple[float, float], snapshot_size: int, poll_interval: float,
                durable: Synchronized[int], committed: Synchronized[int]) -> None:
    # Arrow's own allocator keeps freed batches in its pools (~30 MB more at steady state
    # here); the system allocator plus malloc_trim after each publish hands them back.
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    from ticklake.lake.storage import LakeStorage
    from ticklake.lake.writer import LakeWriter

    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if os.getppid() != parent:  # the recorder died before PR_SET_PDEATHSIG was set
        return
    with contextlib.suppress(OSError):
        os.nice(5)  # the socket reader comes first; the spool absorbs the lake's lag
    try:
        directory = Path(spool_dir)
        lock = os.open(directory / ".lake-writer.lock", os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(lock, fcntl.LOCK_EX)  # released by the kernel when this process ends
        products = ProductTable(msgspec.json.decode(products_json, type=list[Product]))
        spool = Spool(directory)
        writer = LakeWriter(_DurableSource(spool.reader(), durable), spool.cursors,
                            LakeStorage(lake_root), products, BufferingHints(*hints),
                            snapshot_size)
        committed.value = writer.committed_offset
        while True:
            if conn.poll(0):
                command = conn.recv()
                if command == "drain":  # once, as the thread does: a failure leaves the
                    writer.drain()  # rest in the spool for the next run
                committed.value = writer.committed_offset
                spool.retain()
                conn.send(("done", ""))
                return
            before = writer.committed_offset
            busy = writer.poll()
            if writer.committed_offset != before:
                committed.value = writer.committed_offset
                spool.retain()
                _trim_heap()
            if not busy:
                conn.poll(poll_interval)
    except (EOFError, OSError) as exc:  # the recorder went away
        with contextlib.suppress(OSError):
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise SystemExit(1) from None
    except BaseException as exc:
        if isinstance(exc, TicklakeError):
            logger.error("= lake writer stopped: %s", exc)
        else:
            logger.exception("= lake writer stopped")
        with contextlib.suppress(OSError):
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise SystemExit(1) from None
