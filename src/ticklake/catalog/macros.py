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

Order books (recorded with ``--channels trades,book``), rebuilt by the rule of
docs/lake-layout.md: the book at an instant is exact, or absent inside a recorded book gap
and when no snapshot (a ``book_snapshots`` snapshot or a snapshot message) lies within
``lookback`` (default 2 minutes) before it. A followed book has one at least every ~60 s (the
exchange's periodic snapshot), so the lookback hides no recorded book; it stops a recording's
last book from being served as if it were still followed long after the recording ended. The
window's instants are ``range(since, until, step)``: from ``since``, ``until`` exclusive.

- ``book_at(sym, ts[, depth := 30, lookback])``: side, level (1 = best), price, qty.
- ``book_top(sym, step, since, until[, lookback])``: ts, bid, bid_qty, ask, ask_qty, mid,
  spread, spread_bp, top_imbalance ((bid_qty - ask_qty) / (bid_qty + ask_qty)).
- ``book_depth(sym, step, bp, since, until[, lookback])``: ts, mid, bid_depth and ask_depth
  (the size within ``bp`` basis points of mid, of the recorded depth), imbalance.
- ``book_levels(sym, since, until, step[, lookback])``: instant, side, price, qty — every
  level at every instant, the base of the others.

24 h tickers of contracts (recorded with ``--channels …,tickers``), the last update of each
bucket (buckets without one are absent):

- ``funding(sym, step[, since, until])``: bucket, funding_rate, pred_funding_rate,
  mark_price, index_price, updates — the funding-rate history.
- ``basis(sym, step[, since, until])``: bucket, last, mark_price, index_price, basis
  (mark - last), basis_bp (of last), premium_bp ((mark - index) / index).

Exchange bars (recorded with ``--channels …,klines``) and ticklake's own candles:

- ``exchange_bars(sym, step[, since, until])``: bucket, open, high, low, close, volume,
  turnover, versions — the final version of each bar of that interval (``step`` must be one
  the recorder subscribed, ``[feed] kline_interval``).
- ``kline_check(sym, step[, since, until])``: every bar, ticklake's candle from the trades
  beside the exchange's bar, a ``status`` — ``match`` (open, high, low, close and volume
  equal exactly), ``differs``, ``no_bar``, ``no_trades``, ``outside`` (not wholly between the
  first and last recorded trade, or the last bar received, which may not be closed) — and a
  ``reason`` naming the fields that differ and any recorded trades gap the bar touches.
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

