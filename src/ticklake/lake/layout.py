"""File names and Hive paths: deterministic from table, partition and spool offset range."""

from __future__ import annotations

from ticklake.tables import PARTITIONS, parse_file_name

__all__ = ["file_path", "parse_file_name"]

Partition = tuple[str, ...]


def file_path(table: str, partition: Partition, first: int, end: int, kind: str = "part") -> str:
    """``trades/exchange=phemex/symbol=BTCUSD/date=2026-11-25/part-<first>-<end>.parquet``."""
    keys = PARTITIONS[table]
    if len(keys) != len(partition):
        msg = f"{table} partitions by {keys}, got {partition}"
        raise ValueError(msg)
    dirs = "/".join(f"{k}={v}" for k, v in zip(keys, partition, strict=True))
    return f"{table}/{dirs}/{kind}-{first:020d}-{end:020d}.parquet"
