"""Arrow schemas of the lake's tables (docs/lake-layout.md, format 1): the writer
(``ticklake.lake``) writes them and the reader (``ticklake.catalog``) binds them; a test pins
them against the document.

Kept apart from ``ticklake.tables`` (names, partitions, file-name rules) because importing
pyarrow costs ~40 MB: the recorder's process needs the names only, and an import-linter
contract keeps this module out of it.
"""

from __future__ import annotations

import pyarrow as pa

from ticklake.tables import DECIMAL_SCALE

DECIMAL = pa.decimal128(18, DECIMAL_SCALE)
WIDE = pa.decimal128(38, DECIMAL_SCALE)
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
        ("msg_index", pa.int16()),  # schema version 2; null in version 1 files
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
        ("channel", pa.string()),  # "trades" or "book" (version 2; null in version 1 files)
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
# One row per order-book level as received (a snapshot's rows are the whole book).
BOOK_UPDATES = pa.schema(
    [
        ("ts", UTC_US),
        ("ts_ns", pa.int64()),
        ("recv_ns", pa.int64()),
        ("sequence", pa.int64()),
        ("side", pa.dictionary(pa.int8(), pa.string())),
        ("price", DECIMAL),
        ("qty", DECIMAL),
        # "snapshot": a level of a snapshot that replaced the book; "update": an incremental's
        # level as received; "trim": a delete the client made, the level having left the
        # subscribed depth (the exchange sends none, §6.1); "invalid": one row (side null,
        # price and qty 0) where the book was found inconsistent, unknown until a snapshot.
        ("action", pa.dictionary(pa.int8(), pa.string())),
        ("spool_offset", pa.int64()),
    ]
)
BOOK_SNAPSHOTS = pa.schema(
    [
        ("ts", UTC_US),
        ("ts_ns", pa.int64()),
        ("sequence", pa.int64()),
        ("reason", pa.dictionary(pa.int8(), pa.string())),  # "subscribe" or "cadence"
        ("side", pa.dictionary(pa.int8(), pa.string())),
        ("level", pa.int32()),  # 1 = the best price of its side
        ("price", DECIMAL),
        ("qty", DECIMAL),
        ("through_offset", pa.int64()),  # the last spool record the book includes
        ("spool_offset", pa.int64()),
    ]
)
# 24 h statistics per symbol per update (market24h, spot_market24h, market24h_p,
# perp_market24h_pack_p): null where the channel does not carry a value. Funding rates can be
# negative; volume, turnover and open interest can pass decimal(18, 8), so they are wider.
TICKERS = pa.schema(
    [
        ("ts", UTC_US),
        ("ts_ns", pa.int64()),
        ("recv_ns", pa.int64()),
        ("channel", pa.dictionary(pa.int8(), pa.string())),
        ("open", DECIMAL),
        ("high", DECIMAL),
        ("low", DECIMAL),
        ("last", DECIMAL),
        ("bid", DECIMAL),
        ("ask", DECIMAL),
        ("index_price", DECIMAL),
        ("mark_price", DECIMAL),
        ("volume", WIDE),
        ("turnover", WIDE),
        ("open_interest", WIDE),
        ("funding_rate", DECIMAL),
        ("pred_funding_rate", DECIMAL),
        ("extra", pa.string()),  # wire fields no ticklake knows yet, as a JSON object (or null)
        ("spool_offset", pa.int64()),
    ]
)
# Index, mark and funding-rate symbols (``.BTC``, ``.MBTC``, ``.BTCFR8H``; tick, tick_p).
TICKS = pa.schema(
    [
        ("ts", UTC_US),
        ("ts_ns", pa.int64()),
        ("recv_ns", pa.int64()),
        ("channel", pa.dictionary(pa.int8(), pa.string())),
        ("value", DECIMAL),
        ("spool_offset", pa.int64()),
    ]
)
# Exchange bars (kline, kline_p): every version of a bar as received; the last one in spool
# order (the greatest spool_offset) is the exchange's final word on it.
KLINES = pa.schema(
    [
        ("ts", UTC_US),
        ("ts_ns", pa.int64()),
        ("interval_s", pa.int32()),
        ("last_close", DECIMAL),
        ("open", DECIMAL),
        ("high", DECIMAL),
        ("low", DECIMAL),
        ("close", DECIMAL),
        ("volume", WIDE),
        ("turnover", WIDE),
        ("sequence", pa.int64()),
        ("from_snapshot", pa.bool_()),
        ("recv_ns", pa.int64()),
        ("spool_offset", pa.int64()),
    ]
)
SCHEMAS = {
    "trades": TRADES, "raw": RAW, "gaps": GAPS, "rejected": REJECTED, "anomalies": ANOMALIES,
    "book_updates": BOOK_UPDATES, "book_snapshots": BOOK_SNAPSHOTS, "tickers": TICKERS,
    "ticks": TICKS, "klines": KLINES,
}
