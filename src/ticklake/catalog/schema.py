"""The lake's tables as the catalog sees them (docs/lake-layout.md, format version 1).

The file schemas repeat ``docs/lake-layout.md`` column for column; the catalog keeps its own copy
so that it depends only on the documented layout, not on the writer's code (a unit test checks
that both agree). Partition columns live in the paths only; SQL sees them typed as ``exchange``
VARCHAR, ``symbol`` VARCHAR and ``date`` DATE.
"""

from __future__ import annotations

import pyarrow as pa

FORMAT_VERSION = 1
MARKER = "_ticklake/lake.json"
TABLES = ("trades", "raw", "gaps", "rejected")

_DECIMAL = pa.decimal128(18, 8)
_UTC_US = pa.timestamp("us", tz="UTC")

FILE_SCHEMAS: dict[str, pa.Schema] = {
    "trades": pa.schema(
        [
            ("ts", _UTC_US),
            ("ts_ns", pa.int64()),
            ("recv_ns", pa.int64()),
            ("side", pa.dictionary(pa.int8(), pa.string())),
            ("price", _DECIMAL),
            ("qty", _DECIMAL),
            ("sequence", pa.int64()),
            ("from_snapshot", pa.bool_()),
            ("spool_offset", pa.int64()),
        ]
    ),
    "raw": pa.schema(
        [
            ("recv_ts", _UTC_US),
            ("recv_ns", pa.int64()),
            ("conn_id", pa.int64()),
            ("spool_offset", pa.int64()),
            ("payload", pa.string()),
        ]
    ),
    "gaps": pa.schema(
        [
            ("symbol", pa.string()),
            ("from_ns", pa.int64()),
            ("to_ns", pa.int64()),
            ("from_ts", _UTC_US),
            ("to_ts", _UTC_US),
            ("reason", pa.string()),
            ("detected_ns", pa.int64()),
            ("spool_offset", pa.int64()),
        ]
    ),
    "rejected": pa.schema(
        [
            ("recv_ts", _UTC_US),
            ("recv_ns", pa.int64()),
            ("conn_id", pa.int64()),
            ("spool_offset", pa.int64()),
            ("reason", pa.string()),
            ("payload", pa.string()),
        ]
    ),
}

# Hive partition keys, outermost first.
PARTITIONS: dict[str, tuple[str, ...]] = {
    "trades": ("exchange", "symbol", "date"),
    "raw": ("exchange", "date"),
    "gaps": ("exchange", "date"),
    "rejected": ("exchange", "date"),
}
PARTITION_TYPES: dict[str, pa.DataType] = {
    "exchange": pa.string(),
    "symbol": pa.string(),
    "date": pa.date32(),
}
# DuckDB's hive_types for read_parquet: pinned so a symbol such as "1000" stays a string.
HIVE_TYPES = {"exchange": "VARCHAR", "symbol": "VARCHAR", "date": "DATE"}

# The int64 nanosecond column whose Parquet max statistic says how fresh a table is.
TIME_COLUMNS = {
    "trades": "ts_ns",
    "raw": "recv_ns",
    "gaps": "detected_ns",
    "rejected": "recv_ns",
}


def view_schema(table: str) -> pa.Schema:
    """Columns of the SQL view: the file columns (strings undictionaried) then the partitions."""
    fields = [
        pa.field(f.name, pa.string()) if pa.types.is_dictionary(f.type) else f
        for f in FILE_SCHEMAS[table]
    ]
    fields += [pa.field(key, PARTITION_TYPES[key]) for key in PARTITIONS[table]]
    return pa.schema(fields)


def partition_schema(table: str) -> pa.Schema:
    return pa.schema([(key, PARTITION_TYPES[key]) for key in PARTITIONS[table]])
