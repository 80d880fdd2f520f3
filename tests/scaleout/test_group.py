"""GroupWorker against a real broker: partitions spread over members, each resumes at its
handler's own cursor, a member that stops hands its partitions over, nothing read twice."""

from __future__ import annotations

import threading
from collections import Counter

from confluent_kafka import Consumer, Producer, TopicPartition

from ticklake.scaleout.log import LogRecord, parse_log_uri
from ticklake.scaleout.log.client import ensure_topic
from ticklake.scaleout.log.group import GroupWorker, PartitionHandler

from ..reliability.common import wait_for
from .tansu import Tansu

PARTITIONS = 4


class Owned:
    """A handler that keeps its own cursor (shared across members, like the lake's)."""

    def __init__(self, cursors: dict[int, int], seen: Counter[tuple[int, int]],
                 partition: int, lock: threading.Lock) -> None:
        self.cursors, self.seen, self.partition, self.lock = cursors, seen, partition, lock
        self.closed: bool | None = None

    def start_offset(self) -> int:
        return self.cursors.get(self.partition, 0)

    def handle(self, records: list[LogRecord]) -> None:
        with self.lock:
            for record in records:
                self.seen[(record.partition, record.offset)] += 1
                self.cursors[self.partition] = record.offset + 1

    def want_more(self) -> bool:
        return True

    def poll(self) -> int | None:
        return self.cursors.get(self.partition)

    def close(self, revoked: bool) -> int | None:
        self.closed = revoked
        return None if revoked else self.cursors.get(self.partition)


def produce(bootstrap: str, topic: str, n: int, start: int = 0) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i in range(start, start + n):
        producer.produce(topic, key=str(i % 13).encode(), value=str(i).encode())
    assert producer.flush(30) == 0


def test_members_share_partitions_and_hand_them_over(tansu: Tansu) -> None:
    uri = parse_log_uri(tansu.uri("group-test"))
    assert ensure_topic(uri, PARTITIONS) == PARTITIONS
    assert ensure_topic(uri, 9) == PARTITIONS  # exists already: left as it is
    cursors: dict[int, int] = {}
    seen: Counter[tuple[int, int]] = Counter()
    lock = threading.Lock()

    def factory(topic: str, partition: int) -> PartitionHandler:
        assert topic == "group-test"
        return Owned(cursors, seen, partition, lock)

    workers = [GroupWorker(uri, "g", factory) for _ in range(2)]
    threads = [threading.Thread(target=w.run) for w in workers]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: sorted(workers[0].stats.assigned + workers[1].stats.assigned)
                 == list(range(PARTITIONS)) and all(w.stats.assigned for w in workers),
                 30, "both members assigned")
        produce(tansu.bootstrap, uri.topic, 2000)
        wait_for(lambda: len(seen) == 2000, 30, "2000 records handled")
        workers[1].stop()
        threads[1].join(timeout=30)
        assert not threads[1].is_alive()
        wait_for(lambda: workers[0].stats.assigned == list(range(PARTITIONS)), 30,
                 "the survivor owns every partition")
        produce(tansu.bootstrap, uri.topic, 1000, start=2000)
        wait_for(lambda: len(seen) == 3000, 30, "3000 records handled")
    finally:
        for worker in workers:
            worker.stop()
        for thread in threads:
            thread.join(timeout=30)
    assert max(seen.values()) == 1, "a record was handled twice"
    assert sum(cursors.values()) == 3000
    group = Consumer({"bootstrap.servers": tansu.bootstrap, "group.id": "g"})
    try:  # the group offsets followed the handlers' cursors (monitoring sees no lag)
        committed = group.committed([TopicPartition(uri.topic, p) for p in range(PARTITIONS)],
                                    timeout=10)
    finally:
        group.close()
    assert {tp.partition: tp.offset for tp in committed} == cursors
