"""The narrow seam (:class:`DurableLog`) and :class:`Spool`, the local implementation of it.

Where it sits: the pipeline builds one :class:`Spool`; the session appends to it, consumers
read from it and commit their cursors to it. Code that depends only on :class:`DurableLog`
keeps working when a Kafka topic takes the spool's place.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType
from typing import Protocol, runtime_checkable

from ticklake.model import RawFrame

from .cursor import CursorStore
from .reader import SpoolReader, SpoolRecord
from .segment import delete_segments_before
from .writer import FsyncPolicy, SpoolWriter


@runtime_checkable
class DurableLog(Protocol):
    """Append frames, read them back by offset, keep one committed cursor per consumer.

    Offsets are dense (0, 1, 2, ...) and never reused. How it maps onto a single-partition
    Kafka topic:

    - ``append`` -> produce; the returned offset is the record's offset in the partition.
    - ``wait_durable(offset)`` -> the producer's acknowledgement (``acks=all``): True once
      ``offset`` will survive a crash; only then may the frame count as recorded.
    - ``end_offset()`` -> the high watermark; ``read`` -> fetch (at most ``max_records``
      records / ``max_bytes`` payload bytes, at least one record if any is available).
    - ``commit``/``committed`` -> consumer-group offset commit/fetch, with ``state`` as the
      commit metadata. Commit the offset *after* the last record fully handled.
    """

    def append(self, frame: RawFrame) -> int: ...

    def wait_durable(self, offset: int, timeout: float | None = None) -> bool: ...

    def end_offset(self) -> int: ...

    def read(
        self, offset: int, max_records: int = 10_000, max_bytes: int = 16 * 2**20
    ) -> list[SpoolRecord]: ...

    def commit(self, consumer: str, offset: int, state: bytes = b"") -> None: ...

    def committed(self, consumer: str) -> tuple[int, bytes]: ...


class Spool:
    """A spool directory: ``<directory>/segments/`` (the log) and ``<directory>/cursors/``.

    The writer is opened on first use (:meth:`writer` or :meth:`append`) and owned by this
    object; :meth:`reader` returns a new independent reader. :meth:`read` shares one internal
    reader behind a lock, so it may be called from any thread.
    """

    def __init__(
        self,
        directory: Path,
        *,
        fsync: FsyncPolicy = FsyncPolicy.INTERVAL,
        fsync_interval: float = 0.05,
        segment_bytes: int = 64 * 2**20,
    ) -> None:
        self.directory = Path(directory)
        self.cursors = CursorStore(self.directory / "cursors")
        self._options = (fsync, fsync_interval, segment_bytes)
        self._writer: SpoolWriter | None = None
        self._reader = SpoolReader(self.directory)
        self._read_lock = threading.Lock()

    def writer(self) -> SpoolWriter:
        """This spool's writer, opened (and recovered) on first call."""
        if self._writer is None or self._writer.closed:
            fsync, fsync_interval, segment_bytes = self._options
            self._writer = SpoolWriter(self.directory, fsync=fsync,
                                       fsync_interval=fsync_interval,
                                       segment_bytes=segment_bytes)
        return self._writer

    def reader(self) -> SpoolReader:
        return SpoolReader(self.directory)

    def retain(self) -> int:
        """Delete segments every consumer is done with (below the lowest committed cursor).

        Does nothing until some consumer has committed. Returns the segments deleted.
        """
        names = self.cursors.names()
        if not names:
            return 0
        low = min(self.cursors.load(name)[0] for name in names)
        if self._writer is not None and not self._writer.closed:
            return self._writer.delete_before(low)
        return delete_segments_before(self.directory / "segments", low)

    # -- DurableLog --------------------------------------------------------------------------

    def append(self, frame: RawFrame) -> int:
        return self.writer().append(frame)

    def wait_durable(self, offset: int, timeout: float | None = None) -> bool:
        return self.writer().wait_durable(offset, timeout)

    def end_offset(self) -> int:
        """The high watermark: with this spool's writer open, its ``durable_offset``."""
        if self._writer is not None and not self._writer.closed:
            return self._writer.durable_offset
        with self._read_lock:
            return self._reader.end_offset()

    def read(
        self, offset: int, max_records: int = 10_000, max_bytes: int = 16 * 2**20
    ) -> list[SpoolRecord]:
        """Records from ``offset``, only acknowledged (durable) ones if the writer is open here.

        Like Kafka's high watermark: a consumer never acts on a record that a power cut could
        still take back (and whose offset would then be reused for a different frame).
        """
        with self._read_lock:
            if self._writer is not None and not self._writer.closed:
                durable = self._writer.durable_offset
                if offset >= durable:
                    return []
                max_records = min(max_records, durable - offset)
            return self._reader.read(offset, max_records, max_bytes)

    def commit(self, consumer: str, offset: int, state: bytes = b"") -> None:
        self.cursors.commit(consumer, offset, state)

    def committed(self, consumer: str) -> tuple[int, bytes]:
        return self.cursors.load(consumer)

    def close(self) -> None:
        """Close the writer if this spool opened one (final fsync per policy)."""
        if self._writer is not None:
            self._writer.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _conforms(spool: Spool) -> DurableLog:  # mypy checks that Spool satisfies the seam
    return spool
