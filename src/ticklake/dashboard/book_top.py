"""Best bid and ask over a window for the History page: the lake's ``book_top`` macro.

``GET /api/book_top?symbol=&since=&until=&buckets=|step=`` asks the catalog's ``book_top``
(``ticklake.catalog.macros``: the book rebuilt from ``book_snapshots`` + ``book_updates``,
absent inside a recorded book gap or without a snapshot within its lookback) at the instants
``k * step`` in ``[since, until)``. The step is the candles' (:func:`choose_step` over the
same ``buckets``), and epoch-aligned as their buckets are, so every instant is the start of
one of the page's candles. Like ``/api/candles`` it runs through the dashboard's
:class:`~ticklake.live_edge.LiveEdge` (the lake plus the spool's unpublished tail, its
database and Parquet footers kept across requests), in a worker thread, with the window's
rows bounded.

The macro joins every ``book_updates`` row of the window with the instants, so its cost
grows with the window's length, not with the instants asked (about 6 s for an hour of the
emulator's book on two cores). Windows longer than ``MAX_SPAN_NS`` are therefore not asked:
the answer says so (``limited``) with no rows, and the page asks again once zoomed in.

A symbol without recorded books answers no rows, not an error. Prices go out as doubles (they
are for plotting) with ``price_decimals``: the most decimals any bid or ask in the window
has, exactly, from the lake's decimals: the instrument's tick precision as recorded (the
feed's product table does not carry the tick size).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ticklake.dashboard.candles import MAX_BUCKETS, parse_bucketing, parse_window
from ticklake.dashboard.context import context
from ticklake.dashboard.responses import JSON

_US = 1_000
_MS = 1_000_000
MAX_SPAN_NS = 3_600 * 1_000_000_000  # the longest window asked of the macro
COLUMNS = ("bid", "ask", "mid", "spread", "spread_bp", "bid_qty", "ask_qty", "top_imbalance")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def first_instant(since_ns: int, step_ns: int) -> int:
    """The first multiple of ``step_ns`` at or after ``since_ns``."""
    return -(-since_ns // step_ns) * step_ns


def book_top_sql(symbol: str, first_ns: int, until_ns: int, step_ns: int) -> str:
    """``book_top`` at ``first_ns + k * step_ns`` before ``until_ns``, with constant
    arguments (the scan planner reads the symbol and window from them to prune files)."""
    until_us = -(-until_ns // _US)  # the instants are whole ms: none lies in between
    return f"""
SELECT epoch_ms(ts) AS t, {", ".join(COLUMNS)}
FROM book_top('{symbol}', INTERVAL '{step_ns // _US} microseconds',
              CAST('{_iso(first_ns // _US)}' AS TIMESTAMPTZ),
              CAST('{_iso(until_us)}' AS TIMESTAMPTZ))
ORDER BY t
"""


async def book_top(request: Request) -> Response:
    """``GET /api/book_top?symbol=&since=&until=&buckets=|step=``."""
    params = request.query_params
    symbol, since_ns, until_ns = parse_window(params)
    step_ns, label = parse_bucketing(params, until_ns - since_ns, MAX_BUCKETS)
    first_ns = first_instant(since_ns, step_ns)
    answer: dict[str, Any] = {
        "symbol": symbol, "step_ms": step_ns / _MS, "step": label,
        "since_ms": since_ns // _MS, "until_ms": until_ns // _MS,
        "limited": until_ns - since_ns > MAX_SPAN_NS, "max_span_ms": MAX_SPAN_NS // _MS,
        "price_decimals": None,
        "t": [], **{name: [] for name in COLUMNS},
    }
    if answer["limited"] or first_ns >= until_ns:
        return JSON(answer)
    instants = (until_ns - 1 - first_ns) // step_ns + 1
    result = await context(request).query(book_top_sql(symbol, first_ns, until_ns, step_ns),
                                          max_rows=instants + 1)
    table = result.table
    prices = [v for name in ("bid", "ask") for v in table[name].to_pylist()]
    answer["price_decimals"] = max(map(_decimals, prices), default=None)
    answer["t"] = table["t"].to_pylist()
    for name in COLUMNS:
        answer[name] = [None if v is None else float(v) for v in table[name].to_pylist()]
    return JSON(answer)


def _decimals(value: Decimal) -> int:
    """Digits after the point in ``value``'s shortest exact form (0 for whole numbers)."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _iso(us: int) -> str:
    return (_EPOCH + timedelta(microseconds=us)).isoformat()
