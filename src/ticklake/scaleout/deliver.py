"""``ticklake deliver``: lake writers as a consumer group over a Kafka-protocol log.

Each assigned partition gets a :class:`LakePartition` (a ``broker.group`` handler) running the
same :class:`~ticklake.lake.writer.LakeWriter` as a local recording, so the lake's rows are the
ones a local recording would have made. What differs is where its records and cursors come
from:

- **The delivered stream.** A partition holds frames of several recorders, possibly re-sent
  (a recorder crash, a producer reset) and products control records. :class:`PartitionSource`
  filters them (``broker.dedup``: a frame at or below its recorder's spool-offset high-water
  mark is dropped; a products record updates the product table) and numbers what remains
  densely, 0, 1, 2, ... per partition: the *delivered offsets*. The writer batches over those,
  so its files are ``part-<first>-<end>-<topic>.<partition>.parquet``, and ``raw.spool_offset``
  is the delivered offset in that stream (provenance: ``conn_id`` names recorder and
  connection).
- **Cursors in the lake.** :class:`StreamCursors` keeps the writer's cursor and intent in the
  lake (``lake/cursors.py``); with the cursor it saves where the delivered stream stands then:
  the next Kafka offset, the high-water marks and the product table. Whichever worker gets
  the partition next resumes exactly there, and redoes a pending intent over the same
  delivered range, hence the same file names: never a duplicate file.

Exactly-once therefore needs neither Kafka transactions nor a duplicate-free topic.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from ticklake.config import LakeSettings
from ticklake.errors import BrokerError, StorageError, TakenOver
from ticklake.feed.phemex.products import Product
from ticklake.lake.cursors import LakeCursorStore
from ticklake.lake.layout import stream_id
from ticklake.lake.storage import LakeStorage
from ticklake.lake.writer import CURSOR, INTENT, BufferingHints, LakeWriter
from ticklake.scaleout.log import LogUri
from ticklake.scaleout.log.client import ensure_topic
from ticklake.scaleout.log.dedup import HighWater
from ticklake.scaleout.log.frames import (
    LogRecord,
)
from ticklake.scaleout.log.group import GroupWorker
from ticklake.scaleout.log.inbound import GrowingProducts, Inbound
from ticklake.spool import SpoolRecord

logger = logging.getLogger(__name__)

MAX_BUFFERED = 50_000  # records fetched but not yet read by the writer (then: pause)


class DeliveredState(msgspec.Struct):
    """Saved with the writer's cursor: where the delivered stream stands at that offset."""

    decoder: bytes = b""
    kafka_next: int = 0
    high_water: dict[str, int] = {}  # recorder -> highest spool offset delivered
    products: list[Product] = []
    generations: dict[str, int] = {}  # recorder -> newest producer generation (dedup)


@dataclass(frozen=True)
class _Position:
    kafka_next: int
    high_water: dict[str, int]
    generations: dict[str, int]
    products: list[Product]


class PartitionSource:
    """The writer's ``RecordSource``: de-duplicated frames, densely numbered."""

    def __init__(self, state: DeliveredState, delivered: int, products: GrowingProducts) -> None:
        self.kafka_next = state.kafka_next
        self.delivered = delivered  # the next delivered offset
        self.high_water = HighWater(state.high_water, state.generations)
        self.products = products
        self.inbound = Inbound(self.high_water, products)
        self._pending: deque[LogRecord] = deque()
        self._fetched = self.kafka_next  # offset after the last record taken in
        self._positions: dict[int, _Position] = {}
        self._remember()

    def extend(self, records: list[LogRecord]) -> None:
        for record in records:  # a re-fetch after a pause may overlap what we hold
            if record.offset >= self._fetched:
                self._pending.append(record)
                self._fetched = record.offset + 1

    @property
    def buffered(self) -> int:
        return len(self._pending)

    def read(self, offset: int, max_records: int = 10_000,
             max_bytes: int = 16 * 2**20) -> list[SpoolRecord]:
        if offset != self.delivered:
            msg = f"delivered stream read at {offset}, expected {self.delivered}"
            raise ValueError(msg)
        out: list[SpoolRecord] = []
        taken = 0
        pending = self._pending
        while pending and len(out) < max_records:
            record = pending[0]
            if out and taken + len(record.value) > max_bytes:
                break
            pending.popleft()
            self.kafka_next = record.offset + 1
            frame = self._admit(record)
            if frame is not None:
                out.append(frame)
                taken += len(record.value)
                self.delivered += 1
        self._remember()
        return out

    def _admit(self, record: LogRecord) -> SpoolRecord | None:
        frame = self.inbound.admit(record)
        if frame is None:
            return None
        return SpoolRecord(self.delivered, frame[0], frame[1], record.value)

    def _remember(self) -> None:
        self._positions[self.delivered] = _Position(
            self.kafka_next, self.high_water.snapshot(),
            self.high_water.generations_snapshot(), self.products.listed())

    def position(self, delivered: int) -> _Position:
        """Where the stream stood when ``delivered`` records had been returned."""
        for old in [d for d in self._positions if d < delivered]:
            del self._positions[old]
        return self._positions[delivered]


