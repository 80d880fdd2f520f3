"""The lake's data contract without Arrow: table names, partitions and file-name rules
(docs/lake-layout.md, format 1). The Arrow schemas are in ``ticklake.schemas``.

Both the writer (``ticklake.lake``) and the reader (``ticklake.catalog``) use these; the
recorder's process uses them too, so nothing here imports pyarrow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

FORMAT_VERSION = 1
MARKER = "_ticklake/lake.json"
_STREAM = re.compile(r"[A-Za-z0-9._\-]{1,249}\.[0-9]{1,9}")
TABLES = ("trades", "raw", "gaps", "rejected", "anomalies", "book_updates", "book_snapshots",
          "tickers", "ticks", "klines")
DECIMAL_SCALE = 8
# Hive partition keys of each table, outermost first.
PARTITIONS = {
    "trades": ("exchange", "symbol", "date"),
    "raw": ("exchange", "date"),
    "gaps": ("exchange", "date"),
    "rejected": ("exchange", "date"),
    "anomalies": ("exchange", "symbol", "date"),
    "book_updates": ("exchange", "symbol", "date"),
    "book_snapshots": ("exchange", "symbol", "date"),
    "tickers": ("exchange", "symbol", "date"),
    "ticks": ("exchange", "symbol", "date"),
    "klines": ("exchange", "symbol", "date"),
}
# A table's file schema version, raised when a column is added (files of older versions are
# read with the new columns null; docs/lake-layout.md, "Schema versions").
SCHEMA_VERSIONS = {"gaps": 2, "trades": 2}


def schema_version(table: str) -> int:
    return SCHEMA_VERSIONS.get(table, 1)


def parse_file_name(name: str) -> tuple[str, int, int] | None:
    """``part-<first>-<end>[-<stream>].parquet`` → ("part", first, end); None for foreign
    files. The stream (which log the range counts in) is :func:`file_stream`'s."""
    parsed = parse_stream_file_name(name)
    return None if parsed is None else parsed[:3]


def parse_stream_file_name(name: str) -> tuple[str, int, int, str] | None:
    """(kind, first, end, stream); stream "" is the local spool, else ``<topic>.<partition>``
    of a Kafka-protocol log (docs/lake-layout.md, "File names")."""
    pieces = name.removesuffix(".parquet").split("-", 3)
    if len(pieces) < 3 or not (pieces[1].isdigit() and pieces[2].isdigit()):
        return None
    stream = pieces[3] if len(pieces) == 4 else ""
    if len(pieces) == 4 and not is_stream_id(stream):
        return None
    return pieces[0], int(pieces[1]), int(pieces[2]), stream


def is_stream_id(stream: str) -> bool:
    """A Kafka topic name (letters, digits, '.', '_', '-') then ``.<partition>``."""
    return _STREAM.fullmatch(stream) is not None


def file_stream(name: str) -> str:
    parsed = parse_stream_file_name(name)
    return "" if parsed is None else parsed[3]


def superseded(names: Iterable[str]) -> set[str]:
    """Files of one partition that a ``compact-`` file of the same stream covers (readers
    skip them).

    Compaction publishes the merged file first and deletes its inputs after, so for a moment
    (or after a crash, until the next run) both exist; this rule keeps readers exact. Offsets
    of different streams (the local spool, each Kafka partition) are unrelated numbers, so a
    compact file only ever covers files of its own stream.
    """
    parsed = [(name, parse_stream_file_name(name)) for name in names]
    compacts = [(n, r) for n, r in parsed if r is not None and r[0] == "compact"]
    out: set[str] = set()
    for name, rng in parsed:
        if rng is None:
            continue
        for other, cover in compacts:
            if other == name or cover[3] != rng[3]:
                continue
            if not (cover[1] <= rng[1] and rng[2] <= cover[2]):
                continue
            if rng[0] != "compact" or (cover[1], cover[2]) != (rng[1], rng[2]):
                out.add(name)
                break
    return out
