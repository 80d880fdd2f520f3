"""Sandboxed DuckDB over the lake: one database per file list, one cursor per statement.

A :class:`LakeDatabase` holds, for each table, its partition list (``_partitions_<table>``:
partition values, min/max of the time columns over the partition's files, from the manifest)
and a guard view under the table's name that raises if read. Each statement runs on its own
cursor: the scan planner (``planner.py``) reads the statement's filters, the partition list
answers which partitions can hold matching rows, the files of those (``_files_<table>``, on
the cursor) which files, and the cursor gets a temporary view per table the statement reads,
the union (``UNION ALL BY NAME``; just the files when there is nothing else) of

1. an empty table with the documented columns, so a table without files is an empty view with
   the right types and every view has its columns in the documented order followed by the
   partition columns ``exchange``, [``symbol``,] ``date``;
2. the files it needs: on a local lake ``read_parquet`` over exactly those paths (no listing,
   no footer read until the scan; ``union_by_name`` only across schema versions), on any
   other filesystem (S3) a ``pyarrow.dataset`` of those files, registered in DuckDB (httpfs
   cannot be installed offline);
3. the caller's not-yet-published tail, if any.

So a query's cost follows the files it reads, not the files the lake holds. Parquet footers
are cached in the database (``parquet_metadata_cache``) for as long as it lives.

The sandbox is closed before any statement runs, in this order: only the table directories
are allowed (``allowed_directories``; none for S3, where DuckDB touches no file), external
access off (``enable_external_access=false``: no other file, URL, ATTACH, INSTALL or LOAD),
and ``lock_configuration=true`` so no SET/RESET/PRAGMA can undo it. Extension auto-install and
auto-load are off from the start (there is no network), as are Python replacement scans (a
query cannot read the caller's variables). Statement-level checks are in ``sandbox.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from ticklake.catalog.errors import is_file_gone
from ticklake.catalog.macros import MACROS
from ticklake.catalog.planner import EVERYTHING, file_columns, plan_scans
from ticklake.catalog.query import Params, QueryResult, run_query
from ticklake.catalog.sandbox import check_sql, one_line
from ticklake.catalog.schema import (
    HIVE_TYPES,
    PARTITIONS,
    TABLES,
    partition_schema,
    sql_type,
    view_schema,
)
from ticklake.errors import FilesGone, QueryError
from ticklake.manifest import RANGE_COLUMNS, TIMESTAMP_TWINS, UNKNOWN_SCHEMA, FileEntry
from ticklake.tables import schema_version

if TYPE_CHECKING:
    import pyarrow.fs as pafs

CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "python_enable_replacements": False,
}


@dataclass(frozen=True)
class LocalFiles:
    """A table on the local disk, read by DuckDB's Parquet reader."""

    directory: str  # absolute
    entries: tuple[FileEntry, ...]  # the live files, paths relative to the lake root
    root: str = ""  # the lake root the entries' paths are relative to

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(f"{self.root}/{e.path}" for e in self.entries)


@dataclass(frozen=True)
class DatasetFiles:
    """A table on any pyarrow filesystem, read through a ``pyarrow.dataset``."""

    filesystem: pafs.FileSystem
    directory: str  # the table's directory on that filesystem
    entries: tuple[FileEntry, ...]
    root: str = ""

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(f"{self.root}/{e.path}" for e in self.entries)


TableFiles = LocalFiles | DatasetFiles


