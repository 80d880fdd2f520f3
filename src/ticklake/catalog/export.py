"""A DuckDB database file of views over a local lake, for BI tools (Superset, Metabase, Grafana).

``ticklake catalog --duckdb lake.duckdb`` writes it; a BI tool opens it read-only through the
``duckdb-engine`` SQLAlchemy dialect (docs/bi-tools.md). The file holds no data: each table is
a view over the lake's Parquet files through a glob, re-evaluated by every query, so new files
show up without re-exporting. A file that a ``compact-`` file covers is skipped by the same rule
the embedded catalog applies (docs/lake-layout.md), so a compaction in progress never shows rows
twice. The macros (candles, vwap, ...) are stored in the file too.

A table without any file yet is an empty view with the documented columns (DuckDB's Parquet
reader refuses a glob that matches nothing); export again once it has data.

The file cannot lock a connection down by itself (DuckDB keeps no such setting in the file):
``LOCKDOWN`` lists the statements a BI tool's connection should run first (an SQLAlchemy
``connect`` event), which confine it to the lake directory and freeze its configuration.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from ticklake.catalog.lake import Lake
from ticklake.catalog.macros import MACROS
from ticklake.catalog.sandbox import one_line
from ticklake.catalog.schema import HIVE_TYPES, PARTITIONS, TABLES, sql_type, view_schema
from ticklake.errors import QueryError

_FILE_NAME = r"^(part|compact)-([0-9]+)-([0-9]+)\.parquet$"


def lockdown(lake_root: str | Path) -> list[str]:
    """Statements that confine a DuckDB connection to the lake (run them right after connect)."""
    root = _literal(str(Path(lake_root).resolve()).rstrip("/") + "/")
    return [
        f"SET allowed_directories = [{root}]",
        "SET enable_external_access = false",
        "SET lock_configuration = true",
    ]


def export_duckdb(lake: Lake, path: Path) -> dict[str, int]:
    """Write (atomically replace) ``path`` with one view per table; returns files per table."""
    if not lake.local:
        msg = (f"--duckdb needs a local lake; {lake.root} is remote (DuckDB would need httpfs,"
               " which cannot be installed offline: use the embedded `ticklake sql` instead)")
        raise QueryError(msg)
    base = str(Path(lake.base).resolve())
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    counts = {table: len(lake.files(table)) for table in TABLES}
    try:
        conn = duckdb.connect(str(tmp), config={"autoinstall_known_extensions": False,
                                                "autoload_known_extensions": False})
        try:
            conn.execute("SET TimeZone = 'UTC'")
            for table in TABLES:
                for statement in _view(table, f"{base}/{table}", counts[table] > 0):
                    conn.execute(statement)
            for macro in MACROS:
                conn.execute(macro)
            conn.execute("CHECKPOINT")
        finally:
            conn.close()
        os.replace(tmp, path)
    except duckdb.Error as exc:
        tmp.unlink(missing_ok=True)
        msg = f"cannot write {path}: {one_line(exc)}"
        raise QueryError(msg) from None
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        msg = f"cannot write {path}: {exc.strerror or exc}"
        raise QueryError(msg) from None
    return counts


def _view(table: str, directory: str, has_files: bool) -> list[str]:
    schema = view_schema(table)
    columns = ", ".join(f"CAST(NULL AS {sql_type(f.type)}) AS {f.name}" for f in schema)
    empty = f"SELECT {columns} WHERE false"
    if not has_files:
        return [f"CREATE VIEW {table} AS {empty}"]
    glob = _literal(directory + "/*" * len(PARTITIONS[table]) + "/*.parquet")
    hive_types = ", ".join(f"{_literal(k)}: {_literal(HIVE_TYPES[k])}" for k in PARTITIONS[table])
    live = f"_live_files_{table}"
    return [
        # Files of the partition covered by a compact- file (other than itself, or a compact
        # file of the same range) are compaction inputs about to be deleted: skip them.
        f"""CREATE VIEW {live} AS
        WITH named AS (
            SELECT file, parse_dirpath(file) AS dir,
                   regexp_extract(parse_filename(file), '{_FILE_NAME}',
                                  ['kind', 'lo', 'hi']) AS r
            FROM glob({glob})
        ), files AS (
            SELECT file, dir, r.kind AS kind, CAST(r.lo AS HUGEINT) AS lo,
                   CAST(r.hi AS HUGEINT) AS hi
            FROM named WHERE r.kind <> ''
        )
        SELECT f.file FROM files f WHERE NOT EXISTS (
            SELECT 1 FROM files c
            WHERE c.kind = 'compact' AND c.dir = f.dir AND c.file <> f.file
              AND c.lo <= f.lo AND f.hi <= c.hi
              AND (f.kind <> 'compact' OR c.lo <> f.lo OR c.hi <> f.hi))""",
        f"""CREATE VIEW {table} AS
        SELECT {", ".join(schema.names)} FROM (
            SELECT * FROM read_parquet({glob}, hive_partitioning = true, union_by_name = true,
                                       hive_types = {{{hive_types}}}, filename = true)
            WHERE filename IN (SELECT file FROM {live})
        )""",
    ]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
