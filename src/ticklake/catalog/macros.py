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
start. Open and close are the prices of the first and last trade in the exchange's order
(``ts_ns``, then ``spool_offset``, then ``msg_index``). OHLC, volumes and notional are exact
decimals; ``vwap`` and ``ratio`` are ratios and so DOUBLE.

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
  the recorder subscribed, ``[feed] kline_intervals``).
- ``kline_check(sym, step[, since, until])``: every bar, ticklake's candle from the trades
  beside the exchange's bar, a ``status`` — ``match`` (open, high, low, close and volume
  equal exactly), ``differs``, ``no_bar``, ``no_trades``, ``outside`` (not wholly between the
  first and last recorded trade, or the last bar received, which may not be closed) — and a
  ``reason`` naming the fields that differ and any recorded trades gap the bar touches.
"""

from __future__ import annotations

from ticklake.catalog.book_macros import BOOK_MACROS
from ticklake.catalog.macro_sql import BUCKET, NOTIONAL, TRADE_ORDER, VWAP, WINDOW
from ticklake.catalog.market_macros import KLINE_MACROS, TICKER_MACROS

TRADE_MACROS = (
    f"""
CREATE MACRO candles(sym, step, since := NULL, until := NULL) AS TABLE
SELECT {BUCKET} AS bucket,
       arg_min(price, {TRADE_ORDER}) AS open,
       max(price) AS high,
       min(price) AS low,
       arg_max(price, {TRADE_ORDER}) AS close,
       sum(qty) AS volume,
       coalesce(sum(qty) FILTER (WHERE side = 'buy'), 0) AS buy_volume,
       coalesce(sum(qty) FILTER (WHERE side = 'sell'), 0) AS sell_volume,
       count(*) AS trades,
       {VWAP} AS vwap
FROM trades
WHERE symbol = sym AND {WINDOW}
GROUP BY ALL
ORDER BY bucket
""",
    f"""
CREATE MACRO vwap(sym, step, since := NULL, until := NULL) AS TABLE
SELECT {BUCKET} AS bucket,
       {VWAP} AS vwap,
       sum(qty) AS volume,
       {NOTIONAL} AS notional,
       count(*) AS trades
FROM trades
WHERE symbol = sym AND {WINDOW}
GROUP BY ALL
ORDER BY bucket
""",
    f"""
CREATE MACRO trade_counts(step, since := NULL, until := NULL) AS TABLE
SELECT {BUCKET} AS bucket, exchange, symbol, count(*) AS trades, sum(qty) AS volume
FROM trades
WHERE {WINDOW}
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
    SELECT {BUCKET} AS bucket,
           coalesce(sum(qty) FILTER (WHERE side = 'buy'), 0) AS buy_volume,
           coalesce(sum(qty) FILTER (WHERE side = 'sell'), 0) AS sell_volume,
           count(*) AS trades
    FROM trades
    WHERE symbol = sym AND {WINDOW}
    GROUP BY ALL
)
ORDER BY bucket
""",
)

MACROS = TRADE_MACROS + BOOK_MACROS + TICKER_MACROS + KLINE_MACROS
