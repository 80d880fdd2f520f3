"""The SQL endpoints: one read-only statement over the lake, as JSON or as a CSV download.

The sandbox itself (read-only, confined to the lake, bounded rows and time) lives in
``ticklake.catalog``; here we only pass the limits through and keep errors to one line.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from ticklake.catalog import format_result
from ticklake.dashboard.context import context
from ticklake.dashboard.responses import JSON, cell, json_body
from ticklake.errors import BadRequest

MAX_SQL_CHARS = 100_000


async def run_sql(request: Request) -> Response:
    """``POST /api/sql`` ``{"sql": "..."}`` → columns, types, rows, truncated, elapsed."""
    body = await json_body(request)
    result = await context(request).query(_statement(body.get("sql")))
    return JSON({
        "columns": result.columns,
        "types": result.types,
        "rows": [[cell(v) for v in row] for row in result.rows()],
        "truncated": result.truncated,
        "elapsed": result.elapsed,
    })


async def sql_csv(request: Request) -> Response:
    """``GET /api/sql.csv?sql=...`` (or a POSTed form): the result as a CSV download."""
    if request.method == "POST":  # the page's form: url-encoded (no multipart parser needed)
        body = (await request.body()).decode("utf-8", "replace")
        sql = dict(parse_qsl(body, keep_blank_values=True)).get("sql")
    else:
        sql = request.query_params.get("sql")
    result = await context(request).query(_statement(sql))
    text = format_result(result, "csv") or ""
    return Response(text, media_type="text/csv", headers={
        "content-disposition": 'attachment; filename="ticklake-query.csv"',
        "x-ticklake-truncated": "true" if result.truncated else "false",
    })


def _statement(sql: object) -> str:
    if not isinstance(sql, str) or not sql.strip():
        msg = "give the query as 'sql' (one read-only statement)"
        raise BadRequest(msg)
    if len(sql) > MAX_SQL_CHARS:
        msg = f"the query is {len(sql)} characters long; the limit is {MAX_SQL_CHARS}"
        raise BadRequest(msg)
    return sql
