"""Detector episodes for the charts: ended ones from the lake, recent ones from the live bus.

``GET /api/anomalies?symbol=&since=&until=&limit=`` answers the lake's ``anomalies`` rows whose
episode overlaps ``[since, until)`` (latest detection first), through the same sandboxed query
path as everything else, in the shape the live socket pushes (``msgspec.to_builtins`` of a
``ticklake.model.Anomaly`` with ``phase`` "end"), so the page merges both by ``anomaly_id``.

The live detector publishes every phase on the recording's ``anomalies`` bus *before* it
writes an ended episode to the lake (off the event loop), so an episode that ended just
before a page opened may be in neither the page's subscription nor the lake yet.
``recent.RecentAnomalies`` closes that window: one bounded subscription per dashboard that
nobody waits on; each page's hello drains it (synchronously, right after the page
subscribed) and carries a snapshot of the latest episodes, open or ended. Anything in both
the snapshot and the page's own queue is the same episode in the same or a later phase, and
the page keeps the latest phase per id."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from ticklake.dashboard.candles import parse_symbol, parse_time, utc_day
from ticklake.dashboard.context import context
from ticklake.dashboard.responses import JSON
from ticklake.errors import BadRequest

_S = 1_000_000_000
_DAY = 86_400 * _S
DEFAULT_LIMIT = 1_000
MAX_LIMIT = 10_000
# Episodes last seconds to minutes; one day before ``since`` covers any detection date whose
# episode can still overlap the range (the ``date`` partition is the detection's UTC date).
_LOOKBACK_NS = _DAY
COLUMNS = ("anomaly_id", "exchange", "symbol", "kind", "ts_start_ns", "ts_detect_ns",
           "ts_end_ns", "direction", "horizon_s", "move_bp", "move_price", "price_before",
           "price_after", "score", "trades", "intensity_z", "imbalance", "largest_qty",
           "rcf_score", "detector_version", "params_hash")


def anomalies_sql(symbol: str, since_ns: int, until_ns: int, limit: int) -> str:
    first_day = utc_day(max(0, since_ns - _LOOKBACK_NS))
    last_day = utc_day(max(since_ns, until_ns - 1))
    return f"""
SELECT {", ".join(COLUMNS)}
FROM anomalies
WHERE symbol = '{symbol}' AND ts_start_ns < {until_ns}
  AND coalesce(ts_end_ns, ts_detect_ns) >= {since_ns}
  AND date >= DATE '{first_day}' AND date <= DATE '{last_day}'
ORDER BY ts_detect_ns DESC, anomaly_id
LIMIT {limit}
"""


async def anomalies(request: Request) -> Response:
    """``GET /api/anomalies?symbol=&since=&until=&limit=``: ended episodes from the lake."""
    params = request.query_params
    symbol = parse_symbol(params.get("symbol"))
    until_ns = (parse_time(params.get("until"), "until") if params.get("until")
                else _now_ns())
    since_ns = (parse_time(params.get("since"), "since") if params.get("since")
                else until_ns - 3_600 * _S)
    if since_ns >= until_ns:
        msg = "since must be before until"
        raise BadRequest(msg)
    limit_text = params.get("limit") or str(DEFAULT_LIMIT)
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        msg = f"limit must be 1..{MAX_LIMIT}, got {limit_text!r}"
        raise BadRequest(msg)
    limit = int(limit_text)
    result = await context(request).query(anomalies_sql(symbol, since_ns, until_ns, limit),
                                          max_rows=limit)
    rows = result.table.to_pylist()
    return JSON({"symbol": symbol, "since_ms": since_ns // 1_000_000,
                 "until_ms": until_ns // 1_000_000, "truncated": len(rows) >= limit,
                 "anomalies": [{**row, "phase": "end"} for row in rows]})


def _now_ns() -> int:
    return time.time_ns()
