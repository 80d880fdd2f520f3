"""The recorder's shipper stops gracefully with every spooled frame on the broker.

The recording closes its spool (the last buffered frames reach the file) and only then stops
the shipper; a shipper that decided "nothing left" from a read made before that close left the
last frames behind (found by the scale-out end-to-end test: one frame short, now and then).
"""

from __future__ import annotations

import time
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from ticklake.model import RawFrame
from ticklake.scaleout.log.frames import KIND, REC
from ticklake.scaleout.log.shipper import open_shipper
from ticklake.spool import Spool, SpoolReader

from ..reliability.common import wait_for
from ..support import scaled
from .tansu import Tansu

PARTITIONS = 2


def frames_on_topic(broker: Tansu, topic: str) -> int:
    """Frames on the topic: every partition read to its end (its high watermark, the
    producer having been stopped), so a slow broker cannot cut the count short."""
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "count",
                         "enable.auto.commit": False, "fetch.wait.max.ms": 100})
    partitions = [TopicPartition(topic, p, 0) for p in range(PARTITIONS)]
    ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=scaled(10))[1]
            for tp in partitions}
    read = dict.fromkeys(ends, 0)
    consumer.assign(partitions)
    count = 0
    deadline = time.monotonic() + scaled(30)
    try:
        while any(read[p] < end for p, end in ends.items()):
            assert time.monotonic() < deadline, (read, ends)
            for message in consumer.consume(1000, 0.2):
                assert message.error() is None, message.error()
                read[message.partition()] = message.offset() + 1
                headers = dict(message.headers() or ())
                count += REC in headers and KIND not in headers  # frames only
    finally:
        consumer.close()
    return count


def test_a_graceful_stop_ships_the_frames_appended_just_before_it(
        tmp_path: Path, tansu: Tansu) -> None:
    for run in range(5):
        spool = Spool(tmp_path / f"spool{run}")
        writer = spool.writer()
        shipper = open_shipper(spool, tansu.uri(f"t{run}"), b"[]", PARTITIONS)
        shipper.start()
        for i in range(50):
            writer.append(RawFrame(1, i, b'{"trades_p":[],"symbol":"BTCUSD"}'))
        writer.flush()
        wait_for(lambda: shipper.committed_offset == 50, 30,  # noqa: B023 (waited on here)
                 "the first frames shipped")
        # What a recording does at its end: buffered appends, close (flush), stop.
        for i in range(3):
            writer.append(RawFrame(1, 100 + i, b'{"result":"pong"}'))
        writer.close()
        shipper.stop(drain=True, timeout=30)
        end = SpoolReader(spool.directory).end_offset()
        assert (end, shipper.committed_offset) == (53, 53), f"run {run}"
        spool.close()
        assert frames_on_topic(tansu, f"t{run}") == 53
