"""Sandboxed DuckDB connections with the lake's tables as views (the Athena replacement).

Each table becomes a view, the union (``UNION ALL BY NAME``) of:

1. an empty Arrow table with the documented columns, so a table without files is an empty view
   with the right types instead of an error, and every view has its columns in the documented
   order followed by the partition columns ``exchange``, [``symbol``,] ``date``;
2. the published files: on a local lake ``read_parquet`` over a Hive glob (re-evaluated by each
   query, so new files show up), on any other filesystem (S3) a ``pyarrow.dataset`` of the files
   listed when the connection was opened, registered in DuckDB (httpfs cannot be installed
   offline). Partition and column filters reach both (DuckDB prunes files by path; the Arrow
   scan receives the filters);
3. the caller's not-yet-published tail, if any.

Then the sandbox is closed, in this order: only the table directories are allowed
(``allowed_directories``; none for S3, where DuckDB touches no file), external access off
(``enable_external_access=false``: no other file, URL, ATTACH, INSTALL or LOAD), and
``lock_configuration=true`` so no SET/RESET/PRAGMA can undo it. Extension auto-install and
auto-load are off from the start (there is no network), as are Python replacement scans (a query
cannot read the caller's variables). Statement-level checks are in ``sandbox.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from ticklake.catalog.errors import QueryError
from ticklake.catalog.macros import MACROS
from ticklake.catalog.sandbox import one_line
from ticklake.catalog.schema import (
    HIVE_TYPES,
    PARTITIONS,
    TABLES,
    partition_schema,
    view_schema,
)

CONFIG = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "python_enable_replacements": False,
}


@dataclass(frozen=True)
class LocalFiles:
    """A table on the local disk, read by DuckDB's Parquet reader through a Hive glob."""

    directory: str  # absolute, no glob metacharacters
    paths: tuple[str, ...]  # the live files (superseded compaction inputs left out)


@dataclass(frozen=True)
class DatasetFiles:
    """A table on any pyarrow filesystem, read through a ``pyarrow.dataset``."""

    filesystem: pafs.FileSystem
    directory: str  # the table's directory on that filesystem
    paths: tuple[str, ...]


TableFiles = LocalFiles | DatasetFiles


def open_connection(
    files: Mapping[str, TableFiles], tails: Mapping[str, pa.Table] | None = None,
    *, tail_slots: bool = False,
) -> duckdb.DuckDBPyConnection:
    """A locked-down in-memory DuckDB with one view per lake table and the macros.

    ``tail_slots``: every table gets a tail (empty if ``tails`` has none for it), so that
    :func:`replace_tails` can swap in newer tails on the same connection later.
    """
    tails = dict(tails or {})
    _check_tails(tails)
    if tail_slots:
        tails = {table: tails.get(table, _empty_tail(table)) for table in TABLES}
    conn = duckdb.connect(":memory:", config=dict(CONFIG))
    try:
        conn.execute("SET TimeZone = 'UTC'")
        allowed = []
        for table in TABLES:
            empty = _register(conn, f"_empty_{table}", view_schema(table).empty_table())
            parts = [f"SELECT * FROM {empty}"]
            source = files[table]
            if isinstance(source, LocalFiles):
                allowed.append(source.directory.rstrip("/") + "/")
                if source.paths:
                    parts.append(_read_parquet(table, source.paths))
            elif source.paths:
                dataset = ds.dataset(
                    list(source.paths),
                    filesystem=source.filesystem,
                    format="parquet",
                    partitioning=ds.partitioning(partition_schema(table), flavor="hive"),
                    partition_base_dir=source.directory,
                    schema=view_schema(table),
                )
                parts.append(f"SELECT * FROM {_register(conn, f'_files_{table}', dataset)}")
            if table in tails:
                name = _register(conn, f"_tail_{table}", tails[table])
                parts.append(f"SELECT * REPLACE (CAST(date AS DATE) AS date) FROM {name}")
            conn.execute(f"CREATE VIEW {table} AS " + "\nUNION ALL BY NAME\n".join(parts))
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


def replace_tails(conn: duckdb.DuckDBPyConnection, tails: Mapping[str, pa.Table],
                  previous: Mapping[str, pa.Table]) -> None:
    """Swap the tails of a connection opened with ``tail_slots`` (no view is rebuilt);
    tables whose tail is the very object of ``previous`` are left as they are."""
    _check_tails(tails)
    for table in TABLES:
        tail = tails.get(table)
        if tail is None or tail is not previous.get(table):
            conn.register(f"_tail_{table}", tail if tail is not None else _empty_tail(table))


def _check_tails(tails: Mapping[str, pa.Table]) -> None:
    unknown = sorted(set(tails) - set(TABLES))
    if unknown:
        msg = f"tails for unknown tables {unknown}; the lake has {list(TABLES)}"
        raise QueryError(msg)


def _empty_tail(table: str) -> pa.Table:
    return view_schema(table).empty_table()


def _register(conn: duckdb.DuckDBPyConnection, name: str, data: object) -> str:
    conn.register(name, data)
    return name


def _read_parquet(table: str, paths: tuple[str, ...]) -> str:
    files = "[" + ", ".join(map(_literal, paths)) + "]"
    hive_types = ", ".join(
        f"{_literal(key)}: {_literal(HIVE_TYPES[key])}" for key in PARTITIONS[table]
    )
    return (
        f"SELECT * FROM read_parquet({files}, hive_partitioning = true, "
        f"union_by_name = true, hive_types = {{{hive_types}}})"
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
