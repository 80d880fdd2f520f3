"""Where lake files go: a local directory or an S3-compatible store, through ``pyarrow.fs``.

Publishing is atomic: locally a file is written in ``_ticklake/tmp/`` (which engines skip),
fsynced, then renamed into place; on S3 an object becomes visible only once its single upload
completes. A reader never sees half a file, and temporary files a killed writer left behind
are swept when the next writer starts.
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ticklake.errors import ManifestError, StorageError
from ticklake.lake.marker import (
    MARKER_BODY,
    cannot_write,
    ensure_local_marker,
    foreign_entries,
    not_a_directory,
    not_a_lake,
)
from ticklake.manifest import ManifestLog, ManifestStore, build, is_complete
from ticklake.tables import MARKER

# pyarrow is imported where it is used: the recorder's process opens a LakeStorage only to
# check the marker of a local lake, and importing pyarrow would cost it ~40 MB of RSS.
if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs

logger = logging.getLogger(__name__)
TEMP_DIR = "_ticklake/tmp"
PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 3, "write_statistics": True}
# decimal128(18, 8) as INT64 (the Parquet spec's choice up to 18 digits, Iceberg's too) rather
# than a 9-byte FIXED_LEN_BYTE_ARRAY: DuckDB decodes it without a byte swap per value, which
# halves the scan of price/qty (a day of 1-minute candles: 0.64 -> 0.42 CPU s, bench/candles.py).
_DECIMALS_AS_INTEGERS = {"store_decimal_as_integer": True}
# Free-text columns: nearly every value differs, so a dictionary only adds a lookup layer.
_NO_DICTIONARY = frozenset({"payload"})


def parquet_options(schema: pa.Schema) -> dict[str, object]:
    """Per-column encodings for ``schema``: the write options of every lake file.

    Timestamps, ns times, sequences and offsets rise steadily, so DELTA_BINARY_PACKED stores
    a few bits per row where a dictionary (which fails over to plain once it overflows) kept
    8 bytes before zstd: ``trades`` 17.6 -> 9.6 bytes/trade, ``raw`` 17.3 -> 12.7
    (bench/storage.py). Prices, quantities, sides and flags repeat, so they keep dictionaries.
    Every engine the lake is read with (DuckDB, pyarrow, polars, Spark, Trino) decodes these
    encodings and INT64 decimals; the logical types do not change, so files written before
    (FIXED_LEN_BYTE_ARRAY decimals, dictionaries everywhere) read alongside these.
    """
    import pyarrow as pa

    delta: dict[str, str] = {}
    dictionary: list[str] = []
    for field in schema:
        if pa.types.is_int64(field.type) or pa.types.is_timestamp(field.type):
            delta[field.name] = "DELTA_BINARY_PACKED"
        elif field.name not in _NO_DICTIONARY:
            dictionary.append(field.name)
    return {**PARQUET_OPTIONS, **_DECIMALS_AS_INTEGERS, "use_dictionary": dictionary,
            "column_encoding": delta}


@dataclass(frozen=True, order=True)
class StoredFile:
    path: str  # relative to the lake root
    size: int


class LakeStorage:
    """The lake root on some filesystem; paths given to it are relative to the root."""

    def __init__(self, root: str, filesystem: pafs.FileSystem | None = None) -> None:
        self.root = root
        self._filesystem = filesystem
        if root.startswith("s3://"):
            self.base = root.removeprefix("s3://").rstrip("/")
            self.local = False
        else:
            self.base = os.path.abspath(root)
            self.local = filesystem is None or _is_local(filesystem)

    @property
    def filesystem(self) -> pafs.FileSystem:
        if self._filesystem is None:
            if self.root.startswith("s3://"):
                from ticklake.objectstore import s3_from_environment

                self._filesystem = s3_from_environment()
            else:
                import pyarrow.fs as pafs

                self._filesystem = pafs.LocalFileSystem()
        return self._filesystem

    def manifest_store(self) -> ManifestStore:
        """The lake's manifest (``ticklake.manifest``) on the same store."""
        return ManifestStore(self.base, None if self.local else self.filesystem)

    def open_manifest_log(self, log: str) -> ManifestLog:
        """The writing end of one manifest log; builds the lake's manifest from its files
        first if it has none (a lake written before manifests: once, by its first writer)."""
        store = self.manifest_store()
        try:
            if not is_complete(store):
                stats = build(store)
                if stats.files:
                    logger.info("= manifest built from the lake's %d files", stats.files)
            return ManifestLog(store, log)
        except ManifestError as exc:
            raise StorageError(str(exc)) from None

    def _full(self, relpath: str) -> str:
        return f"{self.base}/{relpath}"

    def ensure_marker(self) -> None:
        """Mark the root as a ticklake lake (idempotent); a root that holds something else is
        refused rather than turned into a lake (a mistyped ``--lake`` must not litter it)."""
        if self.local:
            ensure_local_marker(self.base)
            return
        import pyarrow as pa
        import pyarrow.fs as pafs

        try:
            info = self.filesystem.get_file_info(self._full(MARKER))
            if info.type == pafs.FileType.File:
                return
            root = self.filesystem.get_file_info(self.base)
            if root.type == pafs.FileType.File:
                raise StorageError(not_a_directory(self.root))
            if root.type == pafs.FileType.Directory and foreign_entries(
                    info.base_name for info in self.filesystem.get_file_info(
                        pafs.FileSelector(self.base, recursive=False))):
                raise StorageError(not_a_lake(self.root))
            self.filesystem.create_dir(self._full("_ticklake"), recursive=True)
            with self.filesystem.open_output_stream(self._full(MARKER)) as out:
                out.write(MARKER_BODY)
        except (OSError, pa.ArrowException) as exc:
            raise StorageError(cannot_write(self.root, exc)) from exc

    def sweep_temporary(self) -> int:
        """Delete temporary files left by a writer that died mid-publish (local lakes)."""
        if not self.local:
            return 0  # an unfinished S3 upload never becomes an object
        temp_dir = self._full(TEMP_DIR)
        os.makedirs(temp_dir, exist_ok=True)
        names = os.listdir(temp_dir)
        for name in names:
            os.unlink(os.path.join(temp_dir, name))
        return len(names)

    def publish(self, relpath: str, table: pa.Table) -> int:
        """Write ``table`` as Parquet at ``relpath``, atomically; returns the bytes written."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        full = self._full(relpath)
        directory = full.rsplit("/", 1)[0]
        try:
            self.filesystem.create_dir(directory, recursive=True)
            if not self.local:
                pq.write_table(table, full, filesystem=self.filesystem,
                               **parquet_options(table.schema))
                return int(self.filesystem.get_file_info(full).size or 0)
            os.makedirs(self._full(TEMP_DIR), exist_ok=True)
            temp = self._full(f"{TEMP_DIR}/{uuid.uuid4().hex}.parquet")
            try:
                pq.write_table(table, temp, **parquet_options(table.schema))
                _fsync_path(temp)
                os.replace(temp, full)
            finally:
                if os.path.exists(temp):
                    os.unlink(temp)
            _fsync_path(directory)
            return os.path.getsize(full)
        except (OSError, pa.ArrowException) as exc:
            msg = f"cannot publish {relpath} to {self.root}: {exc}"
            raise StorageError(msg) from exc

    def list_files(self, table: str) -> list[StoredFile]:
        """Published Parquet files of a table (temporary files excluded)."""
        import pyarrow as pa
        import pyarrow.fs as pafs

        selector = pafs.FileSelector(self._full(table), recursive=True, allow_not_found=True)
        try:
            infos = self.filesystem.get_file_info(selector)
        except (OSError, pa.ArrowException) as exc:
            msg = f"cannot list {table} in {self.root}: {exc}"
            raise StorageError(msg) from exc
        prefix = len(self.base) + 1
        return sorted(
            StoredFile(info.path[prefix:], int(info.size or 0))
            for info in infos
            if info.type == pafs.FileType.File and info.path.endswith(".parquet")
            and not info.base_name.startswith((".", "_"))
        )

    def delete(self, relpath: str) -> None:
        import pyarrow as pa

        try:
            self.filesystem.delete_file(self._full(relpath))
        except (OSError, pa.ArrowException) as exc:
            msg = f"cannot delete {relpath} from {self.root}: {exc}"
            raise StorageError(msg) from exc

    def exists(self, relpath: str) -> bool:
        import pyarrow as pa
        import pyarrow.fs as pafs

        try:
            info = self.filesystem.get_file_info(self._full(relpath))
        except (OSError, pa.ArrowException):
            return True  # cannot tell: report it as there
        return bool(info.type != pafs.FileType.NotFound)

    def read(self, relpath: str) -> pa.Table:
        import pyarrow.parquet as pq

        return pq.read_table(self._full(relpath), filesystem=self.filesystem)


def _is_local(filesystem: pafs.FileSystem) -> bool:
    import pyarrow.fs as pafs  # loaded already: the caller made ``filesystem`` with it

    return isinstance(filesystem, pafs.LocalFileSystem)


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
