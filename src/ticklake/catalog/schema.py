"""The lake's tables as the catalog sees them (docs/lake-layout.md, format version 1).

The file schemas come from the shared contract ``ticklake.tables`` (the writer uses the same).
Partition columns live in the paths only; SQL sees them typed as ``exchange`` VARCHAR,
``symbol`` VARCHAR and ``date`` DATE.
"""

from __future__ import annotations

import pyarrow as pa

from ticklake.schemas import SCHEMAS
from ticklake.tables import FORMAT_VERSION, MARKER, PARTITIONS, TABLES

__all__ = ["FORMAT_VERSION", "MARKER", "PARTITIONS", "TABLES"]

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
    "anomalies": "ts_detect_ns",
    "book_updates": "ts_ns",
    "book_snapshots": "ts_ns",
    "tickers": "ts_ns",
    "ticks": "ts_ns",
    "klines": "ts_ns",
}


def view_schema(table: str) -> pa.Schema:
    """Columns of the SQL view: the file columns (strings undictionaried) then the partitions."""
    fields = [
        pa.field(f.name, pa.string()) if pa.types.is_dictionary(f.type) else f
        for f in SCHEMAS[table]
    ]
    fields += [pa.field(key, PARTITION_TYPES[key]) for key in PARTITIONS[table]]
    return pa.schema(fields)


def sql_type(kind: pa.DataType) -> str:
    """The DuckDB type a view column of Arrow type ``kind`` reads as."""
    if pa.types.is_decimal(kind):
        return f"DECIMAL({kind.precision},{kind.scale})"
    if pa.types.is_timestamp(kind):
        return "TIMESTAMPTZ" if kind.tz else "TIMESTAMP"
    try:
        return _SQL_TYPES[str(kind)]
    except KeyError:
        msg = f"no DuckDB type for {kind}"
        raise TypeError(msg) from None


_SQL_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "int32": "INTEGER", "int16": "SMALLINT",
              "double": "DOUBLE", "bool": "BOOLEAN", "date32[day]": "DATE", "binary": "BLOB"}


def partition_schema(table: str) -> pa.Schema:
    return pa.schema([(key, PARTITION_TYPES[key]) for key in PARTITIONS[table]])