@dataclass
class LakeDatabase:
    """A locked-down in-memory DuckDB over fixed file lists; :meth:`query` plans each
    statement's scans. Thread-safe: every statement has its own cursor."""

    files: Mapping[str, TableFiles]
    conn: duckdb.DuckDBPyConnection = field(init=False)

    def __post_init__(self) -> None:
        self.conn = _open(self.files)
        self._partitions: dict[str, list[list[FileEntry]]] = {}
        self._lock = threading.Lock()

    def _partition_list(self, table: str) -> list[list[FileEntry]]:
        """``table``'s files by partition, the partitions loaded into ``_partitions_<table>``
        (one row each, the union of their files' ranges) on first use: a plan is tested on
        the partitions first, then on the files of the partitions it keeps, so a statement
        costs what its partitions hold, not what the lake holds."""
        with self._lock:
            found = self._partitions.get(table)
            if found is not None:
                return found
            groups: dict[tuple[str, ...], list[FileEntry]] = {}
            for entry in self.files[table].entries:
                groups.setdefault(entry.partition, []).append(entry)
            members = list(groups.values())
            select, columns = _file_list(table, [_summary(table, m) for m in members])
            cursor = self.conn.cursor()
            try:
                cursor.execute(f"CREATE TABLE _partitions_{table} AS {select}", columns)
            finally:
                cursor.close()
            self._partitions[table] = members
            return members

    def close(self) -> None:
        self.conn.close()

    def query(self, sql: str, tails: Mapping[str, pa.Table] | None = None, *,
              max_rows: int | None = 1_000_000, timeout: float | None = 30.0,
              params: Params = None) -> QueryResult:
        """Run one read-only statement (``run_query``'s checks and limits)."""
        cursor, statement = self.planned(sql, tails)
        try:
            return run_query(cursor, statement, max_rows=max_rows, timeout=timeout,
                             params=params)
        finally:
            cursor.close()

    def planned(self, sql: str, tails: Mapping[str, pa.Table] | None = None,
                ) -> tuple[duckdb.DuckDBPyConnection, str]:
        """A cursor whose views read only the files ``sql`` needs, and its one read-only
        statement (``sandbox.check_sql``); the caller closes the cursor. (Parameters in a
        filter do not prune: the plan sees constants only.)"""
        tails = dict(tails or {})
        _check_tails(tails)
        cursor = self.conn.cursor()
        try:
            statement = check_sql(cursor, sql)
            self._views(cursor, plan_scans(cursor, statement).tables, tails)
        except BaseException:
            cursor.close()
            raise
        return cursor, statement

    def scan_files(self, sql: str) -> dict[str, list[str]]:
        """The files each table's view would read for ``sql`` (paths relative to the root)."""
        cursor = self.conn.cursor()
        try:
            out = {}
            for table, condition in plan_scans(cursor, sql).tables.items():
                entries = self._select(cursor, table, condition)
                out[table] = [entry.path for entry in entries]
            return out
        finally:
            cursor.close()

    def cursor(self, tails: Mapping[str, pa.Table] | None = None) -> duckdb.DuckDBPyConnection:
        """A cursor whose views read every file of every table (no planning: for callers
        that run their own SQL on it; each statement binds every file)."""
        tails = dict(tails or {})
        _check_tails(tails)
        cursor = self.conn.cursor()
        try:
            self._views(cursor, dict.fromkeys(TABLES, EVERYTHING), tails)
        except BaseException:
            cursor.close()
            raise
        return cursor

    def _views(self, cursor: duckdb.DuckDBPyConnection, plan: Mapping[str, str | None],
               tails: Mapping[str, pa.Table]) -> None:
        for table, condition in plan.items():
            source = self.files[table]
            entries = self._select(cursor, table, condition)
            parts = [f"SELECT * FROM _empty_{table}"]
            if entries:
                parts += _file_scans(cursor, table, source, entries)
            tail = tails.get(table)
            if tail is not None:
                cursor.register(f"_tail_{table}", tail)
                parts.append(f"SELECT * REPLACE (CAST(date AS DATE) AS date) FROM _tail_{table}")
            if len(parts) == 2 and tail is None and {e.schema for e in entries} == {
                    schema_version(table)}:
                # Files of one schema version alone hold the view's columns (DuckDB puts the
                # Hive columns in name order: select them in the view's); a union, of any
                # kind, would cost count(*) its answer from the footers.
                columns = ", ".join(
                    f"CAST({f.name} AS {_WIDE[f.name]}) AS {f.name}" if f.name in _WIDE
                    else f.name for f in view_schema(table))
                parts = [f"SELECT {columns} FROM ({parts[1]})"]
            try:
                cursor.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS "
                               + "\nUNION ALL BY NAME\n".join(parts))
            except (duckdb.Error, pa.ArrowException, OSError) as exc:
                msg = f"cannot open the lake's {table}: {one_line(exc)}"
                raise (FilesGone if is_file_gone(msg) else QueryError)(msg) from None


    def _select(self, cursor: duckdb.DuckDBPyConnection, table: str,
                condition: str | None) -> list[FileEntry]:
        """The files ``condition`` keeps (tested on the partitions, then on the files of
        the partitions kept); all if it cannot be evaluated."""
        entries = self.files[table].entries
        if condition is EVERYTHING or not entries:
            return list(entries)
        partitions = self._partition_list(table)
        try:
            rows = cursor.execute(
                f"SELECT row FROM _partitions_{table} WHERE {condition}").fetchall()
            candidates = [entry for (row,) in rows for entry in partitions[row]]
            if not candidates:
                return []
            select, columns = _file_list(table, candidates)
            cursor.execute(f"CREATE OR REPLACE TEMP TABLE _files_{table} AS {select}", columns)
            rows = cursor.execute(f"SELECT row FROM _files_{table} WHERE {condition}").fetchall()
        except duckdb.Error:
            return list(entries)  # the statement itself will name what is wrong
        return [candidates[row] for (row,) in rows]


