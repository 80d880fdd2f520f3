"""Compaction: merge the small files of closed partitions into one, while recording goes on.

A partition is closed when its ``date`` is before today (UTC) — trades can still arrive for
today. Only files the lake writer has committed (their range ends at or before its cursor) are
merged. The merged file is named ``compact-<first>-<end>.parquet`` after the union of the input
ranges and published atomically *before* the inputs are deleted; readers skip any file a
compact file covers (``ticklake.tables.superseded``), so they never see a row twice, and a
crash between the two steps leaves nothing worse than inputs the next run deletes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from ticklake.lake.layout import file_path
from ticklake.lake.storage import LakeStorage
from ticklake.lake.writer import CURSOR, Cursors
from ticklake.tables import PARTITIONS, SCHEMAS, parse_file_name, superseded


@dataclass
class CompactionStats:
    partitions: int = 0
    files_merged: int = 0
    files_deleted: int = 0
    bytes_before: int = 0
    bytes_after: int = 0


def _merge(storage: LakeStorage, table: str, paths: list[str]) -> pa.Table:
    schema = SCHEMAS[table]
    plain = pa.schema([
        pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type) else f
        for f in schema
    ])
    pieces = [storage.read(path).select(schema.names).cast(plain) for path in paths]
    merged = pa.concat_tables(pieces).sort_by([("spool_offset", "ascending")])
    columns = [
        pc.dictionary_encode(merged[f.name]).cast(f.type)
        if pa.types.is_dictionary(f.type) else merged[f.name]
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def compact(
    storage: LakeStorage, cursors: Cursors, today: dt.date | None = None, min_files: int = 2
) -> CompactionStats:
    """Compact every closed partition with at least ``min_files`` live files."""
    today = today or dt.datetime.now(dt.UTC).date()
    committed = cursors.load(CURSOR)[0]
    stats = CompactionStats()
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
            for name in hidden:  # inputs of an earlier run that stopped before deleting
                storage.delete(f"{directory}/{name}")
                stats.files_deleted += 1
            live = {}
            for name, size in files.items():
                parsed = parse_file_name(name)
                if name not in hidden and parsed is not None and parsed[2] <= committed:
                    live[name] = (parsed, size)
            if len(live) < min_files:
                continue
            first = min(parsed[1] for parsed, _ in live.values())
            end = max(parsed[2] for parsed, _ in live.values())
            inputs = sorted(live)
            merged = _merge(storage, table, [f"{directory}/{n}" for n in inputs])
            stats.bytes_after += storage.publish(
                file_path(table, values, first, end, kind="compact"), merged
            )
            for name in inputs:
                storage.delete(f"{directory}/{name}")
            stats.partitions += 1
            stats.files_merged += len(inputs)
            stats.files_deleted += len(inputs)
            stats.bytes_before += sum(size for _, size in live.values())
    return stats
