"""SQL fragments shared by the table macros (:mod:`ticklake.catalog.macros`)."""

# Rows of `trades` in the optional [since, until) window; the date terms prune partitions.
WINDOW = """
    (since IS NULL OR (ts >= CAST(since AS TIMESTAMPTZ)
                       AND date >= CAST(CAST(since AS TIMESTAMPTZ) AS DATE)))
    AND (until IS NULL OR (ts < CAST(until AS TIMESTAMPTZ)
                           AND date <= CAST(CAST(until AS TIMESTAMPTZ)
                                            - INTERVAL 1 MICROSECOND AS DATE)))
"""

BUCKET = "time_bucket(CAST(step AS INTERVAL), ts)"
# DECIMAL(18,8) * DECIMAL(18,8) stays 64-bit in DuckDB and overflows; widen one side first.
# Order of rows that are one per message (tickers): exchange time, then spool offset
# (int64 < 10**19) as a cheap HUGEINT key; a struct key (ts_ns, spool_offset) gives the same
# order but made arg_min ~6x slower.
ORDER = "CAST(ts_ns AS HUGEINT) * 10000000000000000000 + spool_offset"
# Trade order adds the position in the message: the fills of one taker order share an
# instant and a message, and only `msg_index` tells the first from the last. Exact while
# spool offsets stay under 2**47; files written before the column read it as null (0).
TRADE_ORDER = ("CAST(ts_ns AS HUGEINT) * 10000000000000000000"
               " + CAST(spool_offset AS HUGEINT) * 65536 + coalesce(msg_index, 0)")
NOTIONAL = "sum(CAST(price AS DECIMAL(38, 8)) * qty)"
VWAP = f"CAST({NOTIONAL} AS DOUBLE) / CAST(sum(qty) AS DOUBLE)"