def _file_scans(cursor: duckdb.DuckDBPyConnection, table: str, source: TableFiles,
                entries: list[FileEntry]) -> list[str]:
    by_schema: dict[int, list[FileEntry]] = {}
    for entry in entries:
        by_schema.setdefault(entry.schema, []).append(entry)
    if isinstance(source, LocalFiles):
        scans = []
        for version, group in sorted(by_schema.items()):
            # The paths travel as a cursor variable, not as a literal in the view's text:
            # binding a literal list of 100k paths costs seconds, a variable ~0.1 s.
            variable = f"_files_{table}_{version}"
            cursor.execute(f"SET VARIABLE {variable} = $1",
                           [[f"{source.root}/{e.path}" for e in group]])
            scans.append(_read_parquet(table, variable, by_name=version == UNKNOWN_SCHEMA))
        return scans
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    dataset = ds.dataset(
        [f"{source.root}/{e.path}" for e in entries],
        filesystem=source.filesystem,
        format="parquet",
        partitioning=ds.partitioning(partition_schema(table), flavor="hive"),
        partition_base_dir=source.directory,
        schema=view_schema(table),
    )
    if isinstance(source.filesystem, pafs.PyFileSystem):
        # A filesystem written in Python (fsspec, a wrapper) cannot be scanned lazily: DuckDB
        # holds the GIL while it produces the scan, and Arrow's IO threads need the GIL to
        # open a file through it; each waits for the other (a deadlock seen under load). Its
        # planned files are read here instead, with the GIL released while Arrow reads.
        cursor.register(f"_dataset_{table}", dataset.to_table())
    else:
        cursor.register(f"_dataset_{table}", dataset)
    return [f"SELECT * FROM _dataset_{table}"]


# Quantities read as DECIMAL(38, 8) (the files keep decimal(18, 8)): DuckDB sizes a product of
# decimals by its wider factor, so ``price * qty`` of two DECIMAL(18, 8) overflowed 64 bits
# ("Overflow in multiplication of DECIMAL(18)"); one wide factor makes the obvious notional
# query exact. Every other branch of a view is a union with ``_empty_<table>``, which widens.
_WIDE = {"qty": "DECIMAL(38,8)"}


