"""The lake from Python: tables, macros and SQL as Arrow tables (then pandas or polars).

Reads go through the same catalog as ``ticklake sql``: a symbol and time filter prunes the
partitions and the files (by the manifest's time ranges) before a byte is read, and the row
groups inside a file by their statistics, so a filtered read does not load whole days.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa

from ticklake.api.arrow_read import (
    conform,
    in_order,
    order_columns,
    plan_files,
    read_files,
    read_schema,
    row_filter,
)
from ticklake.catalog import Lake, TableInfo
from ticklake.catalog.connection import LakeDatabase
from ticklake.catalog.macros import MACROS
from ticklake.catalog.query import Params, one_line_errors
from ticklake.catalog.sandbox import one_line
from ticklake.catalog.schema import TIME_COLUMNS, view_schema
from ticklake.errors import FilesGone, QueryError
from ticklake.tables import TABLES

# A time: epoch nanoseconds, a datetime (naive = UTC), a date (its UTC midnight), or an
# ISO 8601 string ("2026-11-25", "2026-11-25T12:00:00Z").
Time = int | datetime | date | str
MACRO_NAMES = tuple(re.findall(r"CREATE MACRO (\w+)", "\n".join(MACROS)))
_DAY_NS = 86_400 * 10**9


def open_lake(root: str | Path) -> LakeReader:
    """The lake at ``root``: a local directory or ``s3://bucket/prefix`` (credentials and
    endpoint from ``AWS_*`` as for the CLI). Raises ``LakeNotFound`` if there is none."""
    return LakeReader(Lake(str(root)))


class LakeReader:
    """Read-only access to one lake. Every method returns exact values (decimals stay
    ``decimal128``; :func:`as_floats` turns them into float64 for numeric work)."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._database: LakeDatabase | None = None  # kept while the manifest is unchanged

    def close(self) -> None:
        """Release the DuckDB connection kept between calls (reopened if used again)."""
        if self._database is not None:
            self._database.close()
            self._database = None

    @property
    def root(self) -> str:
        return self.lake.root

    def tables(self) -> list[TableInfo]:
        """Every table with its columns, files, rows, bytes and time span (``ticklake
        catalog``)."""
        return self.lake.tables()

    def read(self, table: str, *, symbols: Iterable[str] | None = None,
             since: Time | None = None, until: Time | None = None,
             columns: Sequence[str] | None = None) -> pa.Table:
        """Rows of ``table`` for ``symbols`` with time in ``[since, until)``, in the
        exchange's order (time, then spool offset, then place in the message), with the
        files' types: ``qty`` decimal(18, 8) (SQL widens it to DECIMAL(38, 8)), and
        dictionaries for ``side`` and the partition columns (pandas categoricals)."""
        self.select_sql(table, symbols=symbols, columns=columns)  # (checks the arguments)
        names = _symbols(symbols)
        since_ns = None if since is None else to_ns(since, "since")
        until_ns = None if until is None else to_ns(until, "until")
        keys = order_columns(table)
        wanted = list(columns) if columns else read_schema(table).names
        for attempt in range(2):
            self.lake.refresh()
            paths = plan_files(self.lake.entries(table), table, names, since_ns, until_ns)
            try:
                rows = read_files(self.lake.filesystem, self.lake.base, table, paths,
                                  wanted + [key for key in keys if key not in wanted],
                                  row_filter(table, names, since_ns, until_ns))
                break
            except (OSError, pa.ArrowException) as exc:
                if attempt:  # (the first: a compaction may have replaced a planned file)
                    msg = f"cannot read the lake's {table}: {one_line(exc)}"
                    raise QueryError(msg) from None
        return in_order(rows, keys).select(wanted)

    def scan(self, table: str, *, symbols: Iterable[str] | None = None,
             since: Time | None = None, until: Time | None = None,
             columns: Sequence[str] | None = None,
             batch_rows: int = 65_536) -> pa.RecordBatchReader:
        """:meth:`read` as a stream of record batches of at most ``batch_rows`` rows, the same
        rows and types: memory stays bounded however many rows match (DuckDB sorts, spilling
        to disk if need be). Read it to the end (or close it)."""
        sql = self.select_sql(table, symbols=symbols, since=since, until=until,
                              columns=columns)
        database = self.lake.database()
        try:
            cursor, statement = database.planned(sql)
        except BaseException:
            database.close()
            raise
        try:
            with one_line_errors():
                reader = cursor.sql(statement).to_arrow_reader(batch_rows)
        except BaseException:
            cursor.close()
            database.close()
            raise

        types = read_schema(table)  # (SQL's types are wider: see read)
        schema = pa.schema([types.field(name) for name in reader.schema.names])

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                with one_line_errors():
                    for batch in reader:
                        yield conform(batch, schema)
            finally:
                cursor.close()
                database.close()

        return pa.RecordBatchReader.from_batches(schema, batches())

    def macro(self, name: str, *args: Any, since: Time | None = None,
              until: Time | None = None) -> pa.Table:
        """A table macro's result (``candles``, ``vwap``, ``funding``, ``kline_check``...;
        ``MACRO_NAMES``), its window pruning the partitions read. Arguments are Python
        values: a str, a number, a ``timedelta`` (an INTERVAL) or a time."""
        if name not in MACRO_NAMES:
            msg = f"no macro {name!r}; the lake's macros: {', '.join(sorted(MACRO_NAMES))}"
            raise ValueError(msg)
        values = [_literal(arg) for arg in args]
        if since is not None:
            values.append(f"since := {_instant(since, 'since')}")
        if until is not None:
            values.append(f"until := {_instant(until, 'until')}")
        return self._query(f"SELECT * FROM {name}({', '.join(values)})")

    def candles(self, symbol: str, step: str | timedelta = "1 minute", *,
                since: Time | None = None, until: Time | None = None) -> pa.Table:
        """OHLCV per ``step`` from the recorded trades (the ``candles`` macro)."""
        return self.macro("candles", symbol, step, since=since, until=until)

    def sql(self, query: str, params: Params = None, *,
            timeout: float | None = None) -> pa.Table:
        """One read-only statement over the lake's views and macros, with ``$1``... (a
        sequence) or ``$name`` (a mapping) bound to ``params``. Constants in its filters
        prune the files read; parameters do not (they are bound after planning)."""
        return self._query(query, params, timeout)

    def files(self, table: str, *, symbols: Iterable[str] | None = None,
              since: Time | None = None, until: Time | None = None) -> list[str]:
        """The files (relative to the root) a :meth:`read` with these filters opens."""
        self.select_sql(table, symbols=symbols)  # (checks the arguments)
        self.lake.refresh()
        return plan_files(self.lake.entries(table), table, _symbols(symbols),
                          None if since is None else to_ns(since, "since"),
                          None if until is None else to_ns(until, "until"))

    def _query(self, sql: str, params: Params = None, timeout: float | None = None) -> pa.Table:
        """``sql``'s whole result, on the connection kept while the lake's files are the same
        (opening one costs ~50 ms: a day's read is often less); replanned once if a
        compaction replaced files under it."""
        for attempt in range(2):
            try:
                return self._connection().query(sql, max_rows=None, timeout=timeout,
                                                params=params).table
            except FilesGone:
                self.close()
                if attempt:
                    raise
        raise AssertionError  # pragma: no cover - the loop returns or raises

    def _connection(self) -> LakeDatabase:
        if self._database is None or self.lake.refresh():
            self.close()
            self._database = self.lake.database()
        return self._database

    @staticmethod
    def select_sql(table: str, *, symbols: Iterable[str] | None = None,
                   since: Time | None = None, until: Time | None = None,
                   columns: Sequence[str] | None = None) -> str:
        """The statement :meth:`scan` runs, the rows :meth:`read` returns (constants only,
        so the planner can prune); checks the arguments, one-line ``ValueError``s."""
        if table not in TABLES:
            msg = f"no table {table!r}; the lake's tables: {', '.join(TABLES)}"
            raise ValueError(msg)
        names = view_schema(table).names
        unknown = [c for c in columns or () if c not in names]
        if unknown:
            msg = f"{table} has no column {unknown[0]!r}; its columns: {', '.join(names)}"
            raise ValueError(msg)
        time = TIME_COLUMNS[table]
        where = []
        if symbols is not None:
            if isinstance(symbols, str):
                symbols = [symbols]
            if "symbol" not in names:
                msg = f"{table} has no symbol column"
                raise ValueError(msg)
            where.append(f"symbol IN ({', '.join(map(_quote, symbols)) or 'NULL'})")
        for bound, op, name in ((since, ">=", "since"), (until, "<", "until")):
            if bound is not None:
                ns = to_ns(bound, name)
                where.append(f"{time} {op} {ns}")
                if "date" in names:  # (prunes partitions also where no manifest is kept)
                    day = _day(ns if op == ">=" else ns - 1)
                    where.append(f"date {'>=' if op == '>=' else '<='} DATE '{day}'")
        return (f"SELECT {', '.join(columns) if columns else '*'} FROM {table}"
                + (f" WHERE {' AND '.join(where)}" if where else "")
                + f" ORDER BY {', '.join(order_columns(table))}")


