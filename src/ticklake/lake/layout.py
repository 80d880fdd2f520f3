"""File names and Hive paths: deterministic from table, partition and spool offset range."""

from __future__ import annotations

from ticklake.lake.schema import PARTITIONS

Partition = tuple[str, ...]


def file_path(table: str, partition: Partition, first: int, end: int, kind: str = "part") -> str:
    """``trades/exchange=phemex/symbol=BTCUSD/date=2026-11-25/part-<first>-<end>.parquet``."""
    keys = PARTITIONS[table]
    if len(keys) != len(partition):
        msg = f"{table} partitions by {keys}, got {partition}"
        raise ValueError(msg)
    dirs = "/".join(f"{k}={v}" for k, v in zip(keys, partition, strict=True))
    return f"{table}/{dirs}/{kind}-{first:020d}-{end:020d}.parquet"


def parse_file_name(name: str) -> tuple[str, int, int] | None:
    """``part-<first>-<end>.parquet`` → ("part", first, end); None for foreign files."""
    stem = name.removesuffix(".parquet")
    pieces = stem.split("-")
    if len(pieces) != 3 or not (pieces[1].isdigit() and pieces[2].isdigit()):
        return None
    return pieces[0], int(pieces[1]), int(pieces[2])
