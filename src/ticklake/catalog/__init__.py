"""Catalog and SQL over the lake: the Glue and Athena replacement, embedded.

``Lake(root)`` opens a lake (local directory or ``s3://bucket/prefix``); ``tables()`` and
``partitions()`` are the catalog (from the manifest, ``ticklake.manifest``); ``query(sql)``
runs one read-only statement in a sandboxed DuckDB where every table (``trades``, ``raw``,
``gaps``, ``rejected``, ``anomalies``, ``book_updates``, ``book_snapshots``) is a view
(reading only the files the statement's filters can need), optionally with the
not-yet-published tail unioned in; ``format_result`` renders the result.

Table macros in every connection (details in ``macros.py``)::

    SELECT * FROM candles('BTCUSD', INTERVAL 1 MINUTE)      -- OHLCV, buy/sell volume, vwap
    SELECT * FROM vwap('BTCUSD', INTERVAL 1 HOUR)
    SELECT * FROM trade_counts(INTERVAL 1 DAY)              -- per exchange and symbol
    SELECT * FROM imbalance('BTCUSD', INTERVAL 15 SECOND)   -- buy - sell volume, ratio

each also taking ``since := ..., until := ...`` (a time window that prunes partitions), and
for order books ``book_at(sym, ts, depth)``, ``book_top(sym, step, since, until)``,
``book_depth(sym, step, bp, since, until)``.

The sandbox has two layers: DuckDB's own settings (``connection.py``: external access off,
only the table directories allowed, configuration locked, no extension installs) and a
statement check on DuckDB's parse tree (``sandbox.py``: one SELECT-like statement, no
state-changing functions), plus a time limit and a row limit (``query.py``).
"""

from __future__ import annotations

from ticklake.catalog.lake import Lake, PartitionInfo, TableInfo
from ticklake.catalog.output import FORMATS, format_result
from ticklake.catalog.query import QueryResult, run_query
from ticklake.catalog.sandbox import check_sql
from ticklake.catalog.schema import TABLES
from ticklake.errors import LakeNotFound, QueryError

__all__ = [
    "FORMATS",
    "TABLES",
    "Lake",
    "LakeNotFound",
    "PartitionInfo",
    "QueryError",
    "QueryResult",
    "TableInfo",
    "check_sql",
    "format_result",
    "run_query",
]
