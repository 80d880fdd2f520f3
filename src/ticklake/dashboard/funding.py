"""The funding-rate history for the History page, from the lake's ``tickers`` table.

``GET /api/funding?symbol=&since=&until=&buckets=|step=`` answers, per bucket of the page's
candles (the same epoch-aligned step, :func:`~ticklake.dashboard.candles.parse_bucketing`),
the last ticker update in it (by exchange time, then spool order, as the catalog's
``funding`` macro takes it): the funding rate, the predicted rate, mark and index. Buckets
without an update are absent, and so is everything for a symbol without tickers (spot, or a
recording without ``--channels …,tickers``): no rows, not an error. Like ``/api/candles`` it
runs through the dashboard's live edge, so the spool's unpublished tail is included.

Values go out as doubles (they are for plotting); the exact decimals stay in the lake and the
SQL explorer (``SELECT * FROM funding(…)``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ticklake.catalog.macro_sql import ORDER
from ticklake.dashboard.candles import MAX_BUCKETS, parse_bucketing, parse_window, utc_day
from ticklake.dashboard.context import context
from ticklake.dashboard.responses import JSON

_MS = 1_000_000
COLUMNS = ("funding_rate", "pred_funding_rate", "mark_price", "index_price")


def funding_sql(symbol: str, since_ns: int, until_ns: int, step_ns: int) -> str:
    """The last update with a funding rate in each bucket of ``[since_ns, until_ns)``."""
    last = ", ".join(f"arg_max({name}, {ORDER}) AS {name}" for name in COLUMNS)
    doubles = ", ".join(f"CAST({name} AS DOUBLE) AS {name}" for name in COLUMNS)
    return f"""
SELECT t, {doubles}, updates
FROM (
  SELECT (ts_ns // {step_ns}) * {step_ns // _MS} AS t, {last}, count(*) AS updates
  FROM tickers
  WHERE symbol = '{symbol}' AND funding_rate IS NOT NULL
    AND ts_ns >= {since_ns} AND ts_ns < {until_ns}
    AND date >= DATE '{utc_day(since_ns)}' AND date <= DATE '{utc_day(until_ns - 1)}'
  GROUP BY 1
)
ORDER BY t
"""


async def funding(request: Request) -> Response:
    """``GET /api/funding?symbol=&since=&until=&buckets=|step=``."""
    params = request.query_params
    symbol, since_ns, until_ns = parse_window(params)
    step_ns, label = parse_bucketing(params, until_ns - since_ns, MAX_BUCKETS * 10)
    result = await context(request).query(funding_sql(symbol, since_ns, until_ns, step_ns),
                                          max_rows=(until_ns - since_ns) // step_ns + 2)
    columns = {name: result.table[name].to_pylist() for name in ("t", *COLUMNS, "updates")}
    return JSON({"symbol": symbol, "step_ms": step_ns / _MS, "step": label,
                 "since_ms": since_ns // _MS, "until_ms": until_ns // _MS, **columns})