def as_floats(table: pa.Table) -> pa.Table:
    """``table`` with its decimal columns as float64 (pandas and polars compute on floats;
    exact decimals would become Python objects in pandas)."""
    columns = [column.cast(pa.float64()) if pa.types.is_decimal(column.type) else column
               for column in table.columns]
    return pa.Table.from_arrays(columns, names=table.column_names)


def to_ns(value: Time, name: str = "time") -> int:
    """Epoch nanoseconds of a :data:`Time`; a one-line ``ValueError`` naming ``name``."""
    if isinstance(value, bool):
        msg = f"{name}: {value!r} is not a time"
        raise ValueError(msg)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            msg = (f"{name}: cannot read {value!r} as a time (ISO 8601 such as "
                   "'2026-11-25' or '2026-11-25T12:00:00Z', a datetime, or epoch ns)")
            raise ValueError(msg) from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        delta = value - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    if isinstance(value, date):
        return (value - date(1970, 1, 1)).days * _DAY_NS
    msg = f"{name}: {value!r} is not a time"
    raise ValueError(msg)


def _symbols(symbols: Iterable[str] | None) -> list[str] | None:
    return None if symbols is None else [symbols] if isinstance(symbols, str) else list(symbols)


def _instant(value: Time, name: str) -> str:
    ns = to_ns(value, name)
    text = datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%d %H:%M:%S")
    return f"TIMESTAMPTZ '{text}.{ns % 10**9 // 1000:06d}+00'"


def _day(ns: int) -> str:
    return datetime.fromtimestamp(ns // _DAY_NS * 86_400, UTC).date().isoformat()


def _quote(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, timedelta):
        return f"INTERVAL '{int(value / timedelta(microseconds=1))} microseconds'"
    if isinstance(value, datetime | date):
        return _instant(value, "argument")
    msg = f"cannot pass {value!r} to a macro (a str, a number, a timedelta or a time)"
    raise ValueError(msg)