TRADE_MACROS = (
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

# -- order books ------------------------------------------------------------------------------
# The book at each instant of range(since, until, step): the latest book_snapshots snapshot or
# snapshot message at or before it (within `lookback`), then the book_updates rows after it
# (spool_offset > through_offset, ts_ns <= the instant) in spool order; a `snapshot` message
# among them replaces the book, an `invalid` row leaves none until the next snapshot. In a
# message, trim rows come after the levels (an incremental can add a level that falls
# straight out of the depth). Instants inside a book gap have no book.
_BOOK_ORDER = "2 * spool_offset + CAST(action = 'trim' AS BIGINT)"

BOOK_MACROS = (
    f"""
CREATE MACRO book_levels(sym, since, until, step, lookback := INTERVAL 2 MINUTE) AS TABLE
WITH instants AS (
    SELECT range AS instant, epoch_ns(range) AS t_ns
    FROM range(CAST(since AS TIMESTAMPTZ), CAST(until AS TIMESTAMPTZ), CAST(step AS INTERVAL))
),
bounds AS (
    SELECT epoch_ns(CAST(since AS TIMESTAMPTZ) - CAST(lookback AS INTERVAL)) AS lo_ns,
           epoch_ns(CAST(until AS TIMESTAMPTZ)) AS hi_ns
),
snapshot_rows AS (
    SELECT ts_ns, through_offset, side, price, qty
    FROM book_snapshots, bounds
    WHERE symbol = sym AND ts_ns BETWEEN lo_ns AND hi_ns
),
symbol_updates AS (
    SELECT ts_ns, side, price, qty, action, spool_offset
    FROM book_updates, bounds
    WHERE symbol = sym AND ts_ns BETWEEN lo_ns AND hi_ns
),
-- Where a book can start: a book_snapshots snapshot, or a snapshot message (its own rows).
snapshots AS (
    SELECT s_ns, max(through) AS through
    FROM (SELECT ts_ns AS s_ns, through_offset AS through FROM snapshot_rows
          UNION ALL
          SELECT ts_ns, spool_offset - 1 FROM symbol_updates WHERE action = 'snapshot')
    GROUP BY s_ns
),
picked AS (
    SELECT i.instant, i.t_ns, s.s_ns, s.through
    FROM instants i ASOF JOIN snapshots s ON i.t_ns >= s.s_ns
),
-- Each update belongs to the last starting point before it in spool order (an ASOF join: a
-- range join of instants to updates was a piecewise merge join, 26x slower for book_top).
placed AS (
    SELECT u.*, s.s_ns, s.through
    FROM symbol_updates u ASOF JOIN snapshots s ON u.spool_offset > s.through
),
updates AS (
    SELECT p.instant, u.side, u.price, u.qty, u.action, u.spool_offset
    FROM picked p JOIN placed u
      ON u.s_ns = p.s_ns AND u.through = p.through AND u.ts_ns <= p.t_ns
),
restarts AS (
    SELECT instant, max(spool_offset) AS restart,
           arg_max(action, spool_offset) = 'invalid' AS unknown
    FROM updates
    WHERE action IN ('snapshot', 'invalid')
    GROUP BY instant
),
changes AS (
    SELECT p.instant, b.side, b.price, b.qty, -1 AS k
    FROM picked p
    JOIN snapshot_rows b ON b.ts_ns = p.s_ns AND b.through_offset = p.through
    ANTI JOIN restarts r ON r.instant = p.instant
    UNION ALL
    SELECT u.instant, u.side, u.price, u.qty, {_BOOK_ORDER} AS k
    FROM updates u LEFT JOIN restarts r ON r.instant = u.instant
    WHERE r.restart IS NULL OR u.spool_offset >= r.restart
),
book_gaps AS (
    SELECT from_ns, to_ns FROM gaps WHERE channel = 'book' AND symbol = sym
),
levels AS (
    SELECT instant, CAST(side AS VARCHAR) AS side, price, arg_max(qty, k) AS qty
    FROM changes
    GROUP BY ALL
)
SELECT l.instant, l.side, l.price, l.qty
FROM levels l JOIN picked p ON p.instant = l.instant
ANTI JOIN book_gaps g ON g.from_ns < p.t_ns AND p.t_ns < g.to_ns
ANTI JOIN (SELECT instant FROM restarts WHERE unknown) u ON u.instant = l.instant
WHERE l.qty > 0
""",
    """
CREATE MACRO book_at(sym, at_time, depth := 30, lookback := INTERVAL 2 MINUTE) AS TABLE
SELECT side, level, price, qty
FROM (
    SELECT side, price, qty,
           row_number() OVER (PARTITION BY side
                              ORDER BY CASE WHEN side = 'bid' THEN -price ELSE price END)
               AS level
    FROM book_levels(sym, at_time, CAST(at_time AS TIMESTAMPTZ) + INTERVAL 1 MICROSECOND,
                     INTERVAL 1 MICROSECOND, lookback := lookback)
)
WHERE depth IS NULL OR depth = 0 OR level <= depth
ORDER BY side DESC, level
""",
    """
CREATE MACRO book_top(sym, step, since, until, lookback := INTERVAL 2 MINUTE) AS TABLE
SELECT instant AS ts, bid, bid_qty, ask, ask_qty,
       (CAST(bid AS DOUBLE) + CAST(ask AS DOUBLE)) / 2 AS mid,
       ask - bid AS spread,
       CAST(ask - bid AS DOUBLE) / ((CAST(bid AS DOUBLE) + CAST(ask AS DOUBLE)) / 2) * 1e4
           AS spread_bp,
       CAST(bid_qty - ask_qty AS DOUBLE) / CAST(bid_qty + ask_qty AS DOUBLE) AS top_imbalance
FROM (
    SELECT instant,
           max(price) FILTER (WHERE side = 'bid') AS bid,
           arg_max(qty, price) FILTER (WHERE side = 'bid') AS bid_qty,
           min(price) FILTER (WHERE side = 'ask') AS ask,
           arg_min(qty, price) FILTER (WHERE side = 'ask') AS ask_qty
    FROM book_levels(sym, since, until, step, lookback := lookback)
    GROUP BY instant
)
ORDER BY ts
""",
    """
CREATE MACRO book_depth(sym, step, bp, since, until, lookback := INTERVAL 2 MINUTE) AS TABLE
WITH levels AS (
    SELECT instant, side, price, qty,
           (CAST(max(price) FILTER (WHERE side = 'bid') OVER (PARTITION BY instant) AS DOUBLE)
            + CAST(min(price) FILTER (WHERE side = 'ask') OVER (PARTITION BY instant)
                   AS DOUBLE)) / 2 AS mid
    FROM book_levels(sym, since, until, step, lookback := lookback)
)
SELECT instant AS ts, any_value(mid) AS mid,
       coalesce(sum(qty) FILTER (WHERE side = 'bid'
                                 AND CAST(price AS DOUBLE) >= mid * (1 - bp / 1e4)), 0)
           AS bid_depth,
       coalesce(sum(qty) FILTER (WHERE side = 'ask'
                                 AND CAST(price AS DOUBLE) <= mid * (1 + bp / 1e4)), 0)
           AS ask_depth,
       CASE WHEN bid_depth + ask_depth = 0 THEN NULL
            ELSE CAST(bid_depth - ask_depth AS DOUBLE) / CAST(bid_depth + ask_depth AS DOUBLE)
       END AS imbalance
FROM levels
WHERE mid IS NOT NULL
GROUP BY instant
ORDER BY ts
""",
)

# Tickers: the last update in each bucket (by exchange time, then spool order).
_LAST = "arg_max({0}, " + _ORDER + ")"

TICKER_MACROS = (
    f"""
CREATE MACRO funding(sym, step, since := NULL, until := NULL) AS TABLE
SELECT {_BUCKET} AS bucket,
       {_LAST.format("funding_rate")} AS funding_rate,
       {_LAST.format("pred_funding_rate")} AS pred_funding_rate,
       {_LAST.format("mark_price")} AS mark_price,
       {_LAST.format("index_price")} AS index_price,
       count(*) AS updates
FROM tickers
WHERE symbol = sym AND funding_rate IS NOT NULL AND {_WINDOW}
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
    SELECT {_BUCKET} AS bucket,
           {_LAST.format("last")} AS last,
           {_LAST.format("mark_price")} AS mark_price,
           {_LAST.format("index_price")} AS index_price
    FROM tickers
    WHERE symbol = sym AND mark_price IS NOT NULL AND last IS NOT NULL AND {_WINDOW}
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
    WHERE symbol = sym AND interval_s = {_STEP_S} AND {_WINDOW}
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
    WHERE symbol = sym AND {_WINDOW}
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

MACROS = TRADE_MACROS + BOOK_MACROS + TICKER_MACROS + KLINE_MACROS
