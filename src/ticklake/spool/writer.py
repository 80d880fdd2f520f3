"""SpoolWriter: append raw frames, rotate segments, fsync per policy, acknowledge by offset.

Where it sits: the session hands every received frame to :meth:`SpoolWriter.append` before
anything else sees it (the returned offset is the frame's identity from then on) and calls
:meth:`SpoolWriter.flush` at the end of each burst, so a burst costs one ``os.write``.
Consumers (``reader.py``) read the same files by offset, in this process or another.

Threads: ``append`` is called from one thread (the asyncio loop). ``FsyncPolicy.INTERVAL``
adds one background thread that group-commits (one fsync for everything written since the
last one) every ``fsync_interval`` seconds and reports it through ``on_durable``. The file
descriptor is swapped (rotation, close) only under ``_fd_lock``, which that thread holds
while it fsyncs, so it never fsyncs a closed or reused descriptor.
"""

from __future__ import annotations

import enum
import fcntl
import logging
import os
import struct
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from ticklake.errors import SpoolError
from ticklake.model import RawFrame

from .recovery import open_newest
from .segment import (
    HEADER_SIZE,
    MAX_PAYLOAD,
    PREFIX,
    TAIL,
    create_segment,
    delete_segments_before,
    encode_record,
    fdatasync,
)

logger = logging.getLogger(__name__)

LOCK_NAME = ".lock"


class FsyncPolicy(enum.Enum):
    """When appended bytes are forced to stable storage (see the package docstring)."""

    ALWAYS = "always"
    INTERVAL = "interval"
    NEVER = "never"


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


