"""LakeWriter: spool → Parquet files → cursor, exactly once (Firehose's job, minus its flaws).

Buffering hints like Firehose's: a batch is published when its raw bytes reach ``size_mib`` or
its age reaches ``interval`` seconds, whichever comes first. Exactly-once, across kill -9:

1. before publishing ``[first, end)`` the writer commits an *intent* naming that range;
2. it publishes every file of the batch, each named by the range (``layout.file_path``);
3. it commits the files to its log of the lake's manifest (``ticklake.manifest``): readers
   see the batch from this moment, all of it at once;
4. it commits its cursor (``end`` and the de-duplication state at ``end``).

After a crash, a pending intent that starts at the committed cursor is redone over exactly
the same range, so the same files are rewritten under the same names and committed to the
manifest again (a commit is a set: the same files once): never a second copy.
While the store fails, the batch is kept and retried with backoff; the writer stops reading
the spool once a batch is full, so memory stays bounded and the spool absorbs the backlog.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ticklake.errors import ManifestError, StorageError
from ticklake.feed.phemex.products import ProductTable
from ticklake.feed.phemex.trades import replay_decoder
from ticklake.lake.arrays import DAY_NS
from ticklake.lake.autocompact import compact_runs, delete_removed, plan_runs
from ticklake.lake.batch import Batch
from ticklake.lake.checkpoints import save_checkpoint
from ticklake.lake.hints import CURSOR as CURSOR  # noqa: PLC0414 (re-exported)
from ticklake.lake.hints import INTENT as INTENT  # noqa: PLC0414
from ticklake.lake.hints import BufferingHints as BufferingHints  # noqa: PLC0414
from ticklake.lake.layout import file_path
from ticklake.lake.storage import LakeStorage
from ticklake.manifest import entry_for, log_for_stream, table_ranges
from ticklake.spool import SpoolError

logger = logging.getLogger(__name__)


class Record(Protocol):
    @property
    def offset(self) -> int: ...
    @property
    def conn_id(self) -> int: ...
    @property
    def recv_ns(self) -> int: ...
    @property
    def payload(self) -> bytes: ...


class RecordSource(Protocol):
    """What the writer needs of a durable log (the spool, later a Kafka topic)."""

    def read(
        self, offset: int, max_records: int = ..., max_bytes: int = ...
    ) -> Sequence[Record]: ...


class Cursors(Protocol):
    def load(self, name: str) -> tuple[int, bytes]: ...
    def commit(self, name: str, offset: int, state: bytes = b"") -> None: ...


@dataclass
class WriterStats:
    batches: int = 0
    files: int = 0
    bytes_written: int = 0
    records: int = 0
    failures: int = 0
    last_error: str = ""
    committed_offset: int = 0
    files_compacted: int = 0
    publish_seconds: list[float] = field(default_factory=list)


def unfinished_publish(cursors: Cursors, committed: int) -> int | None:
    """End of the batch a publish began from the ``committed`` cursor and did not finish
    (its intent is there, the cursor not yet past it), or None."""
    intent_end, intent = cursors.load(INTENT)
    first = json.loads(intent)["first"] if intent else -1
    return intent_end if first == committed and intent_end > committed else None


class LakeWriter:
    """Turns spool records into lake files; call ``poll`` repeatedly (one thread)."""

    def __init__(
        self,
        source: RecordSource,
        cursors: Cursors,
        storage: LakeStorage,
        products: ProductTable,
        hints: BufferingHints | None = None,
        snapshot_size: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        stream: str = "",
        pending_since: float | None = None,
        wall_clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.source = source
        self.stream = stream  # "" = the local spool; else a Kafka partition (layout.stream_id)
        self.cursors = cursors
        self.storage = storage
        self.products = products
        self.hints = hints or BufferingHints()
        self.snapshot_size = snapshot_size
        self.clock = clock
        self.wall_clock = wall_clock
        self.stats = WriterStats()
        self._retry_at = 0.0
        self._failures_in_row = 0
        # When the oldest unpublished record arrived, if earlier than this writer's first read
        # (a writer started when a publish is due: its first batch is as old as that record).
        self._pending_since = pending_since
        self._last_rate = 0.0  # payload bytes/s of the last batch published
        self._last_recv_ns = 0  # of the last record read
        self._checkpoint_day = -1  # UTC day of the last decoder checkpoint saved
        storage.ensure_marker()
        storage.sweep_temporary()
        self.manifest = storage.open_manifest_log(log_for_stream(stream))
        self._restore()

    def _restore(self) -> None:
        offset, state = self.cursors.load(CURSOR)
        self.stats.committed_offset = offset
        self._decoder = replay_decoder(state, self.products, self.snapshot_size)
        self._state = state  # the decoder's at the committed cursor
        self._batch = Batch(offset, offset)
        self._started = 0.0
        self._redo_end = unfinished_publish(self.cursors, offset)
        if self._redo_end is not None:
            logger.info("= redoing batch [%d, %d) after a restart", offset, self._redo_end)

    @property
    def committed_offset(self) -> int:
        return self.stats.committed_offset

    def poll(self) -> bool:
        """Read what the spool has, publish when due; returns whether anything happened."""
        now = self.clock()
        if now < self._retry_at:
            return False
        read = self._fill()
        due = self._due(now)
        if due:
            self.publish()
        return read > 0 or due

    def _fill(self) -> int:
        batch = self._batch
        max_bytes = int(self.hints.size_mib * 2**20)
        limit = self._redo_end
        added = 0
        # A redo reads to the intent's end whatever the size hint is now (it may have been
        # lowered since the crash): stopping short would publish other ranges over its files.
        while (batch.end < limit) if limit is not None else (batch.payload_bytes < max_bytes):
            want = 10_000 if limit is None else min(10_000, limit - batch.end)
            room = max_bytes if limit is not None else max_bytes - batch.payload_bytes
            records = self.source.read(batch.end, max_records=want, max_bytes=max(1, room))
            if not records:
                break
            if batch.records == 0:
                self._started = self.clock()
                if self._pending_since is not None:
                    self._started = min(self._started, self._pending_since)
                    self._pending_since = None
            for record in records:
                batch.add_record(self._decoder, record.offset, record.conn_id,
                                 record.recv_ns, record.payload)
            added += len(records)
            self._last_recv_ns = records[-1].recv_ns
        return added

    def _due(self, now: float) -> bool:
        batch = self._batch
        if batch.records == 0:
            return False
        if self._redo_end is not None:
            return batch.end >= self._redo_end
        return (batch.payload_bytes >= self.hints.size_mib * 2**20
                or now - self._started >= self.hints.interval)

    @property
    def pending_since(self) -> float | None:
        """When the current batch's first record was read (``clock`` time), if any."""
        return self._started if self._batch.records else None

    @property
    def pending_bytes(self) -> int:
        return self._batch.payload_bytes

    def due_in(self) -> float | None:
        """Seconds until the current batch is published by age (0: due now), or None when
        nothing is pending (size can make it due sooner)."""
        if not self._batch.records:
            return None
        return max(0.0, self.hints.interval - (self.clock() - self._started))

    def quiet_for(self, seconds: float) -> bool:
        """Nothing will be due within ``seconds``: neither the batch's age (an empty batch
        starts at the next record) nor the rate it fills at (this batch's or the last one's)
        makes it due by then, and no failed publish waits to be retried. A writer that may
        exit between publishes asks this."""
        if self._redo_end is not None or self._failures_in_row:
            return False
        if self.hints.interval <= seconds:
            return False
        batch = self._batch
        rate = self._last_rate
        if batch.records:
            age = self.clock() - self._started
            if self.hints.interval - age <= seconds:
                return False
            rate = max(rate, batch.payload_bytes / max(age, 1e-3))
        return self.hints.size_mib * 2**20 - batch.payload_bytes > rate * seconds

    def drain(self) -> bool:
        """Read everything the spool holds now and publish it (a graceful stop)."""
        while True:
            self._fill()
            if not self.publish():
                return False
            if self._fill() == 0 and self._batch.records == 0:
                return True

    def publish(self) -> bool:
        """Publish the current batch (if any); False when the store failed (retried later)."""
        batch = self._batch
        if batch.records == 0:
            return True
        started = self.clock()
        try:
            self.cursors.commit(INTENT, batch.end, json.dumps({"first": batch.first}).encode())
            written = 0
            entries = []
            tables = batch.tables()
            for table, partitions in sorted(tables.items()):
                for partition, rows in sorted(partitions.items()):
                    path = file_path(table, partition, batch.first, batch.end,
                                     stream=self.stream)
                    size = self.storage.publish(path, rows)
                    entries.append(entry_for(path, table, partition, rows.num_rows, size,
                                             table_ranges(table, rows)))
                    written += size
                    self.stats.files += 1
            self.manifest.commit(entries)
            state = self._decoder.state()
            self.cursors.commit(CURSOR, batch.end, state)
        except (StorageError, SpoolError, ManifestError, OSError) as exc:
            # SpoolError: a cursor commit
            self._failed(exc)
            return False
        self.stats.batches += 1
        self.stats.records += batch.records
        self.stats.bytes_written += written
        self.stats.committed_offset = batch.end
        self.stats.publish_seconds.append(self.clock() - started)
        self._last_rate = batch.payload_bytes / max(started - self._started, 1e-3)
        self._failures_in_row = 0
        self._redo_end = None
        self._batch = Batch(batch.end, batch.end)
        self._checkpoint(batch.first)
        self._state = state
        self._compact()
        return True

    def _checkpoint(self, offset: int) -> None:
        """At the first publish of each UTC day (by the receive time of its last record),
        the decoder's state at the start of that batch, just before the day's first record
        (``lake.checkpoints``): where a rebuild of the day starts. A failure is only logged
        (an earlier checkpoint, or the stream's start, serves as well, more slowly)."""
        day = self._last_recv_ns // DAY_NS
        if day == self._checkpoint_day:
            return
        try:
            save_checkpoint(self.storage.manifest_store(), log_for_stream(self.stream),
                            offset, self._state)
        except (ManifestError, OSError) as exc:
            logger.warning("= could not save the decoder checkpoint at %d (%s)", offset, exc)
            return
        self._checkpoint_day = day

    def _compact(self) -> None:
        """Merge this writer's closed hours and days (``autocompact``); a failure is only
        logged: the batch is published, and the next publish tries again."""
        if self.hints.compact_mib <= 0:
            return
        try:
            runs = plan_runs(self.manifest.files().values(), self.stream, self.wall_clock(),
                             int(self.hints.compact_mib * 2**20))
            self.stats.files_compacted += compact_runs(self.storage, self.manifest, runs)
            delete_removed(self.storage, self.manifest)
        except (StorageError, ManifestError, OSError) as exc:
            logger.warning("= compaction failed (%s); retried after the next publish", exc)

    def _failed(self, exc: Exception) -> None:
        # Freeze the range: the intent (and maybe some files) name it, so it must not grow.
        self._redo_end = self._batch.end
        self.stats.failures += 1
        self.stats.last_error = str(exc)
        self._failures_in_row += 1
        delay = min(60.0, 0.5 * 2 ** min(self._failures_in_row - 1, 7))
        self._retry_at = self.clock() + delay
        logger.warning("= lake publish failed (%s); retrying in %.1fs", exc, delay)
