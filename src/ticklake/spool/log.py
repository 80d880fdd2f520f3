""":class:`Spool`: one spool directory, its writer, its readers and its consumers' cursors.

Where it sits: the pipeline builds one :class:`Spool`; the session appends to its writer,
consumers read from it and commit their cursors to it. Offsets are dense (0, 1, 2, ...) and
never reused, like a single-partition Kafka topic's: :meth:`Spool.end_offset` is the high
watermark and :meth:`Spool.commit`/:meth:`Spool.committed` a consumer group's offsets.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

from .cursor import CursorStore
from .reader import SpoolReader, SpoolRecord
from .segment import delete_segments_before
from .writer import FsyncPolicy, SpoolWriter


class Spool:
    """A spool directory: ``<directory>/segments/`` (the log) and ``<directory>/cursors/``.

    The writer is opened on first use (:meth:`writer`) and owned by this object;
    :meth:`reader` returns a new independent reader. :meth:`read` shares one internal reader
    behind a lock, so it may be called from any thread.
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

    # -- the consumers' side -------------------------------------------------------------

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
