"""Running one untrusted statement: sandbox check, time limit, row limit, one-line errors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from ticklake.catalog.errors import is_file_gone
from ticklake.catalog.sandbox import check_sql, one_line
from ticklake.errors import FilesGone, QueryError

# Values of ``$1``, ``$2``... (a sequence) or ``$name`` (a mapping), bound by DuckDB.
Params = Sequence[Any] | Mapping[str, Any] | None


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
    max_rows: int | None = 1_000_000,
    timeout: float | None = 30.0,
    params: Params = None,
) -> QueryResult:
    """Check ``sql`` (``sandbox.check_sql``), then run it within ``timeout`` seconds.

    Only the first ``max_rows`` rows are fetched (DuckDB stops producing after them; None:
    all); the result says whether there were more (``timeout`` None: no time limit).
    ``conn`` should come from ``Lake.connect``.
    """
    if max_rows is not None and max_rows < 0:
        msg = f"max_rows must be >= 0, got {max_rows}"
        raise QueryError(msg)
    if timeout is not None and timeout <= 0:
        msg = f"timeout must be > 0 s, got {timeout}"
        raise QueryError(msg)
    statement = check_sql(conn, sql)
    started = time.perf_counter()
    timer = None if timeout is None else threading.Timer(timeout, conn.interrupt)
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        with one_line_errors(timeout):
            relation = conn.sql(statement, params=params)
            if relation is None:  # pragma: no cover - every allowed statement returns rows
                msg = "the statement returned no result"
                raise QueryError(msg)
            limited = relation if max_rows is None else relation.limit(max_rows + 1)
            table = limited.to_arrow_table()
            columns = list(relation.columns)
            types = [str(t) for t in relation.types]
    finally:
        if timer is not None:
            timer.cancel()
            timer.join()
    truncated = max_rows is not None and table.num_rows > max_rows
    if truncated:
        table = table.slice(0, max_rows)
    return QueryResult(columns, types, table, truncated, time.perf_counter() - started)


@contextmanager
def one_line_errors(timeout: float | None = None) -> Iterator[None]:
    """DuckDB's and Arrow's errors while a query runs, as one-line :class:`QueryError`."""
    try:
        yield
    except duckdb.InterruptException:
        msg = (f"query stopped: it exceeded the time limit of {timeout:g} s"
               if timeout is not None else "query interrupted")
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


def _error(message: str) -> QueryError:
    return FilesGone(message) if is_file_gone(message) else QueryError(message)
