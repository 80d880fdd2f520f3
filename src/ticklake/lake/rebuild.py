"""``ticklake rebuild``: the tables derived from ``raw`` derived again, for closed days.

Schema-on-read's promise: when a parser is fixed or a table added, the past follows. For each
closed UTC day (before today) and each stream (the local spool, or a Kafka partition):

1. **Plan** from the manifest: the live files of the day's partitions of the chosen tables
   (the *old* files) and the stream's ``raw`` files of that day; the spool range to derive,
   ``[first, end)``, covers both (a late snapshot can put a day's trades in the next day's
   ``raw``).
2. **Decode** ``raw`` from the writer's last decoder checkpoint at or before ``first``
   (``lake.checkpoints``; the stream's start if none) to ``end`` with the live path's own
   decoder and batcher, keeping the rows of ``[first, end)`` in the day's partitions: on an
   unchanged parser, exactly the rows the live writer wrote.
3. **Compare** each partition with its old files: equal ones are left alone (a rebuild is
   idempotent and rewrites nothing twice); the others get one new file.
4. **Swap** atomically: the new file is written beside the old ones, named
   ``compact-<first - 1>-<end>``, a range that strictly covers every old file of the partition
   (so any reader of the Hive tree skips them: ``tables.superseded``); then one manifest commit
   (log ``rebuild``) adds the new files of the day and removes the old ones; then the old files
   are deleted. Killed at any point, a reader sees each partition either old or new, never a
   mix or a duplicate; a new file not yet committed is invisible, and rewritten by the next
   run. Before committing, the partitions' live files are read again: if something else
   (``ticklake compact``) changed them meanwhile, those partitions are left as they are and
   reported.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ticklake.errors import ManifestError, StorageError
from ticklake.feed.phemex import default_products
from ticklake.feed.phemex.trades import replay_decoder
from ticklake.lake.autocompact import delete_removed
from ticklake.lake.batch import Batch
from ticklake.lake.checkpoints import checkpoint_before
from ticklake.lake.layout import file_path
from ticklake.lake.merge import merge_files
from ticklake.lake.raw_records import file_range, raw_records
from ticklake.lake.storage import LakeStorage
from ticklake.manifest import (
    FileEntry,
    Manifest,
    ManifestLog,
    entry_for,
    log_for_stream,
    table_ranges,
)
from ticklake.schemas import SCHEMAS
from ticklake.tables import file_stream

DERIVED = ("trades", "gaps", "rejected", "book_updates", "book_snapshots", "tickers", "ticks",
           "klines")
REBUILD_LOG = "rebuild"
_CHUNK_RECORDS = 200_000

Key = tuple[str, tuple[str, ...]]  # (table, partition)


@dataclass
class TableReport:
    partitions: int = 0  # examined
    rebuilt: int = 0
    unchanged: int = 0
    rows_before: int = 0
    rows_after: int = 0
    only_before: int = 0  # rows of the old files the rebuild no longer derives
    only_after: int = 0  # rows the rebuild derives that the old files lacked
    columns_changed: set[str] = field(default_factory=set)  # where rows match one to one


@dataclass
class RebuildReport:
    days: list[str] = field(default_factory=list)
    tables: dict[str, TableReport] = field(default_factory=dict)
    records_decoded: int = 0
    changed: list[str] = field(default_factory=list)  # partitions rewritten (or to be)
    skipped: list[str] = field(default_factory=list)  # changed by another writer meanwhile
    seconds: float = 0.0


def rebuild(storage: LakeStorage, tables: Sequence[str] = DERIVED, first_day: str | None = None,
            last_day: str | None = None, *, today: dt.date | None = None,
            dry_run: bool = False) -> RebuildReport:
    """Rebuild ``tables`` for the closed days in ``[first_day, last_day]`` (all by default)."""
    started = time.perf_counter()
    unknown = [t for t in tables if t not in DERIVED]
    if unknown:
        msg = f"cannot rebuild {unknown[0]!r}: the tables derived from raw are {', '.join(DERIVED)}"
        raise ValueError(msg)
    log = storage.open_manifest_log(REBUILD_LOG)  # (builds a manifest first if none)
    delete_removed(storage, log)  # old files a killed run committed away but did not delete
    manifest = Manifest(storage.manifest_store())
    closed = (today or dt.datetime.now(dt.UTC).date()).isoformat()
    report = RebuildReport(tables={t: TableReport() for t in tables})
    days = sorted({e.partition[-1] for t in ("raw", *tables) for e in manifest.files(t)})
    report.days = [d for d in days if d < closed and (first_day is None or d >= first_day)
                   and (last_day is None or d <= last_day)]
    for day in report.days:
        streams = {file_stream(e.name) for t in ("raw", *tables) for e in manifest.files(t)
                   if e.partition[-1] == day}
        for stream in sorted(streams):
            _rebuild_day(storage, manifest, log, tables, day, stream, report, dry_run)
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _rebuild_day(storage: LakeStorage, manifest: Manifest, log: ManifestLog, tables: Sequence[str],
                 day: str, stream: str, report: RebuildReport, dry_run: bool) -> None:
    raw = [e for e in manifest.files("raw") if file_stream(e.name) == stream]
    old: dict[Key, list[FileEntry]] = defaultdict(list)
    for table in tables:
        for entry in manifest.files(table):
            if entry.partition[-1] == day and file_stream(entry.name) == stream:
                old[(table, entry.partition)].append(entry)
    spans = [file_range(e) for e in raw if e.partition[-1] == day]
    spans += [file_range(e) for entries in old.values() for e in entries]
    if not spans:
        return
    first, end = min(s[0] for s in spans), max(s[1] for s in spans)
    new = _derive(storage, raw, stream, tables, day, first, end, report)
    added: list[FileEntry] = []
    removed: list[str] = []
    swapped: list[Key] = []
    for key in sorted(set(old) | set(new)):
        table, partition = key
        before = merge_files(storage, table, [e.path for e in old.get(key, [])]) \
            if key in old else _empty(table)
        after = _conformed(table, new.get(key, []))
        stats = report.tables[table]
        stats.partitions += 1
        stats.rows_before += before.num_rows
        stats.rows_after += after.num_rows
        if _plain(before).equals(_plain(after)):
            stats.unchanged += 1
            continue
        gone, extra = _differences(before, after)
        if before.num_rows == after.num_rows:
            stats.columns_changed |= {name for name in before.column_names
                                      if not _plain(before.select([name])).equals(
                                          _plain(after.select([name])))}
        stats.rebuilt += 1
        stats.only_before += gone
        stats.only_after += extra
        name = "/".join((table, *partition))
        report.changed.append(name)
        if dry_run:
            continue
        ranges = [file_range(e) for e in old.get(key, [])]
        if after.num_rows:
            offsets = pc.min_max(after["spool_offset"]).as_py()
            ranges.append((offsets["min"], offsets["max"] + 1))
        lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
        path = file_path(table, partition, max(lo - 1, 0), hi, kind="compact", stream=stream)
        if after.num_rows:
            size = storage.publish(path, after)
            added.append(entry_for(path, table, partition, after.num_rows, size,
                                   table_ranges(table, after)))
        removed += [e.path for e in old.get(key, []) if e.path != path]
        swapped.append(key)
    if dry_run or not swapped:
        return
    _commit(storage, manifest, log, old, swapped, added, removed, stream, report)


def _derive(storage: LakeStorage, raw: list[FileEntry], stream: str, tables: Sequence[str],
            day: str, first: int, end: int, report: RebuildReport) -> dict[Key, list[pa.Table]]:
    """The rows of ``[first, end)`` in ``day``'s partitions of ``tables``, decoded from the
    last checkpoint before ``first``."""
    start, state = checkpoint_before(storage.manifest_store(), log_for_stream(stream), first)
    decoder = replay_decoder(state, default_products(), None)
    out: dict[Key, list[pa.Table]] = defaultdict(list)
    batch = Batch(start, start)

    def collect(batch: Batch) -> None:
        for table, partitions in batch.tables().items():
            if table not in tables:
                continue
            for partition, rows in partitions.items():
                if partition[-1] != day:
                    continue
                offsets = rows["spool_offset"]
                kept = rows.filter(pc.and_(pc.greater_equal(offsets, first),
                                           pc.less(offsets, end)))
                if kept.num_rows:
                    out[(table, partition)].append(kept)

    for record in raw_records(storage, raw, start, end):
        batch.add_record(decoder, record.offset, record.conn_id, record.recv_ns,
                         record.payload)
        if batch.records >= _CHUNK_RECORDS:
            collect(batch)
            batch = Batch(batch.end, batch.end)
    collect(batch)
    report.records_decoded += end - start
    return out


def _commit(storage: LakeStorage, manifest: Manifest, log: ManifestLog,
            old: dict[Key, list[FileEntry]], swapped: list[Key], added: list[FileEntry],
            removed: list[str], stream: str, report: RebuildReport) -> None:
    manifest.refresh()
    moved = []
    for key in swapped:
        table, partition = key
        now = {e.path for e in manifest.files(table)
               if e.partition == partition and file_stream(e.name) == stream}
        if now != {e.path for e in old.get(key, [])}:
            moved.append(key)
    if moved:  # another writer changed them: leave every partition of the day as it is
        for entry in added:
            storage.delete(entry.path)
        report.skipped += ["/".join((t, *p)) for t, p in moved]
        return
    try:
        log.commit(added, removed)
    except ManifestError as exc:
        raise StorageError(str(exc)) from None
    delete_removed(storage, log)


def _conformed(table: str, pieces: list[pa.Table]) -> pa.Table:
    if not pieces:
        return _empty(table)
    merged = pa.concat_tables(pieces).sort_by([("spool_offset", "ascending")])
    schema = SCHEMAS[table]
    columns = [pc.dictionary_encode(pc.cast(merged[f.name], f.type.value_type)).cast(f.type)
               if pa.types.is_dictionary(f.type) else merged[f.name] for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def _empty(table: str) -> pa.Table:
    return SCHEMAS[table].empty_table()


def _plain(table: pa.Table) -> pa.Table:
    """``table`` with its dictionaries decoded: equal rows compare equal however encoded."""
    return pa.Table.from_arrays(
        [pc.cast(c, c.type.value_type) if pa.types.is_dictionary(c.type) else c
         for c in table.columns], names=table.column_names)


def _differences(before: pa.Table, after: pa.Table) -> tuple[int, int]:
    """Rows only in ``before`` and rows only in ``after`` (as multisets)."""
    conn = duckdb.connect()
    try:
        conn.register("before_rows", _plain(before))
        conn.register("after_rows", _plain(after))
        gone = conn.execute("SELECT count(*) FROM (SELECT * FROM before_rows "
                            "EXCEPT ALL SELECT * FROM after_rows)").fetchone()
        extra = conn.execute("SELECT count(*) FROM (SELECT * FROM after_rows "
                             "EXCEPT ALL SELECT * FROM before_rows)").fetchone()
        return int(gone[0]) if gone else 0, int(extra[0]) if extra else 0
    finally:
        conn.close()
