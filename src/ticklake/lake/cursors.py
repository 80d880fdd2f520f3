"""Cursors kept IN the lake: any writer on any machine resumes a stream where the last one
published.

``ticklake deliver`` writes a Kafka partition's files from whichever worker the consumer group
gives it to; the cursor (and intent) must therefore live beside the files, not on one
worker's disk. One small object per name::

    <root>/_ticklake/cursors/<stream>/<name>.cursor
    magic b"TLLAKEC1" | u64 offset | u32 crc32(offset | state) | state bytes

Atomic like a lake file: one PUT on S3 (an object appears whole or not at all); locally a
temp file in the same directory, fsynced, renamed over the old one, directory fsynced. Same
``load``/``commit`` contract as ``ticklake.spool.CursorStore`` (the writer's ``Cursors``).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Final

import pyarrow as pa
import pyarrow.fs as pafs

from ticklake.errors import StorageError
from ticklake.lake.storage import LakeStorage
from ticklake.spool.segment import replace_file
from ticklake.tables import is_stream_id

CURSOR_DIR: Final = "_ticklake/cursors"
_MAGIC: Final = b"TLLAKEC1"
_HEAD: Final = struct.Struct("<8sQI")


class LakeCursorStore:
    """The committed cursors of one stream of a lake (``layout.stream_id``)."""

    def __init__(self, storage: LakeStorage, stream: str) -> None:
        if not is_stream_id(stream):
            msg = f"invalid stream id {stream!r}"
            raise ValueError(msg)
        self._storage = storage
        self._dir = f"{storage.base}/{CURSOR_DIR}/{stream}"

    def _path(self, name: str) -> str:
        if not name.replace(".", "").replace("_", "").isalnum():
            msg = f"invalid cursor name {name!r}"
            raise ValueError(msg)
        return f"{self._dir}/{name}.cursor"

    def load(self, name: str) -> tuple[int, bytes]:
        """(offset, state) last committed; (0, b"") if never."""
        path = self._path(name)
        fs = self._storage.filesystem
        try:
            with fs.open_input_stream(path) as stream:
                data = stream.read()
        except FileNotFoundError:
            return 0, b""
        except (OSError, pa.ArrowException) as exc:
            msg = f"cannot read lake cursor {path}: {exc}"
            raise StorageError(msg) from exc
        if len(data) < _HEAD.size:
            msg = f"lake cursor {path} is truncated ({len(data)} bytes)"
            raise StorageError(msg)
        magic, offset, crc = _HEAD.unpack_from(data)
        state = bytes(data[_HEAD.size :])
        if magic != _MAGIC or crc != zlib.crc32(state, zlib.crc32(data[8:16])):
            msg = f"lake cursor {path} is damaged (bad magic or checksum)"
            raise StorageError(msg)
        return offset, state

    def commit(self, name: str, offset: int, state: bytes = b"") -> None:
        """Atomically replace ``name``'s cursor with (offset, state)."""
        path = self._path(name)
        packed = struct.pack("<Q", offset)
        data = _HEAD.pack(_MAGIC, offset, zlib.crc32(state, zlib.crc32(packed))) + state
        try:
            if self._storage.local:
                replace_file(Path(self._dir), Path(path), data)
            else:
                with self._storage.filesystem.open_output_stream(path) as out:
                    out.write(data)
        except (OSError, pa.ArrowException) as exc:
            msg = f"cannot commit lake cursor {path}: {exc}"
            raise StorageError(msg) from exc

    def exists(self) -> bool:
        info = self._storage.filesystem.get_file_info(self._dir)
        return bool(info.type == pafs.FileType.Directory)
