"""Building the manifest from the files of a lake written before manifests (``build``)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ticklake.errors import ManifestError
from ticklake.manifest.entries import IMPORT_LOG, FileEntry
from ticklake.manifest.log import ManifestLog
from ticklake.manifest.ranges import RANGE_COLUMNS, footer_range
from ticklake.manifest.reader import Manifest
from ticklake.manifest.store import ManifestStore, _first_line, is_complete, mark_complete
from ticklake.tables import PARTITIONS, schema_version


def iter_data_files(paths: Iterable[tuple[str, int]]) -> Iterator[tuple[str, str, tuple[str, ...],
                                                                        int]]:
    """(path, table, partition values, size) of the Hive data files among ``paths``
    (relative to the root): what the lake's readers and other engines read."""
    for path, size in paths:
        table, *dirs, name = path.split("/")
        keys = PARTITIONS.get(table)
        if keys is None or len(dirs) != len(keys):
            continue
        if not name.endswith(".parquet") or name.startswith((".", "_")):
            continue
        if not all(d.startswith(f"{k}=") for d, k in zip(dirs, keys, strict=True)):
            continue
        yield path, table, tuple(d.split("=", 1)[1] for d in dirs), size


@dataclass
class BuildStats:
    """What :func:`build` changed: files it added, removed, and found unreadable."""

    added: int = 0
    removed: int = 0
    unreadable: list[str] = field(default_factory=list)
    files: int = 0  # data files in the lake


def build(store: ManifestStore, *, threads: int = 8) -> BuildStats:
    """Make the manifest describe the data files the lake holds, from one listing.

    For a lake written before manifests (or files another tool wrote in the layout): files
    the manifest does not know are added with their footer's rows and time ranges, files it
    lists that are gone are removed, both in the ``import`` log; then the manifest is marked
    complete. Idempotent; safe beside writers (theirs are other logs).
    """
    from concurrent.futures import ThreadPoolExecutor

    stats = BuildStats()
    listing = _list_data(store)
    mtimes = {path: mtime for path, _, mtime in listing}
    on_disk = {path: (table, values, size) for path, table, values, size
               in iter_data_files((path, size) for path, size, _ in listing)}
    stats.files = len(on_disk)
    known: dict[str, FileEntry] = {}
    if is_complete(store):
        reader = Manifest(store)
        for table in PARTITIONS:
            known.update((entry.path, entry) for entry in reader.files(table, hidden=True))
    missing = sorted(set(on_disk) - set(known))

    def footer(path: str) -> FileEntry | None:
        table, values, size = on_disk[path]
        return entry_from_footer(store, path, table, values, size, mtimes[path])

    with ThreadPoolExecutor(max(1, min(threads, len(missing) or 1))) as pool:
        entries = list(pool.map(footer, missing))
    add = []
    for path, entry in zip(missing, entries, strict=True):
        if entry is None:
            stats.unreadable.append(path)
        else:
            add.append(entry)
    gone = sorted(set(known) - set(on_disk))
    if add or gone:
        log = ManifestLog(store, IMPORT_LOG)
        log.commit(add, gone)
        log.checkpoint()
    stats.added, stats.removed = len(add), len(gone)
    mark_complete(store)
    return stats


def _list_data(store: ManifestStore) -> list[tuple[str, int, int]]:
    """(path relative to the root, size, mtime ns) of every file under the tables'
    directories."""
    out: list[tuple[str, int, int]] = []
    prefix = len(store.base) + 1
    for table in PARTITIONS:
        root = store.path(table)
        store.lists += 1
        if store.filesystem is None:
            for directory, _, names in os.walk(root):
                for name in names:
                    full = f"{directory}/{name}"
                    info = os.stat(full)
                    out.append((full[prefix:], info.st_size, info.st_mtime_ns))
            continue
        import pyarrow as pa
        import pyarrow.fs as pafs

        try:
            infos = store.filesystem.get_file_info(
                pafs.FileSelector(root, recursive=True, allow_not_found=True))
        except (OSError, pa.ArrowException) as exc:
            msg = f"cannot list {root}: {_first_line(exc)}"
            raise ManifestError(msg) from None
        out.extend((i.path[prefix:], int(i.size or 0), int(i.mtime_ns or 0)) for i in infos
                   if i.type == pafs.FileType.File)
    return out


def entry_from_footer(store: ManifestStore, path: str, table: str, values: tuple[str, ...],
                      size: int, mtime_ns: int = 0) -> FileEntry | None:
    """A file's entry from its Parquet footer (rows, time ranges); None if unreadable."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(store.path(path), filesystem=store.filesystem)
    except (OSError, pa.ArrowException):
        return None
    ranges = {}
    for column in RANGE_COLUMNS[table]:
        found = footer_range(meta, column)
        if found is not None:
            ranges[column] = found
    return FileEntry(path, table, values, int(meta.num_rows), size, ranges,
                     _schema_of(table, meta), mtime_ns)


def _schema_of(table: str, meta: Any) -> int:
    """The current version if the file has every column of it, else version 1 (an older
    file: read with union by name, its missing columns null)."""
    from ticklake.schemas import SCHEMAS

    names = set(meta.schema.names)
    return schema_version(table) if names >= set(SCHEMAS[table].names) else 1
