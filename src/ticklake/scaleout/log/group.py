"""GroupWorker: a consumer-group member that runs one handler per assigned partition.

Generic: ``ticklake deliver`` (lake writers) and ``ticklake detect --log`` build on it.
Add or kill workers at will: the group rebalances partitions among the living ones; each
handler decides where its partition resumes (``start_offset``: e.g. from a cursor kept in the
lake), so a partition moves between workers without loss or duplicates as long as the
handler's own output is idempotent for a range re-read.

The handler API (one instance per assigned partition, created by ``factory(topic, partition)``,
always called from the worker's one thread)::

    start_offset() -> int          Kafka offset to read from (called once, at assignment)
    handle(records)                the partition's next records, in offset order
    want_more() -> bool            False pauses fetching this partition (backpressure)
    poll() -> int | None           timed work (e.g. publish a due batch); returns the offset
                                   safe to commit (next to read) when it moved, else None
    close(revoked) -> int | None   revoked=True: the partition is gone, drop unfinished work;
                                   False: graceful stop, finish (publish) what is buffered and
                                   return the offset to commit

The group offset is committed after the handler says so (monitoring and a hint; a handler
that keeps its own cursor is the truth). ``stop()`` (or SIGTERM in the CLI) makes ``run``
close every handler gracefully, commit, leave the group and return.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaException, TopicPartition

from ticklake.scaleout.log.client import consumer_config
from ticklake.scaleout.log.frames import LogRecord
from ticklake.scaleout.log.uri import LogUri

logger = logging.getLogger(__name__)


class PartitionHandler(Protocol):
    def start_offset(self) -> int: ...
    def handle(self, records: list[LogRecord]) -> None: ...
    def want_more(self) -> bool: ...
    def poll(self) -> int | None: ...
    def close(self, revoked: bool) -> int | None: ...


HandlerFactory = Callable[[str, int], PartitionHandler]


@dataclass
class GroupStats:
    records: int = 0
    assignments: int = 0
    revocations: int = 0
    commits: int = 0
    assigned: list[int] = field(default_factory=list)


class GroupWorker:
    """Consume ``uri``'s topic as a member of ``group``; see the module docstring."""

    def __init__(self, uri: LogUri, group: str, factory: HandlerFactory,
                 batch: int = 2000, **consumer_overrides: Any) -> None:
        self.uri = uri
        self.group = group
        self.factory = factory
        self.batch = batch
        self.stats = GroupStats()
        self._config = consumer_config(uri, group, **consumer_overrides)
        self._handlers: dict[int, PartitionHandler] = {}
        self._paused: set[int] = set()
        self._committed: dict[int, int] = {}
        self._stop = threading.Event()
        self._consumer: Any = None

    def stop(self) -> None:
        """Ask ``run`` to finish (thread-safe, signal-safe)."""
        self._stop.set()

    def handlers(self) -> dict[int, PartitionHandler]:
        """The handlers of the partitions assigned now (read from the worker's thread)."""
        return dict(self._handlers)

    def run(self, tick: Callable[[], None] | None = None, tick_seconds: float = 2.0) -> None:
        """Consume until :meth:`stop`; ``tick`` is called every ``tick_seconds`` (progress)."""
        consumer = self._consumer = Consumer(self._config)
        consumer.subscribe([self.uri.topic], on_assign=self._on_assign,
                           on_revoke=self._on_revoke, on_lost=self._on_revoke)
        next_tick = time.monotonic() + tick_seconds
        try:
            while not self._stop.is_set():
                self._step(consumer)
                if tick is not None and time.monotonic() >= next_tick:
                    tick()
                    next_tick = time.monotonic() + tick_seconds
            self._close_all(revoked=False)
        finally:
            try:
                consumer.close()  # leaves the group: the others take over at once
            except (KafkaException, RuntimeError) as exc:
                logger.warning("= leaving the group failed: %s", exc)

    def run_until_signalled(self, tick: Callable[[], None]) -> None:
        """``run`` as a command's main loop: SIGINT/SIGTERM stop it gracefully (handlers
        closed, offsets committed, the group left); ``tick`` reports, once more at the end."""

        def on_signal(_signum: int, _frame: FrameType | None) -> None:
            self.stop()

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, on_signal)
        self.run(tick)
        tick()

    def _step(self, consumer: Any) -> None:
        messages = consumer.consume(self.batch, 0.05)
        by_partition: dict[int, list[LogRecord]] = {}
        for message in messages:
            if message.error() is not None:
                logger.warning("= consumer: %s", message.error().str())
                continue
            part = message.partition()
            by_partition.setdefault(part, []).append(LogRecord(
                part, message.offset(), message.key(), message.value() or b"",
                dict(message.headers() or ()), message.timestamp()[1]))
        for part, records in by_partition.items():
            handler = self._handlers.get(part)
            if handler is not None:  # else: revoked meanwhile; the next owner re-reads them
                self.stats.records += len(records)
                handler.handle(records)
        for part, handler in list(self._handlers.items()):
            offset = handler.poll()
            if offset is not None:
                self._commit(consumer, part, offset, asynchronous=True)
            self._flow(consumer, part, handler)

    def _flow(self, consumer: Any, part: int, handler: PartitionHandler) -> None:
        tp = [TopicPartition(self.uri.topic, part)]
        if handler.want_more():
            if part in self._paused:
                consumer.resume(tp)
                self._paused.discard(part)
        elif part not in self._paused:
            consumer.pause(tp)
            self._paused.add(part)

    def _commit(self, consumer: Any, part: int, offset: int, asynchronous: bool) -> None:
        if self._committed.get(part) == offset:
            return
        try:
            consumer.commit(offsets=[TopicPartition(self.uri.topic, part, offset)],
                            asynchronous=asynchronous)
            self._committed[part] = offset
            self.stats.commits += 1
        except KafkaException as exc:  # a hint only: the handler's own cursor is the truth
            logger.warning("= group offset commit failed for partition %d: %s", part, exc)

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            handler = self.factory(tp.topic, tp.partition)
            self._handlers[tp.partition] = handler
            tp.offset = handler.start_offset()
        self._paused.clear()
        self.stats.assignments += 1
        self.stats.assigned = sorted(self._handlers)
        logger.info("= assigned partitions %s", self.stats.assigned)
        consumer.assign(partitions)

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            handler = self._handlers.pop(tp.partition, None)
            if handler is not None:
                handler.close(revoked=True)
            self._committed.pop(tp.partition, None)
        self._paused.clear()
        self.stats.revocations += 1
        self.stats.assigned = sorted(self._handlers)
        consumer.unassign()

    def _close_all(self, revoked: bool) -> None:
        started = time.monotonic()
        for part, handler in list(self._handlers.items()):
            offset = handler.close(revoked)
            if offset is not None:
                self._commit(self._consumer, part, offset, asynchronous=False)
        self._handlers.clear()
        logger.info("= closed handlers in %.2fs", time.monotonic() - started)
