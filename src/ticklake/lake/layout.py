"""File names and Hive paths: deterministic from table, partition, stream and offset range."""

from __future__ import annotations

from ticklake.tables import PARTITIONS, file_stream, is_stream_id, parse_file_name

__all__ = ["file_path", "file_stream", "parse_file_name", "stream_id"]

Partition = tuple[str, ...]


def stream_id(topic: str, partition: int) -> str:
    """The stream of a Kafka-protocol log's partition: ``<topic>.<partition>``."""
    stream = f"{topic}.{partition}"
    if not is_stream_id(stream):
        msg = f"invalid stream for topic {topic!r} partition {partition}"
        raise ValueError(msg)
    return stream


def file_path(table: str, partition: Partition, first: int, end: int, kind: str = "part",
              stream: str = "") -> str:
    """``trades/exchange=phemex/symbol=BTCUSD/date=2026-11-25/part-<first>-<end>.parquet``.

    ``stream`` "" is the local spool (the original names); any other stream (a Kafka
    partition, :func:`stream_id`) is appended, ``part-<first>-<end>-<stream>.parquet``, so
    ranges of different logs never share a name in one Hive directory.
    """
    keys = PARTITIONS[table]
    if len(keys) != len(partition):
        msg = f"{table} partitions by {keys}, got {partition}"
        raise ValueError(msg)
    if stream and not is_stream_id(stream):
        msg = f"invalid stream id {stream!r}"
        raise ValueError(msg)
    dirs = "/".join(f"{k}={v}" for k, v in zip(keys, partition, strict=True))
    suffix = f"-{stream}" if stream else ""
    return f"{table}/{dirs}/{kind}-{first:020d}-{end:020d}{suffix}.parquet"
