"""The Lake page's data: tables, schemas, partitions, sizes and freshness, from the catalog
(Parquet footers only: no data is scanned)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ticklake.catalog import Lake, PartitionInfo, TableInfo
from ticklake.dashboard.context import context
from ticklake.dashboard.responses import JSON

MAX_PARTITIONS = 5_000  # newest first; a long-lived lake has one partition per symbol-day


async def tables(request: Request) -> Response:
    """``GET /api/lake``: every table with its columns and totals."""
    ctx = context(request)
    infos: list[TableInfo] = await ctx.in_thread(lambda: Lake(ctx.config.lake_root).tables())
    now = time.time_ns()
    return JSON({
        "root": ctx.config.lake_root,
        "tables": [
            {
                "name": t.name,
                "columns": [{"name": n, "type": k} for n, k in t.columns],
                "partition_keys": list(t.partition_keys),
                **_totals(t, now),
                "partitions": t.partitions,
            }
            for t in infos
        ],
    })


async def partitions(request: Request) -> Response:
    """``GET /api/lake/{table}/partitions``: newest first, at most MAX_PARTITIONS (an unknown
    table is a one-line 400 from the catalog)."""
    ctx = context(request)
    table = request.path_params["table"]
    root = ctx.config.lake_root
    parts: list[PartitionInfo] = await ctx.in_thread(lambda: Lake(root).partitions(table))
    parts.sort(key=lambda p: tuple(p.values.values()), reverse=True)
    now = time.time_ns()
    return JSON({
        "table": table,
        "count": len(parts),
        "partitions": [{"values": p.values, **_totals(p, now)} for p in parts[:MAX_PARTITIONS]],
    })


def _totals(info: TableInfo | PartitionInfo, now_ns: int) -> dict[str, Any]:
    return {
        "files": info.files,
        "rows": info.rows,
        "bytes": info.bytes,
        "max_time": _iso(info.max_time),
        "age_s": None if info.max_time_ns is None else max(0.0, (now_ns - info.max_time_ns) / 1e9),
        "last_modified": _iso(info.last_modified),
        "unreadable_files": info.unreadable_files,
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
