"""What the manifest's objects hold, and their JSON codec.

Every object the manifest stores is one of these structs, decoded with the cyclic GC paused
(``_decode``): a checkpoint is the largest thing a cold reader decodes.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

import msgspec

from ticklake.errors import ManifestError
from ticklake.tables import schema_version

MANIFEST_DIR: Final = "_ticklake/manifest"
MARKER: Final = f"{MANIFEST_DIR}/manifest.json"
FORMAT: Final = 1
SPOOL_LOG: Final = "spool"
IMPORT_LOG: Final = "import"
ANOMALIES_LOG: Final = "anomalies"
COMPACT_LOG: Final = "compact"
DETECT_LOG: Final = "detect"


UNKNOWN_SCHEMA = 0  # a listed file's schema version, until its footer is read


class FileEntry(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """One published Parquet file; ``path`` is relative to the lake root."""

    path: str
    table: str
    partition: tuple[str, ...]  # values of PARTITIONS[table], outermost first
    rows: int
    bytes: int
    ranges: dict[str, tuple[int, int]] = {}  # ns column -> (min, max); absent if no rows
    schema: int = 1  # the table's schema version (union_by_name only across versions)
    published_ns: int = 0  # wall clock when it was committed (or the file's mtime)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]

    @property
    def directory(self) -> str:
        return self.path.rsplit("/", 1)[0]


class Commit(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    version: int
    add: tuple[FileEntry, ...] = ()
    remove: tuple[str, ...] = ()
    created_ns: int = 0


class Checkpoint(msgspec.Struct, frozen=True, gc=False):
    version: int
    files: tuple[FileEntry, ...]  # the log's own additions still live
    removed: tuple[str, ...]  # removals of files other logs added
    # Files removed but maybe not yet deleted (a writer killed between a compaction's
    # commit and its deletes): (removed at ns, path).
    pending: tuple[tuple[int, str], ...] = ()


class _Pointer(msgspec.Struct, frozen=True):
    version: int


_commit_decoder = msgspec.json.Decoder(Commit)
_checkpoint_decoder = msgspec.json.Decoder(Checkpoint)
_pointer_decoder = msgspec.json.Decoder(_Pointer)
_encoder = msgspec.json.Encoder()


def _decode(decoder: msgspec.json.Decoder[Any], body: bytes, log: str) -> Any:
    # A checkpoint of 100k files makes ~300k containers at once; the cyclic GC would walk
    # them again and again while they are made (half the decode time). They hold no cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return decoder.decode(body)
    except msgspec.DecodeError as exc:
        msg = f"manifest log {log} is damaged: {exc}"
        raise ManifestError(msg) from None
    finally:
        if collecting:
            gc.enable()


def log_for_stream(stream: str) -> str:
    """The log of a lake writer's stream ("" is the local spool)."""
    return stream or SPOOL_LOG


def entry_for(path: str, table: str, partition: Iterable[str], rows: int, size: int,
              ranges: Mapping[str, tuple[int, int]] | None = None) -> FileEntry:
    return FileEntry(path, table, tuple(partition), int(rows), int(size),
                     dict(ranges or {}), schema_version(table), time.time_ns())
