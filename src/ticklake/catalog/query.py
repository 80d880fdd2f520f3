"""Running one untrusted statement: sandbox check, time limit, row limit, one-line errors."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from ticklake.catalog.errors import is_file_gone
from ticklake.catalog.sandbox import check_sql, one_line
from ticklake.errors import FilesGone, QueryError


@dataclass(frozen=True)
class QueryResult:
    """The rows of a query as an Arrow table, at most ``max_rows`` of them."""

    columns: list[str]
    types: list[str]  # DuckDB type names, e.g. "DECIMAL(18,8)"
    table: pa.Table
    truncated: bool  # more rows existed than max_rows
    elapsed: float  # seconds

    def to_arrow(self) -> pa.Table:
        return self.table

    @property
    def num_rows(self) -> int:
        return int(self.table.num_rows)

    def rows(self) -> list[tuple[Any, ...]]:
        """The rows as tuples of Python values (Decimal, datetime, int, str, ...)."""
        columns = [column.to_pylist() for column in self.table.columns]
        return list(zip(*columns, strict=True)) if columns else []


def run_query(
    conn: duckdb.DuckDBPyConnection,
    sql: str,
    *,
    max_rows: int = 1_000_000,
    timeout: float = 30.0,
) -> QueryResult:
    """Check ``sql`` (``sandbox.check_sql``), then run it within ``timeout`` seconds.

    Only the first ``max_rows`` rows are fetched (DuckDB stops producing after them); the
    result says whether there were more. ``conn`` should come from ``Lake.connect``.
    """
    if max_rows < 0:
        msg = f"max_rows must be >= 0, got {max_rows}"
        raise QueryError(msg)
    if timeout <= 0:
        msg = f"timeout must be > 0 s, got {timeout}"
        raise QueryError(msg)
    statement = check_sql(conn, sql)
    started = time.perf_counter()
    timer = threading.Timer(timeout, conn.interrupt)
    timer.daemon = True
    timer.start()
    try:
        relation = conn.sql(statement)
        if relation is None:  # pragma: no cover - every allowed statement returns rows
            msg = "the statement returned no result"
            raise QueryError(msg)
        table = relation.limit(max_rows + 1).to_arrow_table()
        columns = list(relation.columns)
        types = [str(t) for t in relation.types]
    except duckdb.InterruptException:
        msg = f"query stopped: it exceeded the time limit of {timeout:g} s"
        raise QueryError(msg) from None
    except duckdb.PermissionException as exc:
        msg = f"refused, only the lake's tables can be read: {one_line(exc)}"
        raise QueryError(msg) from None
    except duckdb.IOException as exc:
        raise _error(one_line(exc)) from None
    except duckdb.Error as exc:
        raise QueryError(one_line(exc)) from None
    except (pa.ArrowException, OSError) as exc:
        msg = f"cannot read the lake: {one_line(exc)}"
        raise _error(msg) from None
    finally:
        timer.cancel()
        timer.join()
    truncated = table.num_rows > max_rows
    if truncated:
        table = table.slice(0, max_rows)
    return QueryResult(columns, types, table, truncated, time.perf_counter() - started)


def _error(message: str) -> QueryError:
    return FilesGone(message) if is_file_gone(message) else QueryError(message)