class StreamCursors:
    """The writer's ``Cursors``: in the lake, with the delivered stream's position attached."""

    def __init__(self, store: LakeCursorStore, source: PartitionSource, loaded: int) -> None:
        self.store = store
        self.source = source
        self.committed = loaded
        self.kafka_committed = source.kafka_next

    def load(self, name: str) -> tuple[int, bytes]:
        offset, state = self.store.load(name)
        if name == CURSOR:
            return offset, _decode_state(state).decoder
        return offset, state

    def commit(self, name: str, offset: int, state: bytes = b"") -> None:
        if name == INTENT:
            # A cheap fence: if the cursor moved, a newer owner is publishing this partition.
            if self.store.load(CURSOR)[0] != self.committed:
                msg = f"partition {self.store} was taken over by another worker"
                raise TakenOver(msg)
            self.store.commit(name, offset, state)
            return
        position = self.source.position(offset)
        saved = DeliveredState(decoder=state, kafka_next=position.kafka_next,
                               high_water=position.high_water, products=position.products,
                               generations=position.generations)
        self.store.commit(name, offset, msgspec.msgpack.encode(saved))
        self.committed = offset
        self.kafka_committed = position.kafka_next


    def skip_ahead(self) -> None:
        """Everything read is published and only skipped records (products, re-sends) came
        after: move the cursor past them (same delivered offset, same decoder state)."""
        offset, raw = self.store.load(CURSOR)
        if offset != self.committed:
            msg = f"partition {self.store} was taken over by another worker"
            raise TakenOver(msg)
        self.commit(CURSOR, offset, _decode_state(raw).decoder)


def _decode_state(data: bytes) -> DeliveredState:
    return msgspec.msgpack.decode(data, type=DeliveredState) if data else DeliveredState()


class LakePartition:
    """A ``broker.group`` handler: one partition of the log into the lake."""

    def __init__(self, topic: str, partition: int, storage: LakeStorage,
                 hints: BufferingHints, snapshot_size: int | None = None) -> None:
        self.stream = stream_id(topic, partition)
        store = LakeCursorStore(storage, self.stream)
        delivered, raw_state = store.load(CURSOR)
        state = _decode_state(raw_state)
        products = GrowingProducts(state.products)
        self.source = PartitionSource(state, delivered, products)
        self.cursors = StreamCursors(store, self.source, delivered)
        self.writer = LakeWriter(self.source, self.cursors, storage, products, hints,
                                 snapshot_size, stream=self.stream)
        self._reported = self.cursors.kafka_committed
        self._skip_due = 0.0

    def start_offset(self) -> int:
        return self.cursors.kafka_committed

    def handle(self, records: list[LogRecord]) -> None:
        self.source.extend(records)

    def want_more(self) -> bool:
        return self.source.buffered < MAX_BUFFERED

    def poll(self) -> int | None:
        busy = self.writer.poll()
        if (not busy and self.writer.committed_offset == self.source.delivered
                and self.source.kafka_next > self.cursors.kafka_committed
                and self.writer.clock() >= self._skip_due):
            self._skip_due = self.writer.clock() + self.writer.hints.interval
            try:
                self.cursors.skip_ahead()
            except StorageError as exc:  # retried at the next interval
                logger.warning("= %s: cannot move the cursor: %s", self.stream, exc)
        return self._moved()

    def _moved(self) -> int | None:
        if self.cursors.kafka_committed == self._reported:
            return None
        self._reported = self.cursors.kafka_committed
        return self._reported

    def close(self, revoked: bool) -> int | None:
        if revoked:
            return None  # the unpublished batch is dropped: the next owner re-reads it
        if not self.writer.drain():
            logger.warning("= %s: the last batch could not be published (%s); the next "
                           "owner redoes it", self.stream, self.writer.stats.last_error)
        return self._moved()


def delivered_position(storage: LakeStorage, topic: str, partition: int) -> int:
    """The partition's next Kafka offset after everything published (its lake cursor): the
    group's true progress, e.g. to measure lag against the high watermark."""
    _, state = LakeCursorStore(storage, stream_id(topic, partition)).load(CURSOR)
    return _decode_state(state).kafka_next


def _duration(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60} m {whole % 60:02d} s" if whole >= 60 else f"{whole} s"


def run_deliver(uri: LogUri, settings: LakeSettings, group: str,
                report: Callable[[str], None]) -> GroupWorker:
    """``ticklake deliver``: one group member until SIGTERM/SIGINT (then a graceful stop)."""
    storage = LakeStorage(settings.root)
    storage.ensure_marker()  # a wrong --lake: one line now
    try:
        ensure_topic(uri, settings.partitions)
    except BrokerError as exc:  # the consumer keeps trying: recorders may create it later
        report(f"warning: {exc}")
    hints = BufferingHints(settings.buffer_mib, settings.buffer_seconds, settings.compact_mib)
    partitions: dict[int, LakePartition] = {}

    def factory(topic: str, partition: int) -> LakePartition:
        handler = partitions[partition] = LakePartition(topic, partition, storage, hints)
        return handler

    worker = GroupWorker(uri, group, factory)

    def tick() -> None:
        live = worker.handlers()
        published = sum(p.writer.stats.records for p in partitions.values())
        dropped = sum(p.source.high_water.dropped for p in partitions.values())
        held = sum(p.writer.pending_bytes for p in partitions.values())
        due = [d for p in partitions.values() if (d := p.writer.due_in()) is not None]
        # A worker publishes a partition's batch only when it is buffer_seconds old (or
        # buffer_mib big): say so, or the lake looks empty for minutes while all is well.
        holding = (f"holding {held / 2**20:.1f} MiB, next publish in {_duration(min(due))}"
                   if due else "holding nothing")
        report(f"deliver {uri.topic} [{group}]: partitions {sorted(live)} | "
               f"{worker.stats.records:,} read | {published:,} published | {holding} | "
               f"{dropped:,} re-sent dropped | {worker.stats.assignments} assignments")

    report(f"delivering {uri} into {settings.root} as a member of {group} (Ctrl+C stops)")
    worker.run_until_signalled(tick)
    return worker
