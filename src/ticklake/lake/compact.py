"""Compaction: merge the small files of closed partitions into one, while recording goes on.

A partition is closed when its ``date`` is before today (UTC) — trades can still arrive for
today. Only files the lake writer has committed (their range ends at or before its cursor) are
merged, and only files of one stream together (the local spool, or one Kafka partition: their
offsets are unrelated numbers); a Kafka stream's cursor is the one ``ticklake deliver`` keeps in
the lake (``lake/cursors.py``). The merged file is named ``compact-<first>-<end>.parquet``
(plus the stream's suffix) after the union of the input ranges and published atomically
*before* the inputs are deleted; readers skip any file a compact file covers
(``ticklake.tables.superseded``), so they never see a row twice, and a crash between the
two steps leaves nothing worse than inputs the next run deletes.

Deletes come last, after every merge of the run, and after ``before_delete`` (``ticklake
compact --iceberg`` commits the Iceberg tables there): a table catalog that lists the inputs
is swapped to the compact files before any input disappears, so its readers never meet a
missing file. If that hook fails, nothing is deleted (the next run deletes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from ticklake.errors import ManifestError, StorageError
from ticklake.lake.cursors import LakeCursorStore
from ticklake.lake.layout import file_path
from ticklake.lake.merge import merge_files
from ticklake.lake.storage import LakeStorage
from ticklake.lake.writer import CURSOR, Cursors
from ticklake.manifest import COMPACT_LOG, FileEntry, entry_for, table_ranges
from ticklake.schemas import SCHEMAS
from ticklake.tables import PARTITIONS, parse_stream_file_name, superseded


@dataclass
class CompactionStats:
    partitions: int = 0
    files_merged: int = 0
    files_deleted: int = 0
    bytes_before: int = 0
    bytes_after: int = 0


def compact(
    storage: LakeStorage, cursors: Cursors, today: dt.date | None = None, min_files: int = 2,
    before_delete: Callable[[], None] | None = None, log: str = COMPACT_LOG,
) -> CompactionStats:
    """Compact every closed partition with at least ``min_files`` live files per stream.

    The merged files and the inputs they replace are committed to the manifest's ``log`` in
    one commit, before any input is deleted: readers of the manifest switch at that moment.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    manifest = storage.open_manifest_log(log)
    committed = {"": cursors.load(CURSOR)[0]}
    stats = CompactionStats()
    doomed: list[str] = []  # superseded files: deleted once every merge is published
    added: list[FileEntry] = []
    for table in SCHEMAS:
        keys = PARTITIONS[table]
        partitions: dict[tuple[str, ...], dict[str, int]] = {}
        for stored in storage.list_files(table):
            *dirs, name = stored.path.split("/")[1:]
            values = tuple(d.split("=", 1)[1] for d in dirs)
            if len(values) == len(keys):
                partitions.setdefault(values, {})[name] = stored.size
        for values, files in sorted(partitions.items()):
            if dt.date.fromisoformat(values[keys.index("date")]) >= today:
                continue
            directory = file_path(table, values, 0, 0).rsplit("/", 1)[0]
            hidden = superseded(files)
            # inputs of an earlier run that stopped before deleting
            doomed.extend(f"{directory}/{name}" for name in sorted(hidden))
            streams: dict[str, dict[str, tuple[tuple[int, int], int]]] = {}
            for name, size in files.items():
                parsed = parse_stream_file_name(name)
                if name in hidden or parsed is None:
                    continue
                stream = parsed[3]
                if stream not in committed:
                    committed[stream] = LakeCursorStore(storage, stream).load(CURSOR)[0]
                if parsed[2] <= committed[stream]:
                    streams.setdefault(stream, {})[name] = ((parsed[1], parsed[2]), size)
            for stream, live in sorted(streams.items()):
                if len(live) >= min_files:
                    doomed += _merge_stream(storage, table, values, directory, stream, live,
                                            stats, added)
    if added:
        try:
            manifest.commit(added, [path for path in doomed if path not in
                                    {entry.path for entry in added}])
        except ManifestError as exc:
            raise StorageError(str(exc)) from None
    if before_delete is not None:
        before_delete()
    for path in doomed:
        storage.delete(path)
    stats.files_deleted = len(doomed)
    return stats


def _merge_stream(storage: LakeStorage, table: str, values: tuple[str, ...], directory: str,
                  stream: str, live: dict[str, tuple[tuple[int, int], int]],
                  stats: CompactionStats, added: list[FileEntry]) -> list[str]:
    first = min(rng[0] for rng, _ in live.values())
    end = max(rng[1] for rng, _ in live.values())
    inputs = sorted(live)
    merged = merge_files(storage, table, [f"{directory}/{n}" for n in inputs])
    path = file_path(table, values, first, end, kind="compact", stream=stream)
    size = storage.publish(path, merged)
    added.append(entry_for(path, table, values, merged.num_rows, size,
                           table_ranges(table, merged)))
    stats.bytes_after += size
    stats.partitions += 1
    stats.files_merged += len(inputs)
    stats.bytes_before += sum(size for _, size in live.values())
    return [f"{directory}/{name}" for name in inputs]
