"""The order-book table macros (documented in :mod:`ticklake.catalog.macros`)."""

from __future__ import annotations

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
