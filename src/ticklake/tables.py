"""The lake's data contract: table schemas and partitions (docs/lake-layout.md, format 1).

Both the writer (``ticklake.lake``) and the reader (``ticklake.catalog``) use these; a test
pins them against the document.
"""

from __future__ import annotations

import pyarrow as pa

FORMAT_VERSION = 1
MARKER = "_ticklake/lake.json"
TABLES = ("trades", "raw", "gaps", "rejected")
DECIMAL_SCALE = 8
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
SCHEMAS = {"trades": TRADES, "raw": RAW, "gaps": GAPS, "rejected": REJECTED}
# Hive partition keys of each table, outermost first.
PARTITIONS = {
    "trades": ("exchange", "symbol", "date"),
    "raw": ("exchange", "date"),
    "gaps": ("exchange", "date"),
    "rejected": ("exchange", "date"),
}
