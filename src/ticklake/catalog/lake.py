"""The lake as a catalog (the Glue crawler's job) and the entry point for SQL over it.

A :class:`Lake` is a root, local or ``s3://bucket/prefix``, holding ``_ticklake/lake.json``
(docs/lake-layout.md). It lists tables and partitions with file counts, bytes, and row counts
read from Parquet footers (no data is scanned), plus freshness: the largest value of each
table's nanosecond time column, from the footers' column statistics. :meth:`Lake.connect` and
:meth:`Lake.query` give SQL over it (``connection.py``, ``query.py``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs

from ticklake.catalog.connection import DatasetFiles, LakeDatabase, LocalFiles, TableFiles
from ticklake.catalog.query import Params, QueryResult
from ticklake.catalog.schema import FORMAT_VERSION, MARKER, PARTITIONS, TABLES, TIME_COLUMNS
from ticklake.errors import FilesGone, LakeNotFound, ManifestError, QueryError
from ticklake.manifest import (
    UNKNOWN_SCHEMA,
    FileEntry,
    Manifest,
    ManifestStore,
    entry_from_footer,
    iter_data_files,
)
from ticklake.objectstore import s3_from_environment as _s3_from_environment
from ticklake.tables import parse_stream_file_name, superseded

_GLOB_CHARS = frozenset("*?[]{}")
_FOOTER_THREADS = 8
_PLAN_ATTEMPTS = 3  # a statement planned over files a compaction deleted is planned again
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PartitionInfo:
    """One Hive partition of a table: ``values`` such as {"exchange": "phemex", "date": ...}."""

    table: str
    values: dict[str, str]
    files: int
    rows: int
    bytes: int
    max_time_ns: int | None  # largest value of the table's time column (footer statistics)
    last_modified: datetime | None  # newest file's modification time
    unreadable_files: int = 0

    @property
    def max_time(self) -> datetime | None:
        return _from_ns(self.max_time_ns)


@dataclass(frozen=True)
class TableInfo:
    """A table: its SQL columns, partitions, files, rows, bytes and freshness."""

    name: str
    columns: list[tuple[str, str]]  # (name, DuckDB type) as SQL sees them
    partitions: int
    files: int
    rows: int
    bytes: int
    max_time_ns: int | None  # trades: newest ts_ns; raw/rejected: recv_ns; gaps: detected_ns
    last_modified: datetime | None
    unreadable_files: int = 0
    partition_keys: tuple[str, ...] = field(default=())

    @property
    def max_time(self) -> datetime | None:
        """Freshness: the newest event time in the table (UTC, microsecond precision)."""
        return _from_ns(self.max_time_ns)


class Lake:
    """A ticklake lake at ``root``: a local directory or ``s3://bucket/prefix``.

    ``filesystem`` is any ``pyarrow.fs.FileSystem``; ``root`` is then a path on it (an
    ``s3://`` root drops the scheme). Without one, a local root uses the local disk and an
    ``s3://`` root an ``S3FileSystem`` built from the usual AWS environment variables,
    ``AWS_ENDPOINT_URL`` included (any S3-compatible store).
    """

    def __init__(self, root: str | Path, filesystem: pafs.FileSystem | None = None) -> None:
        self.root = str(root)
        self.filesystem, self.base, self.local = _resolve(self.root, filesystem)
        marker = f"{self.base}/{MARKER}"
        try:
            info = self.filesystem.get_file_info(marker)
            if info.type != pafs.FileType.File:
                msg = f"no ticklake lake at {self.root} (missing {MARKER})"
                raise LakeNotFound(msg)
            with self.filesystem.open_input_stream(marker) as stream:
                body = json.loads(stream.read().decode())
        except (OSError, pa.ArrowException, ValueError) as exc:
            msg = f"cannot read the lake at {self.root}: {_first_line(exc)}"
            raise LakeNotFound(msg) from None
        version = body.get("format") if isinstance(body, dict) else None
        if version != FORMAT_VERSION:
            msg = f"unsupported lake format {version!r} at {self.root} (this ticklake reads 1)"
            raise LakeNotFound(msg)
        self._store = ManifestStore(self.base, None if self.local else self.filesystem)
        self._manifest: Manifest | None = None
        self._manifest_checked = False

    @classmethod
    def create(cls, root: str | Path, filesystem: pafs.FileSystem | None = None) -> Lake:
        """Mark ``root`` as a lake (idempotent) and open it."""
        fs, base, _ = _resolve(str(root), filesystem)
        marker = f"{base}/{MARKER}"
        try:
            if fs.get_file_info(marker).type != pafs.FileType.File:
                fs.create_dir(marker.rsplit("/", 1)[0], recursive=True)
                with fs.open_output_stream(marker) as out:
                    out.write(json.dumps({"format": FORMAT_VERSION}).encode())
        except (OSError, pa.ArrowException) as exc:
            msg = f"cannot create a lake at {root}: {_first_line(exc)}"
            raise LakeNotFound(msg) from None
        return cls(root, filesystem)

    def __repr__(self) -> str:
        return f"Lake({self.root!r})"

    # -- files ---------------------------------------------------------------------------

    @property
    def manifest(self) -> Manifest | None:
        """The lake's manifest, current as of the last :meth:`refresh` (None: the lake has
        none yet, and its files are listed; ``ticklake manifest`` builds it)."""
        if not self._manifest_checked:
            self._manifest_checked = True
            try:
                self._manifest = Manifest.open(self._store)
            except ManifestError as exc:
                raise QueryError(str(exc)) from None
        return self._manifest

    def refresh(self) -> bool:
        """Read what the writers committed since the last call; whether files changed."""
        manifest = self.manifest
        if manifest is None:
            return True  # no manifest: every listing may differ
        try:
            return manifest.refresh()
        except ManifestError as exc:
            raise QueryError(str(exc)) from None

    def entries(self, table: str) -> list[FileEntry]:
        """The live files of ``table`` (superseded ones left out), sorted by path, as of the
        last :meth:`refresh`."""
        manifest = self.manifest
        if manifest is not None:
            return manifest.files(table)
        prefix = len(self.base) + 1
        # A listing does not say which schema version a file has: read such files by name.
        return [FileEntry(info.path[prefix:], table, values, -1, int(info.size or 0),
                          schema=UNKNOWN_SCHEMA, published_ns=int(info.mtime_ns or 0))
                for info in self._list(table)
                for _, _, values, _ in iter_data_files([(info.path[prefix:], 0)])]

    def files(self, table: str) -> list[str]:
        """Paths (on ``self.filesystem``) of the published Parquet files of ``table``."""
        self.refresh()
        return [f"{self.base}/{entry.path}" for entry in self.entries(table)]

    # -- catalog ---------------------------------------------------------------------------

    def tables(self) -> list[TableInfo]:
        """Every table, files or not, with its SQL columns and totals."""
        self.refresh()
        columns = self._columns()
        out = []
        for table in TABLES:
            stats = self._stats(table)
            parts = {s.partition for s in stats}
            out.append(
                TableInfo(
                    name=table,
                    columns=columns[table],
                    partitions=len(parts),
                    files=len(stats),
                    rows=sum(max(s.rows, 0) for s in stats),
                    bytes=sum(s.bytes for s in stats),
                    max_time_ns=_max(_time_max(table, s) for s in stats),
                    last_modified=_from_ns(_max(s.published_ns or None for s in stats)),
                    unreadable_files=sum(s.rows < 0 for s in stats),
                    partition_keys=PARTITIONS[table],
                )
            )
        return out

    def partitions(self, table: str) -> list[PartitionInfo]:
        """The partitions of ``table`` that hold files, sorted by their values."""
        if table not in TABLES:
            msg = f"no table {table!r} in the lake (tables: {', '.join(TABLES)})"
            raise QueryError(msg)
        self.refresh()
        groups: dict[tuple[str, ...], list[FileEntry]] = {}
        for stat in self._stats(table):
            groups.setdefault(stat.partition, []).append(stat)
        keys = PARTITIONS[table]
        return [
            PartitionInfo(
                table=table,
                values=dict(zip(keys, values, strict=True)),
                files=len(stats),
                rows=sum(max(s.rows, 0) for s in stats),
                bytes=sum(s.bytes for s in stats),
                max_time_ns=_max(_time_max(table, s) for s in stats),
                last_modified=_from_ns(_max(s.published_ns or None for s in stats)),
                unreadable_files=sum(s.rows < 0 for s in stats),
            )
            for values, stats in sorted(groups.items())
        ]

    # -- SQL -------------------------------------------------------------------------------

    def database(self, in_progress: tuple[int, int] | None = None) -> LakeDatabase:
        """A sandboxed DuckDB over the lake's current files (see ``connection.py``); keep it
        while :meth:`refresh` says nothing changed. ``in_progress``: the local spool range
        ``[first, end)`` of a publish in progress whose rows the caller's tails hold; its
        files are left out, so no row is seen twice."""
        return LakeDatabase(self.table_files(in_progress))

    def connect(self, tails: Mapping[str, pa.Table] | None = None,
                in_progress: tuple[int, int] | None = None) -> duckdb.DuckDBPyConnection:
        """A sandboxed DuckDB connection whose views read every file (see ``connection.py``)
        — for running SQL of one's own on it. :meth:`query` reads only the files a statement
        needs.

        DuckDB's settings keep it from reading anything outside the lake or changing its
        configuration; run untrusted SQL through :meth:`query` or ``run_query``, which also
        refuse non-read-only statements and bound the time and rows.
        """
        return self.database(in_progress).cursor(tails)

    def table_files(self, in_progress: tuple[int, int] | None = None) -> dict[str, TableFiles]:
        """The files each table's views read (as of now: the manifest is refreshed)."""
        self.refresh()
        files: dict[str, TableFiles] = {}
        for table in TABLES:
            directory = f"{self.base}/{table}"
            hidden = None if table == "anomalies" else in_progress  # not spool ranges
            entries = tuple(entry for entry in self.entries(table)
                            if hidden is None or not _in_range(entry.name, hidden))
            if self.local:
                files[table] = LocalFiles(directory, entries, self.base)
            else:
                files[table] = DatasetFiles(self.filesystem, directory, entries, self.base)
        return files

    def query(
        self,
        sql: str,
        *,
        tails: Mapping[str, pa.Table] | None = None,
        max_rows: int | None = 1_000_000,
        timeout: float | None = 30.0,
        params: Params = None,
    ) -> QueryResult:
        """Run one read-only statement, reading only the files it needs (``params``: the
        values of its ``$1``... or ``$name`` placeholders)."""
        for attempt in range(_PLAN_ATTEMPTS):
            database = self.database()
            try:
                return database.query(sql, tails, max_rows=max_rows, timeout=timeout,
                                      params=params)
            except FilesGone:
                if attempt == _PLAN_ATTEMPTS - 1:
                    raise
                self.refresh()  # a compaction replaced files: plan from the new ones
            finally:
                database.close()
        raise AssertionError  # pragma: no cover - the loop returns or raises

    # -- internals -------------------------------------------------------------------------

    def _columns(self) -> dict[str, list[tuple[str, str]]]:
        """Columns as SQL sees them (the documented ones)."""
        nothing = {t: DatasetFiles(self.filesystem, f"{self.base}/{t}", ()) for t in TABLES}
        database = LakeDatabase(nothing)
        try:
            return {
                table: [(str(r[0]), str(r[1]))
                        for r in database.conn.sql(f"DESCRIBE {table}").fetchall()]
                for table in TABLES
            }
        finally:
            database.close()

    def _list(self, table: str) -> list[pafs.FileInfo]:
        directory = f"{self.base}/{table}"
        selector = pafs.FileSelector(directory, recursive=True, allow_not_found=True)
        try:
            infos = self.filesystem.get_file_info(selector)
        except (OSError, pa.ArrowException) as exc:
            msg = f"cannot list {table} in {self.root}: {_first_line(exc)}"
            raise QueryError(msg) from None
        keys = PARTITIONS[table]
        by_partition: dict[str, list[pafs.FileInfo]] = {}
        for info in infos:
            if info.type != pafs.FileType.File:
                continue
            parts = info.path[len(directory) + 1 :].split("/")
            if _is_data_file(parts, keys):
                by_partition.setdefault(info.path.rsplit("/", 1)[0], []).append(info)
        out: list[pafs.FileInfo] = []
        for files in by_partition.values():  # skip inputs a compacted file already holds
            hidden = superseded(info.base_name for info in files)
            out.extend(info for info in files if info.base_name not in hidden)
        return sorted(out, key=lambda info: str(info.path))

    def _stats(self, table: str) -> list[FileEntry]:
        """Entries with rows and time ranges: the manifest's, or read from the footers of a
        lake without one (rows -1: unreadable)."""
        entries = self.entries(table)
        if self.manifest is not None:
            return entries

        def footer(entry: FileEntry) -> FileEntry:
            found = entry_from_footer(self._store, entry.path, table, entry.partition,
                                      entry.bytes, entry.published_ns)
            return found if found is not None else entry

        if len(entries) <= 1:
            return [footer(entry) for entry in entries]
        with ThreadPoolExecutor(min(_FOOTER_THREADS, len(entries))) as pool:
            return list(pool.map(footer, entries))


