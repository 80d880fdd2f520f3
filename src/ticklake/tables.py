"""The lake's data contract: table schemas and partitions (docs/lake-layout.md, format 1).

Both the writer (``ticklake.lake``) and the reader (``ticklake.catalog``) use these; a test
pins them against the document.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

FORMAT_VERSION = 1
MARKER = "_ticklake/lake.json"
_STREAM = re.compile(r"[A-Za-z0-9._\-]{1,249}\.[0-9]{1,9}")
TABLES = ("trades", "raw", "gaps", "rejected", "anomalies")
DECIMAL_SCALE = 8
# The Arrow schemas are built on first use (module ``__getattr__``): the recorder's process
# needs only the names and file-name rules here, and importing pyarrow would cost it ~40 MB.
_ARROW_NAMES = frozenset(
    ("DECIMAL", "UTC_US", "TRADES", "RAW", "GAPS", "REJECTED", "ANOMALIES", "SCHEMAS"))


def __getattr__(name: str) -> Any:
    if name in _ARROW_NAMES:
        return _arrow_schemas()[name]
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


@functools.cache
def _arrow_schemas() -> dict[str, Any]:
    import pyarrow as pa

    DECIMAL = pa.decimal128(18, DECIMAL_SCALE)
    UTC_US = pa.timestamp("us", tz="UTC")

    TRADES = pa.schema(
        [
            ("ts", UTC_US),
            ("ts_ns", pa.int64()),
            ("recv_ns", pa.int64()),
            ("side", pa.dictionary(pa.int8(), pa.string())),
            ("price", DECIMAL),
            ("qty", DECIMAL),
            ("sequence", pa.int64()),
            ("from_snapshot", pa.bool_()),
            ("spool_offset", pa.int64()),
        ]
    )
    RAW = pa.schema(
        [
            ("recv_ts", UTC_US),
            ("recv_ns", pa.int64()),
            ("conn_id", pa.int64()),
            ("spool_offset", pa.int64()),
            ("payload", pa.string()),
        ]
    )
    GAPS = pa.schema(
        [
            ("symbol", pa.string()),
            ("from_ns", pa.int64()),
            ("to_ns", pa.int64()),
            ("from_ts", UTC_US),
            ("to_ts", UTC_US),
            ("reason", pa.string()),
            ("detected_ns", pa.int64()),
            ("spool_offset", pa.int64()),
        ]
    )
    REJECTED = pa.schema(
        [
            ("recv_ts", UTC_US),
            ("recv_ns", pa.int64()),
            ("conn_id", pa.int64()),
            ("spool_offset", pa.int64()),
            ("reason", pa.string()),
            ("payload", pa.string()),
        ]
    )
    # One row per ended price-swing episode (ticklake.model.Anomaly); not derived from the spool,
    # so files are named by the episodes' start times: part-<first start ns>-<last start ns + 1>.
    ANOMALIES = pa.schema(
        [
            ("anomaly_id", pa.string()),
            ("kind", pa.string()),
            ("ts_start", UTC_US),
            ("ts_detect", UTC_US),
            ("ts_end", UTC_US),
            ("ts_start_ns", pa.int64()),
            ("ts_detect_ns", pa.int64()),
            ("ts_end_ns", pa.int64()),
            ("direction", pa.string()),
            ("horizon_s", pa.float64()),
            ("move_bp", pa.float64()),
            ("move_price", pa.float64()),
            ("price_before", pa.float64()),
            ("price_after", pa.float64()),
            ("score", pa.float64()),
            ("trades", pa.int64()),
            ("intensity_z", pa.float64()),
            ("imbalance", pa.float64()),
            ("largest_qty", pa.float64()),
            ("rcf_score", pa.float64()),
            ("detector_version", pa.string()),
            ("params_hash", pa.string()),
        ]
    )
    SCHEMAS = {
        "trades": TRADES, "raw": RAW, "gaps": GAPS, "rejected": REJECTED, "anomalies": ANOMALIES,
    }
    return {"DECIMAL": DECIMAL, "UTC_US": UTC_US, "TRADES": TRADES, "RAW": RAW, "GAPS": GAPS,
            "REJECTED": REJECTED, "ANOMALIES": ANOMALIES, "SCHEMAS": SCHEMAS}


# Hive partition keys of each table, outermost first.
PARTITIONS = {
    "trades": ("exchange", "symbol", "date"),
    "raw": ("exchange", "date"),
    "gaps": ("exchange", "date"),
    "rejected": ("exchange", "date"),
    "anomalies": ("exchange", "symbol", "date"),
}


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
