"""The ticker and exchange-bar table macros (documented in :mod:`ticklake.catalog.macros`)."""

from __future__ import annotations

from ticklake.catalog.macro_sql import BUCKET, ORDER, WINDOW

# Tickers: the last update in each bucket (by exchange time, then spool order).
_LAST = "arg_max({0}, " + ORDER + ")"

TICKER_MACROS = (
    f"""
CREATE MACRO funding(sym, step, since := NULL, until := NULL) AS TABLE
SELECT {BUCKET} AS bucket,
       {_LAST.format("funding_rate")} AS funding_rate,
       {_LAST.format("pred_funding_rate")} AS pred_funding_rate,
       {_LAST.format("mark_price")} AS mark_price,
       {_LAST.format("index_price")} AS index_price,
       count(*) AS updates
FROM tickers
WHERE symbol = sym AND funding_rate IS NOT NULL AND {WINDOW}
GROUP BY ALL
ORDER BY bucket
""",
    f"""
CREATE MACRO basis(sym, step, since := NULL, until := NULL) AS TABLE
SELECT bucket, last, mark_price, index_price,
       mark_price - last AS basis,
       CAST(mark_price - last AS DOUBLE) / CAST(last AS DOUBLE) * 1e4 AS basis_bp,
       CAST(mark_price - index_price AS DOUBLE) / CAST(index_price AS DOUBLE) * 1e4
           AS premium_bp
FROM (
    SELECT {BUCKET} AS bucket,
           {_LAST.format("last")} AS last,
           {_LAST.format("mark_price")} AS mark_price,
           {_LAST.format("index_price")} AS index_price
    FROM tickers
    WHERE symbol = sym AND mark_price IS NOT NULL AND last IS NOT NULL AND {WINDOW}
    GROUP BY ALL
)
ORDER BY bucket
""",
)

# Exchange bars: the final version of each (the greatest spool offset), of one interval.
_STEP_S = "CAST(epoch(CAST(step AS INTERVAL)) AS INTEGER)"
_STEP_NS = "CAST(epoch(CAST(step AS INTERVAL)) AS BIGINT) * 1000000000"

KLINE_MACROS = (
    f"""
CREATE MACRO exchange_bars(sym, step, since := NULL, until := NULL) AS TABLE
SELECT ts AS bucket, open, high, low, close, volume, turnover, versions
FROM (
    SELECT ts, open, high, low, close, volume, turnover,
           count(*) OVER (PARTITION BY ts_ns) AS versions,
           row_number() OVER (PARTITION BY ts_ns ORDER BY spool_offset DESC) AS newest
    FROM klines
    WHERE symbol = sym AND interval_s = {_STEP_S} AND {WINDOW}
)
WHERE newest = 1
ORDER BY bucket
""",
    f"""
CREATE MACRO kline_check(sym, step, since := NULL, until := NULL) AS TABLE
WITH ours AS (SELECT * FROM candles(sym, step, since := since, until := until)),
theirs AS (SELECT * FROM exchange_bars(sym, step, since := since, until := until)),
span AS (
    SELECT min(ts_ns) AS first_ns, max(ts_ns) AS last_ns FROM trades
    WHERE symbol = sym AND {WINDOW}
),
last_bar AS (SELECT max(bucket) AS bucket FROM theirs),
joined AS (
    SELECT coalesce(o.bucket, t.bucket) AS bucket,
           o.open, o.high, o.low, o.close, o.volume, o.trades,
           t.open AS bar_open, t.high AS bar_high, t.low AS bar_low, t.close AS bar_close,
           t.volume AS bar_volume, t.versions AS bar_versions
    FROM ours o FULL OUTER JOIN theirs t ON o.bucket = t.bucket
),
judged AS (
    SELECT j.*,
           epoch_ns(j.bucket) AS start_ns,
           epoch_ns(j.bucket) + {_STEP_NS} AS end_ns,
           EXISTS (SELECT 1 FROM gaps g
                   WHERE g.symbol = sym AND coalesce(g.channel, 'trades') = 'trades'
                     AND g.from_ns < epoch_ns(j.bucket) + {_STEP_NS}
                     AND g.to_ns >= epoch_ns(j.bucket)) AS in_gap,
           concat_ws(', ',
               CASE WHEN j.open IS DISTINCT FROM j.bar_open THEN 'open' END,
               CASE WHEN j.high IS DISTINCT FROM j.bar_high THEN 'high' END,
               CASE WHEN j.low IS DISTINCT FROM j.bar_low THEN 'low' END,
               CASE WHEN j.close IS DISTINCT FROM j.bar_close THEN 'close' END,
               CASE WHEN coalesce(j.volume, 0) <> coalesce(j.bar_volume, 0) THEN 'volume' END
           ) AS differing
    FROM joined j
)
SELECT bucket, status, reason, open, bar_open, high, bar_high, low, bar_low, close, bar_close,
       volume, bar_volume, trades, bar_versions
FROM (
    SELECT judged.*,
        CASE
            WHEN start_ns < span.first_ns OR end_ns > span.last_ns + 1 OR span.first_ns IS NULL
                THEN 'outside'
            WHEN bucket = (SELECT bucket FROM last_bar) AND end_ns > span.last_ns
                THEN 'outside'
            WHEN bar_open IS NULL AND trades IS NOT NULL THEN 'no_bar'
            WHEN bar_open IS NOT NULL AND trades IS NULL AND bar_volume > 0 THEN 'no_trades'
            WHEN trades IS NULL THEN 'match'
            WHEN differing = '' THEN 'match'
            ELSE 'differs'
        END AS status,
        CASE
            WHEN start_ns < span.first_ns OR span.first_ns IS NULL
                THEN 'before the first recorded trade'
            WHEN end_ns > span.last_ns + 1 THEN 'after the last recorded trade'
            WHEN in_gap AND trades IS NULL THEN 'no trades: a recorded gap'
            WHEN in_gap AND differing = '' THEN 'a recorded gap; equal nevertheless'
            WHEN in_gap THEN 'a recorded gap: ' || differing || ' may differ'
            WHEN bar_open IS NULL AND trades IS NOT NULL THEN 'no exchange bar received'
            WHEN trades IS NULL AND bar_volume > 0 THEN 'no trades recorded'
            WHEN differing <> '' THEN differing || ' differ'
        END AS reason
    FROM judged, span
)
ORDER BY bucket
""",
)
