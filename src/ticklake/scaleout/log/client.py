"""confluent-kafka (librdkafka) clients configured for ticklake, and topic creation.

Why these settings:

- producer: ``enable.idempotence`` + ``acks=all`` (no duplicates or reordering from the
  producer's own retries), ``message.timeout.ms=0`` (retry forever: while the broker is down
  the spool absorbs the backlog, nothing is dropped by a timeout);
- consumer: manual commits (the lake cursor is the truth), and a short session timeout and
  heartbeat: with librdkafka's defaults a group join against Tansu takes ~23 s, with these
  ~3 s (shared/docs/infrastructure.md).
librdkafka's own log goes to Python logging (``ticklake.scaleout.log.librdkafka``), not stderr.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from ticklake.errors import BrokerError
from ticklake.scaleout.log.uri import LogUri

librdkafka_log = logging.getLogger("ticklake.scaleout.log.librdkafka")


def common_config(uri: LogUri) -> dict[str, Any]:
    return {"bootstrap.servers": uri.bootstrap, "logger": librdkafka_log,
            "socket.keepalive.enable": True, "reconnect.backoff.max.ms": 2000}


def producer_config(uri: LogUri, client_id: str) -> dict[str, Any]:
    return {
        **common_config(uri),
        "client.id": client_id,
        "enable.idempotence": True,
        "acks": "all",
        "message.timeout.ms": 0,  # infinite: the spool holds the backlog
        "linger.ms": 5,
        "batch.size": 1_000_000,
        "compression.type": "lz4",
        "queue.buffering.max.kbytes": 262_144,
    }


def consumer_config(uri: LogUri, group: str, **overrides: Any) -> dict[str, Any]:
    return {
        **common_config(uri),
        "group.id": group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "fetch.wait.max.ms": 100,
        **overrides,
    }


def ensure_topic(uri: LogUri, partitions: int, timeout: float = 10.0) -> int:
    """Create the topic with ``partitions`` partitions if it is missing; returns its actual
    partition count. Raises BrokerError if the broker cannot be reached within ``timeout``."""
    if partitions < 1:
        msg = f"invalid --partitions {partitions}: at least 1"
        raise BrokerError(msg)
    admin = AdminClient(common_config(uri))
    count = partition_count(admin, uri, timeout)
    if count:
        return count
    futures = admin.create_topics([NewTopic(uri.topic, num_partitions=partitions,
                                            replication_factor=1)],
                                  operation_timeout=timeout, request_timeout=timeout)
    try:
        futures[uri.topic].result(timeout)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # a racing creator won
            msg = f"cannot create topic {uri.topic} on {uri.bootstrap}: {exc.args[0].str()}"
            raise BrokerError(msg) from None
    except Exception as exc:  # a concurrent.futures timeout
        msg = f"cannot create topic {uri.topic} on {uri.bootstrap}: {exc or 'timed out'}"
        raise BrokerError(msg) from None
    return partition_count(admin, uri, timeout) or partitions


def partition_count(admin: Any, uri: LogUri, timeout: float) -> int:
    """Partitions of the topic (0 if it does not exist); BrokerError if unreachable."""
    try:  # every topic: a request naming it may auto-create it (Tansu: 4 partitions)
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        msg = f"cannot reach the broker at {uri.bootstrap}: {exc.args[0].str()}"
        raise BrokerError(msg) from None
    topic = metadata.topics.get(uri.topic)
    if topic is None or topic.error is not None:
        return 0
    return len(topic.partitions)
