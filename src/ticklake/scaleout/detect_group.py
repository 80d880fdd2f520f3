"""``ticklake detect --log``: swing detectors as a consumer group over a Kafka-protocol log.

Each assigned partition (its symbols: the log is keyed by symbol) gets a
:class:`DetectPartition`, a ``broker.group`` handler: frames are de-duplicated by their
recorder's spool offset (``broker.dedup``), decoded by a de-duplicating ``TradeDecoder`` and
fed to one ``SwingDetector``; every ended episode goes to the lake's ``anomalies`` table at
once, one file per episode (its name is a function of the episode alone).

Every ``snapshot_s`` and when the partition is revoked or the worker stops, a snapshot of
everything that decides what comes next is committed into the lake's cursor store: the next
Kafka offset, the detector (``SwingDetector.snapshot``), the decoder's de-duplication state,
the recorders' high-water marks and the product table. Whichever worker gets the partition
next restores it and reads on from that offset: no cold start (no warm-up, open episodes go
on), and the episodes that ended after the snapshot are found again, identical, and rewrite
the same files: each is in the lake exactly once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import msgspec

from ticklake.config import LakeSettings
from ticklake.detect import DetectorParams, SwingDetector
from ticklake.errors import BrokerError, StorageError
from ticklake.feed.events import Event
from ticklake.feed.phemex.products import Product
from ticklake.feed.phemex.trades import replay_decoder
from ticklake.lake.anomalies import AnomalyWriter
from ticklake.lake.cursors import LakeCursorStore
from ticklake.lake.layout import stream_id
from ticklake.lake.storage import LakeStorage
from ticklake.model import Anomaly
from ticklake.scaleout.log import LogUri
from ticklake.scaleout.log.client import ensure_topic
from ticklake.scaleout.log.dedup import HighWater
from ticklake.scaleout.log.frames import (
    LogRecord,
)
from ticklake.scaleout.log.group import GroupWorker
from ticklake.scaleout.log.inbound import GrowingProducts, Inbound

logger = logging.getLogger(__name__)

SNAPSHOT_SECONDS = 10.0


class DetectState(msgspec.Struct):
    """One partition's detection state, as committed in the lake's cursor store."""

    detector: bytes = b""  # SwingDetector.snapshot(); empty: a cold start
    decoder: bytes = b""  # TradeDecoder.state() (per-symbol de-duplication cursors)
    high_water: dict[str, int] = {}  # recorder -> highest spool offset delivered
    generations: dict[str, int] = {}  # recorder -> newest producer generation
    products: list[Product] = []
    restored: int = 0  # how many times this partition resumed from a snapshot


def cursor_name(group: str) -> str:
    """The cursor of ``group`` in each partition's cursor store (beside the lake writers')."""
    return "detect_" + "".join(c if c.isalnum() else "_" for c in group)


def load_state(storage: LakeStorage, topic: str, partition: int,
               group: str) -> tuple[int, DetectState]:
    """(next Kafka offset, state) last committed for the partition; (0, empty) if never."""
    store = LakeCursorStore(storage, stream_id(topic, partition))
    offset, raw = store.load(cursor_name(group))
    return offset, (msgspec.msgpack.decode(raw, type=DetectState) if raw else DetectState())


class DetectPartition:
    """A ``broker.group`` handler: one partition of the log through a swing detector."""

    def __init__(self, topic: str, partition: int, storage: LakeStorage, group: str,
                 params: DetectorParams, snapshot_s: float = SNAPSHOT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream_id(topic, partition)
        self._store = LakeCursorStore(storage, self.stream)
        self._name = cursor_name(group)
        self.kafka_next, state = load_state(storage, topic, partition, group)
        self.restored = state.restored + (1 if state.detector else 0)
        self.detector = (SwingDetector.restore(state.detector, params) if state.detector
                         else SwingDetector(params))
        self.products = GrowingProducts(state.products)
        self.decoder = replay_decoder(state.decoder, self.products, books=False)
        self.high_water = HighWater(state.high_water, state.generations)
        self.inbound = Inbound(self.high_water, self.products)
        # one manifest log per partition: its owner is the only writer (S3 has no locks)
        self.writer = AnomalyWriter(storage, log=f"anomalies-{cursor_name(group)}-{self.stream}")
        self.episodes = 0
        self._snapshot_s = snapshot_s
        self._clock = clock
        self._due = clock() + snapshot_s

    # ------------------------------------------------------------------ handler API

    def start_offset(self) -> int:
        return self.kafka_next

    def handle(self, records: list[LogRecord]) -> None:
        ended: list[Anomaly] = []
        for record in records:
            if record.offset < self.kafka_next:
                continue  # a re-fetch after a pause may overlap what was read
            self.kafka_next = record.offset + 1
            for event in self._events(record):
                ended.extend(a for a in self.detector.on_event(event) if a.phase == "end")
        for anomaly in ended:
            # One file per episode: a replay after a restore writes the same name, whatever
            # the batches were (exactly once without a transaction).
            self.writer.write([anomaly])
        self.episodes += len(ended)

    def want_more(self) -> bool:
        return True  # detection keeps up record by record: nothing is buffered here

    def poll(self) -> int | None:
        if self._clock() < self._due:
            return None
        self._due = self._clock() + self._snapshot_s
        return self._commit()

    def close(self, revoked: bool) -> int | None:
        # Everything read is already detected and written: on revoke as on stop, the
        # snapshot lets the next owner go on from here (no finish(): episodes stay open).
        del revoked
        return self._commit()

    # ------------------------------------------------------------------ internals

    def _events(self, record: LogRecord) -> list[Event]:
        frame = self.inbound.admit(record)
        return [] if frame is None else self.decoder.decode(record.value, *frame)

    def _commit(self) -> int | None:
        # Not carried: the decoder's per-connection message sequences (as for the lake
        # writers): a message re-sent on the same connection right after a move is told
        # from a new one by the per-symbol trade cursors only.
        state = DetectState(self.detector.snapshot(), self.decoder.state(),
                            self.high_water.snapshot(), self.high_water.generations_snapshot(),
                            self.products.listed(), self.restored)
        try:
            self._store.commit(self._name, self.kafka_next, msgspec.msgpack.encode(state))
        except StorageError as exc:  # retried at the next interval; a new owner re-reads
            logger.warning("= %s: cannot commit the detector snapshot: %s", self.stream, exc)
            return None
        return self.kafka_next


def run_detect_group(uri: LogUri, settings: LakeSettings, group: str, params: DetectorParams,
                     report: Callable[[str], None],
                     snapshot_s: float = SNAPSHOT_SECONDS) -> GroupWorker:
    """``ticklake detect --log``: one group member until SIGTERM/SIGINT (graceful stop)."""
    storage = LakeStorage(settings.root)
    storage.ensure_marker()  # a wrong --lake: one line now
    try:
        ensure_topic(uri, settings.partitions)
    except BrokerError as exc:  # recorders may create it later
        report(f"warning: {exc}")
    partitions: dict[int, DetectPartition] = {}

    def factory(topic: str, partition: int) -> DetectPartition:
        handler = partitions[partition] = DetectPartition(topic, partition, storage, group,
                                                          params, snapshot_s)
        return handler

    worker = GroupWorker(uri, group, factory)

    def tick() -> None:
        live = worker.handlers()
        episodes = sum(p.episodes for p in partitions.values())
        report(f"detect {uri.topic} [{group}]: partitions {sorted(live)} | "
               f"{worker.stats.records:,} read | {episodes:,} anomalies written | "
               f"{worker.stats.assignments} assignments")

    report(f"detecting swings in {uri} into {settings.root} as a member of {group} "
           "(Ctrl+C stops)")
    worker.run_until_signalled(tick)
    return worker
