"""A Kafka-protocol log between recorders and lake writers (issue 8).

- ``uri``: ``kafka://host:port[,host:port]/topic`` parsing;
- ``client``: confluent-kafka configurations, topic creation;
- ``frames``: a spool record as a Kafka message (key, headers) and back;
- ``shipper``: the recorder side: spool → topic, idempotent, retried forever;
- ``group``: ``GroupWorker``, a consumer-group member with one handler per partition
  (``ticklake deliver`` and ``ticklake detect --log`` build on it);
- ``dedup``: dropping re-sent frames by their recorder's spool offset;
- ``inbound``: what a consumer makes of each message (products, re-sends, frames).
"""

from __future__ import annotations

from ticklake.errors import BrokerError

from .frames import LogRecord
from .uri import LogUri, parse_log_uri

__all__ = ["BrokerError", "LogRecord", "LogUri", "parse_log_uri"]