class SpoolWriter:
    """The single writer of a spool directory (segments in ``<directory>/segments/``).

    Opening takes an exclusive ``flock`` on ``segments/.lock`` (released by the kernel if the
    process dies) and recovers the last segment (``recovery.py``): a torn or checksum-invalid
    tail is truncated away and fsynced before the first append.
    """

    def __init__(
        self,
        directory: Path,
        *,
        fsync: FsyncPolicy = FsyncPolicy.INTERVAL,
        fsync_interval: float = 0.05,
        segment_bytes: int = 64 * 2**20,
    ) -> None:
        if not isinstance(fsync, FsyncPolicy):
            msg = f"invalid fsync policy {fsync!r}: expected one of always, interval, never"
            raise SpoolError(msg)
        if not fsync_interval > 0:
            msg = f"invalid fsync_interval {fsync_interval!r}: must be > 0 seconds"
            raise SpoolError(msg)
        if segment_bytes <= HEADER_SIZE:
            msg = f"invalid segment_bytes {segment_bytes!r}: must exceed {HEADER_SIZE}"
            raise SpoolError(msg)
        self._directory = Path(directory)
        self._seg_dir = self._directory / "segments"
        self._policy = fsync
        self._interval = fsync_interval
        self._segment_bytes = segment_bytes
        self._fd = -1
        self._lock_fd = -1
        self._closed = False
        self._failure: str | None = None
        self._fd_lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._durable_lock = threading.Lock()  # the fsync thread and rotation both advance it
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Called with the new durable offset whenever it advances (from the fsync thread);
        # it must be quick and must not raise (e.g. store an int in shared memory).
        self.on_durable: Callable[[int], None] | None = None
        try:
            self._seg_dir.mkdir(parents=True, exist_ok=True)
            self._lock()
            self._recover()
        except OSError as exc:
            self._release()
            msg = f"cannot open spool {self._directory}: {_why(exc)}"
            raise SpoolError(msg) from exc
        except BaseException:
            self._release()
            raise
        if fsync is FsyncPolicy.INTERVAL:
            self._thread = threading.Thread(
                target=self._group_commit_loop, name="ticklake-spool-fsync", daemon=True
            )
            self._thread.start()

    # -- opening -------------------------------------------------------------------------

    def _lock(self) -> None:
        self._lock_fd = os.open(self._seg_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            msg = f"spool {self._directory} is already open by another writer"
            raise SpoolError(msg) from None

    def _recover(self) -> None:
        newest = open_newest(self._seg_dir, sync=self._policy is not FsyncPolicy.NEVER)
        self._fd, self._path, self._base = newest.fd, newest.path, newest.base
        self._pos = newest.pos
        self._end = self._durable = newest.end
        self._written = newest.end  # offsets below this are in the file (not just queued)
        self._queue = bytearray()  # records queued by append, not yet written
        self._appended_bytes = 0  # written by this writer: a publisher's size trigger
        logger.info("spool: opened %s at offset %d (%s)", self._directory, self._end,
                    self._policy.value)

    def _release(self) -> None:
        for fd in (self._fd, self._lock_fd):
            if fd >= 0:
                os.close(fd)
        self._fd = self._lock_fd = -1

    # -- appending -----------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def end_offset(self) -> int:
        """The offset the next append will get."""
        return self._end

    @property
    def durable_offset(self) -> int:
        """Every offset below this is acknowledged: fsynced as the policy promises.

        With ``NEVER`` it is the written end: safe against kill -9, not against power loss.
        """
        return self._written if self._policy is FsyncPolicy.NEVER else self._durable

    @property
    def appended_bytes(self) -> int:
        """Bytes this writer has written to the spool (records with their framing)."""
        return self._appended_bytes

    def append(self, frame: RawFrame) -> int:
        """Queue one frame and return its offset; :meth:`flush` writes every queued frame
        with one ``os.write``. Until then the frame is in this process only (kill -9 loses
        it), so the caller flushes at the end of each burst of frames (the session does it
        once per event-loop turn) and acknowledges nothing before."""
        if self._closed or self._failure is not None:
            raise SpoolError(self._failure or f"spool writer for {self._directory} is closed")
        payload = frame.payload
        size = len(payload)
        try:
            tail = TAIL.pack(frame.recv_ns, frame.conn_id)
        except struct.error:
            encode_record(frame.recv_ns, frame.conn_id, payload)  # raises the named error
            raise
        if size > MAX_PAYLOAD:
            encode_record(frame.recv_ns, frame.conn_id, payload)  # raises the named error
        queue = self._queue
        if self._pos + len(queue) >= self._segment_bytes:
            self.flush()
            self._rotate()
        queue += PREFIX.pack(size, zlib.crc32(payload, zlib.crc32(tail)))
        queue += tail
        queue += payload
        offset = self._end
        self._end = offset + 1
        return offset

    def flush(self) -> None:
        """Write the frames queued by :meth:`append` (one ``os.write``).

        Safe to call from another thread than the appender's (``close`` flushes too)."""
        if not self._queue:
            return
        with self._queue_lock:
            queue = self._queue
            if not queue:
                return
            try:
                self._write(queue)
            except SpoolError:
                self._end = self._written  # none of the queued frames made it
                raise
            finally:
                queue.clear()
            self._written = self._end
        if self._policy is FsyncPolicy.ALWAYS:
            self._sync_active()

    def _write(self, data: bytes | bytearray) -> None:
        start = self._pos
        fd = self._fd
        try:
            done = os.write(fd, data)
            while done < len(data):  # a short write (e.g. disk nearly full): go on or fail
                more = os.write(fd, memoryview(data)[done:])
                if more == 0:
                    raise OSError(28, os.strerror(28))
                done += more
        except OSError as exc:
            try:
                os.ftruncate(fd, start)  # no half record may stay in front of the next one
            except OSError:
                self._failure = (f"spool segment {self._path} has a partial record at byte "
                                 f"{start} that could not be removed; reopen the spool")
            msg = f"cannot append to spool segment {self._path}: {_why(exc)}"
            raise SpoolError(msg) from exc
        self._pos = start + len(data)
        self._appended_bytes += len(data)

    def _rotate(self) -> None:
        with self._fd_lock:
            try:
                if self._policy is not FsyncPolicy.NEVER:
                    fdatasync(self._fd)  # an older segment must never have a torn tail
                path = create_segment(self._seg_dir, self._end)
                fd = os.open(path, os.O_RDWR | os.O_APPEND)
            except OSError as exc:
                msg = f"cannot start a new spool segment at offset {self._end}: {_why(exc)}"
                raise SpoolError(msg) from exc
            old, self._fd = self._fd, fd
            self._path, self._base, self._pos = path, self._end, HEADER_SIZE
            os.close(old)
        if self._policy is not FsyncPolicy.NEVER:
            self._advance(self._written)
        logger.debug("spool: = new segment %s", path)

    # -- durability ----------------------------------------------------------------------

    def _advance(self, target: int) -> None:
        with self._durable_lock:
            self._durable = max(self._durable, target)
        hook = self.on_durable
        if hook is not None:
            hook(self._durable)

    def _fail(self, exc: OSError) -> SpoolError:
        # After a failed fsync the kernel may have dropped the dirty pages: retrying could
        # report success for lost data, so the writer stops here ("fsyncgate").
        self._failure = f"fsync of spool segment {self._path} failed: {_why(exc)}"
        return SpoolError(self._failure)

    def _sync_active(self) -> None:
        with self._fd_lock:
            if self._fd < 0:
                return
            target = self._written
            try:
                fdatasync(self._fd)
            except OSError as exc:
                raise self._fail(exc) from exc
        self._advance(target)

    def sync(self) -> None:
        """Flush, fsync now (whatever the policy) and advance ``durable_offset``."""
        if self._closed or self._failure is not None:
            raise SpoolError(self._failure or f"spool writer for {self._directory} is closed")
        self.flush()
        self._sync_active()

    def _group_commit_loop(self) -> None:
        while not self._stop.wait(self._interval):
            if self._written > self._durable:
                try:
                    self._sync_active()
                except SpoolError as exc:
                    logger.error("spool: %s; appends will fail from now on", exc)
                    return

    # -- retention and lifecycle -----------------------------------------------------------

    def delete_before(self, offset: int) -> int:
        """Delete whole segments whose records are all below ``offset`` (never the active one).

        Returns the number of segments deleted.
        """
        return delete_segments_before(self._seg_dir, offset, active_base=self._base)

    def close(self) -> None:
        """Stop the fsync thread, fsync the active segment (every policy), release the lock."""
        if self._closed:
            return
        try:
            self.flush()
        except SpoolError:
            logger.exception("spool: queued frames lost at close")
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        error: OSError | None = None
        with self._fd_lock:
            if self._fd >= 0 and self._failure is None:
                try:
                    fdatasync(self._fd)
                except OSError as exc:
                    error = exc
            self._release()
        if error is not None:
            raise self._fail(error) from error
        self._advance(self._written if self._failure is None else self._durable)
        logger.info("spool: closed %s at offset %d", self._directory, self._written)

    def __enter__(self) -> SpoolWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

