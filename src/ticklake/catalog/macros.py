"""Table macros for the usual market-data questions, created in every lake connection.

DuckDB table macros take INTERVAL arguments directly, so each is called like a table::

    SELECT * FROM candles('BTCUSD', INTERVAL 1 MINUTE)
    SELECT * FROM candles('BTCUSD', '5 minutes', since := '2026-11-25', until := '2026-11-26')
    SELECT * FROM vwap('BTCUSD', INTERVAL 1 HOUR)
    SELECT * FROM trade_counts(INTERVAL 1 DAY)
    SELECT * FROM imbalance('BTCUSD', INTERVAL 15 SECOND)

``step`` is an INTERVAL or any string DuckDB casts to one ('1 minute', '00:05:00'). ``since``
(inclusive) and ``until`` (exclusive) are optional bounds on the exchange time ``ts``: a
TIMESTAMPTZ, or a string such as '2026-11-25' or '2026-11-25 12:00:00' read as UTC. Give them
rather than filtering the output: they also prune ``date`` partitions, so only the files of
those days are read.

Buckets are ``time_bucket(step, ts)`` in UTC (the connection's time zone), labelled by their
start. Open and close are the prices of the first and last trade by exchange time (``ts_ns``,
ties broken by ``spool_offset``). OHLC, volumes and notional are exact decimals; ``vwap`` and
``ratio`` are ratios and so DOUBLE.

- ``candles(sym, step[, since, until])``: bucket, open, high, low, close, volume, buy_volume,
  sell_volume, trades, vwap.
- ``vwap(sym, step[, since, until])``: bucket, vwap, volume, notional, trades.
- ``trade_counts(step[, since, until])``: bucket, exchange, symbol, trades, volume — every symbol.
- ``imbalance(sym, step[, since, until])``: bucket, buy_volume, sell_volume, imbalance
  (buy - sell volume, by taker side), ratio (imbalance / volume, in [-1, 1]), trades.
"""

from __future__ import annotations

# Rows of `trades` in the optional [since, until) window; the date terms prune partitions.
_WINDOW = """
    (since IS NULL OR (ts >= CAST(since AS TIMESTAMPTZ)
                       AND date >= CAST(CAST(since AS TIMESTAMPTZ) AS DATE)))
    AND (until IS NULL OR (ts < CAST(until AS TIMESTAMPTZ)
                           AND date <= CAST(CAST(until AS TIMESTAMPTZ)
                                            - INTERVAL 1 MICROSECOND AS DATE)))
"""

_BUCKET = "time_bucket(CAST(step AS INTERVAL), ts)"
# DECIMAL(18,8) * DECIMAL(18,8) stays 64-bit in DuckDB and overflows; widen one side first.
# Trade order: exchange time, then spool offset (int64 < 10**19) as a cheap HUGEINT key; a
# struct key (ts_ns, spool_offset) gives the same order but made arg_min ~6x slower.
_ORDER = "CAST(ts_ns AS HUGEINT) * 10000000000000000000 + spool_offset"
_NOTIONAL = "sum(CAST(price AS DECIMAL(38, 8)) * qty)"
_VWAP = f"CAST({_NOTIONAL} AS DOUBLE) / CAST(sum(qty) AS DOUBLE)"

MACROS = (
    f"""
CREATE MACRO candles(sym, step, since := NULL, until := NULL) AS TABLE
SELECT {_BUCKET} AS bucket,
       arg_min(price, {_ORDER}) AS open,
       max(price) AS high,
       min(price) AS low,
       arg_max(price, {_ORDER}) AS close,
       sum(qty) AS volume,
       coalesce(sum(qty) FILTER (WHERE side = 'buy'), 0) AS buy_volume,
       coalesce(sum(qty) FILTER (WHERE side = 'sell'), 0) AS sell_volume,
       count(*) AS trades,
       {_VWAP} AS vwap
FROM trades
WHERE symbol = sym AND {_WINDOW}
GROUP BY ALL
ORDER BY bucket
""",
    f"""
CREATE MACRO vwap(sym, step, since := NULL, until := NULL) AS TABLE
SELECT {_BUCKET} AS bucket,
       {_VWAP} AS vwap,
       sum(qty) AS volume,
       {_NOTIONAL} AS notional,
       count(*) AS trades
FROM trades
WHERE symbol = sym AND {_WINDOW}
GROUP BY ALL
ORDER BY bucket
""",
    f"""
CREATE MACRO trade_counts(step, since := NULL, until := NULL) AS TABLE
SELECT {_BUCKET} AS bucket, exchange, symbol, count(*) AS trades, sum(qty) AS volume
FROM trades
WHERE {_WINDOW}
GROUP BY ALL
ORDER BY bucket, exchange, symbol
""",
    f"""
CREATE MACRO imbalance(sym, step, since := NULL, until := NULL) AS TABLE
SELECT bucket, buy_volume, sell_volume,
       buy_volume - sell_volume AS imbalance,
       CASE WHEN buy_volume + sell_volume = 0 THEN NULL
            ELSE CAST(buy_volume - sell_volume AS DOUBLE)
                 / CAST(buy_volume + sell_volume AS DOUBLE) END AS ratio,
       trades
FROM (
    SELECT {_BUCKET} AS bucket,
           coalesce(sum(qty) FILTER (WHERE side = 'buy'), 0) AS buy_volume,
           coalesce(sum(qty) FILTER (WHERE side = 'sell'), 0) AS sell_volume,
           count(*) AS trades
    FROM trades
    WHERE symbol = sym AND {_WINDOW}
    GROUP BY ALL
)
ORDER BY bucket
""",
)
