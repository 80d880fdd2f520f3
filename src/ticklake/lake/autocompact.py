"""Automatic compaction: the lake writer merges its own closed files after a publish.

A recorder of 100 symbols publishing every 5 minutes writes ~29k ``trades`` files a day; left
alone, every reader that opens the lake pays for them. After each publish the writer (the
only writer of its manifest log, so nothing races it) merges, per partition, runs of its own
committed files:

- an **hour** that has closed (its last row is before the current UTC hour): that hour's files
  become one ``compact-<first>-<end>`` file, so today holds at most 24 hourly files plus the
  current hour's;
- a **day** that has closed (a partition dated before today): its files become one file, or
  several consecutive ones of about ``target_bytes`` each, so a past partition holds
  ``ceil(bytes / target)`` files whatever its age; a file already that large is never
  rewritten.

A file belongs to the hour of its last row (files are consecutive spool ranges, in time
order, so each run is a contiguous range and the compact file's range covers exactly its
inputs: ``tables.superseded`` hides them). The merged file is published, then the manifest
commits it with its inputs removed (ticklake's readers switch at that moment), then the inputs
are deleted at once, so engines that read the Hive tree see each row once again within the
publish. A ticklake statement planned over an input just deleted is planned again from the
refreshed manifest (``errors.FilesGone``). The manifest keeps the removed files until
they are deleted, across checkpoints, so a writer killed before its deletes does them when it
runs again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ticklake.errors import StorageError
from ticklake.lake.layout import file_path
from ticklake.lake.merge import merge_files
from ticklake.lake.storage import LakeStorage
from ticklake.manifest import FileEntry, ManifestLog, entry_for, table_ranges
from ticklake.tables import parse_stream_file_name

logger = logging.getLogger(__name__)

HOUR_NS = 3_600 * 10**9
# The column whose time decides a row's date partition (and here, its hour).
_TIME_OF = {"trades": "ts_ns", "raw": "recv_ns", "gaps": "detected_ns", "rejected": "recv_ns"}


@dataclass(frozen=True)
class Run:
    """Consecutive files of one partition and stream to merge into one."""

    table: str
    partition: tuple[str, ...]
    stream: str
    files: tuple[FileEntry, ...]

    @property
    def first(self) -> int:
        return min(_range(f)[0] for f in self.files)

    @property
    def end(self) -> int:
        return max(_range(f)[1] for f in self.files)


def plan_runs(files: Iterable[FileEntry], stream: str, now_ns: int,
              target_bytes: int) -> list[Run]:
    """The runs worth merging among ``files`` (one writer's live files) at ``now_ns``."""
    today = _date(now_ns)
    hour_start = now_ns - now_ns % HOUR_NS
    partitions: dict[tuple[str, tuple[str, ...]], list[FileEntry]] = {}
    for entry in files:
        parsed = parse_stream_file_name(entry.name)
        if entry.table in _TIME_OF and parsed is not None and parsed[3] == stream:
            partitions.setdefault((entry.table, entry.partition), []).append(entry)
    runs: list[Run] = []
    for (table, partition), entries in sorted(partitions.items()):
        entries.sort(key=_range)
        if partition[-1] < today:  # the date partition (last key) is closed
            groups = _by_size(entries, target_bytes)
        else:
            groups = _by_closed_hour(entries, _TIME_OF[table], hour_start)
        runs += [Run(table, partition, stream, tuple(g)) for g in groups if len(g) >= 2]
    return runs


def _by_closed_hour(entries: Sequence[FileEntry], column: str,
                    hour_start: int) -> list[list[FileEntry]]:
    groups: list[list[FileEntry]] = []
    last_hour: int | None = None
    for entry in entries:
        found = entry.ranges.get(column)
        if found is None or found[1] >= hour_start:
            break  # the current hour (or unknown): this file and every later one stay
        hour = found[1] // HOUR_NS
        if hour != last_hour:
            groups.append([])
            last_hour = hour
        groups[-1].append(entry)
    return groups


def _by_size(entries: Sequence[FileEntry], target_bytes: int) -> list[list[FileEntry]]:
    groups: list[list[FileEntry]] = [[]]
    size = 0
    for entry in entries:
        if groups[-1] and size + entry.bytes > target_bytes:
            groups.append([])
            size = 0
        groups[-1].append(entry)
        size += entry.bytes
    return groups


def compact_runs(storage: LakeStorage, manifest: ManifestLog, runs: Sequence[Run]) -> int:
    """Merge ``runs`` and commit them to ``manifest`` in one commit, their inputs removed
    (deleted by :func:`delete_removed`); returns the number of files merged."""
    if not runs:
        return 0
    added: list[FileEntry] = []
    removed: list[str] = []
    for run in runs:
        gone = [f.path for f in run.files if not storage.exists(f.path)]
        if gone:
            # Replaced by another log's commit (``ticklake rebuild`` of a closed day) and
            # deleted: this log lets them go too, instead of failing to merge them forever.
            removed += gone
            continue
        merged = merge_files(storage, run.table, [f.path for f in run.files])
        path = file_path(run.table, run.partition, run.first, run.end, kind="compact",
                         stream=run.stream)
        size = storage.publish(path, merged)
        added.append(entry_for(path, run.table, run.partition, merged.num_rows, size,
                               table_ranges(run.table, merged)))
        removed += [f.path for f in run.files if f.path != path]
    if added or removed:
        manifest.commit(added, removed)
    return len(removed)


def delete_removed(storage: LakeStorage, manifest: ManifestLog) -> int:
    """Delete the files ``manifest`` removed that may still be stored; returns how many
    are gone."""
    gone: list[str] = []
    for path in manifest.pending_deletes():
        try:
            storage.delete(path)
        except StorageError as exc:
            if storage.exists(path):
                logger.warning("= could not delete the compacted input %s (%s)", path, exc)
                continue
        gone.append(path)
    manifest.forget_deleted(gone)
    return len(gone)


def _range(entry: FileEntry) -> tuple[int, int]:
    parsed = parse_stream_file_name(entry.name)
    return (parsed[1], parsed[2]) if parsed else (0, 0)


def _date(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns // 10**9, dt.UTC).date().isoformat()