def _time_max(table: str, entry: FileEntry) -> int | None:
    found = entry.ranges.get(TIME_COLUMNS[table])
    return None if found is None else found[1]


def _in_range(name: str, span: tuple[int, int]) -> bool:
    """Whether a file holds exactly the local spool's records ``span`` (a batch's files)."""
    parsed = parse_stream_file_name(name)
    return parsed is not None and parsed[3] == "" and (parsed[1], parsed[2]) == span


def _resolve(root: str, filesystem: pafs.FileSystem | None) -> tuple[pafs.FileSystem, str, bool]:
    """(filesystem, base path on it, whether DuckDB can glob it on the local disk)."""
    if root.startswith("s3://"):
        return filesystem or _s3_from_environment(), root.removeprefix("s3://").strip("/"), False
    if filesystem is None or isinstance(filesystem, pafs.LocalFileSystem):
        base = os.path.realpath(root)
        return filesystem or pafs.LocalFileSystem(), base, not (_GLOB_CHARS & set(base))
    return filesystem, root.rstrip("/"), False


def _is_data_file(parts: list[str], keys: tuple[str, ...]) -> bool:
    """``k1=v1/.../kn=vn/name.parquet``, no temporary (``.``/``_``) file: what the glob reads."""
    if len(parts) != len(keys) + 1:
        return False
    *dirs, name = parts
    if not name.endswith(".parquet") or name.startswith((".", "_")):
        return False
    return all(d.startswith(f"{k}=") for d, k in zip(dirs, keys, strict=True))


def _max(values: Iterable[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _from_ns(ns: int | None) -> datetime | None:
    if ns is None:
        return None
    return _EPOCH + timedelta(microseconds=ns // 1_000)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