def _open(files: Mapping[str, TableFiles]) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect(":memory:", config=dict(CONFIG))
    try:
        conn.execute("SET GLOBAL TimeZone = 'UTC'")
        conn.execute("SET GLOBAL parquet_metadata_cache = true")
        allowed = []
        for table in TABLES:
            source = files[table]
            columns = ", ".join(f"{f.name} {_WIDE.get(f.name) or sql_type(f.type)}"
                                for f in view_schema(table))
            conn.execute(f"CREATE TABLE _empty_{table} ({columns})")
            conn.execute(f"CREATE TABLE _guard_{table} ({columns}, _guard INTEGER)")
            conn.execute(f"INSERT INTO _guard_{table} (_guard) VALUES (1)")
            # Read only through a statement's plan: a reference the planner missed fails
            # loudly instead of answering from no files.
            conn.execute(
                f"CREATE VIEW {table} AS SELECT * EXCLUDE (_guard) FROM _guard_{table} "
                f"WHERE error('internal: {table} was read without a scan plan') IS NULL")
            if isinstance(source, LocalFiles):
                allowed.append(source.directory.rstrip("/") + "/")
        for macro in MACROS:
            conn.execute(macro)
        conn.execute(f"SET allowed_directories = [{', '.join(map(_literal, allowed))}]")
        conn.execute("SET enable_external_access = false")
        conn.execute("SET lock_configuration = true")
    except duckdb.Error as exc:
        conn.close()
        msg = f"cannot open the lake's views: {one_line(exc)}"
        raise QueryError(msg) from None
    except BaseException:
        conn.close()
        raise
    return conn


def _summary(table: str, files: Sequence[FileEntry]) -> FileEntry:
    """A partition as one entry: the union of its files' ranges (none if a file has none:
    a plan keeps what it cannot tell)."""
    ranges = {}
    for ns in RANGE_COLUMNS[table]:
        found = [f.ranges.get(ns) for f in files]
        if all(found):
            ranges[ns] = (min(r[0] for r in found if r), max(r[1] for r in found if r))
    first = files[0]
    return FileEntry(first.directory, table, first.partition, 0, 0, ranges)


def _file_list(table: str, entries: Sequence[FileEntry]) -> tuple[str, list[list[Any]]]:
    """The statement and its parameters that make the file list the plans' conditions run
    on (``planner.file_columns``). Columns travel as list parameters, not as a registered
    Arrow table: DuckDB imports pandas for any registered Python object, a quarter of a
    second of every ``ticklake sql``."""
    columns: dict[str, list[Any]] = {"row": list(range(len(entries))),
                                     "path": [e.path for e in entries]}
    for i, key in enumerate(PARTITIONS[table]):
        columns[key] = [e.partition[i] if len(e.partition) > i else None for e in entries]
    twins: dict[str, str] = {}  # a timestamp column -> the ns column it is made of
    for ns in RANGE_COLUMNS[table]:
        for end, index in (("lo", 0), ("hi", 1)):
            columns[f"{ns}_{end}"] = [e.ranges[ns][index] if ns in e.ranges else None
                                      for e in entries]
            if ns in TIMESTAMP_TWINS:
                twins[f"{TIMESTAMP_TWINS[ns]}_{end}"] = f"{ns}_{end}"
    unnested = ", ".join(f"unnest(${i + 1}) AS {name}" for i, name in enumerate(columns))
    select = ", ".join(
        f"CAST(make_timestamp({twins[name]} // 1000) AS {kind}) AS {name}" if name in twins
        else f"CAST({name} AS {kind}) AS {name}"
        for name, kind in [("row", "BIGINT"), *file_columns(table)])
    return f"SELECT {select} FROM (SELECT {unnested})", list(columns.values())


def _check_tails(tails: Mapping[str, pa.Table]) -> None:
    unknown = sorted(set(tails) - set(TABLES))
    if unknown:
        msg = f"tails for unknown tables {unknown}; the lake has {list(TABLES)}"
        raise QueryError(msg)


def _read_parquet(table: str, variable: str, *, by_name: bool) -> str:
    """A scan of the files in ``variable``: of one schema version, or ``by_name`` (files
    whose versions are unknown, which may lack a newer column)."""
    files = f"getvariable({_literal(variable)})"
    hive_types = ", ".join(
        f"{_literal(key)}: {_literal(HIVE_TYPES[key])}" for key in PARTITIONS[table]
    )
    union = "union_by_name = true, " if by_name else ""
    return (
        f"SELECT * FROM read_parquet({files}, hive_partitioning = true, {union}"
        f"hive_types = {{{hive_types}}})"
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
