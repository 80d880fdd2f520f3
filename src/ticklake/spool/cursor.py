"""CursorStore: each consumer's committed offset (and opaque resume state), crash-atomic.

Where it sits: a consumer reads the spool from ``load(name)``, does its work (e.g. publishes a
Parquet file), then ``commit(name, next_offset, state)`` -- the offset *after* the last record
it has fully handled (bytewax's snapshot rule, design-and-style §3). After kill -9 it resumes
from the last commit and redoes at most the uncommitted batch, which must be idempotent.

File ``<directory>/<name>.cursor`` (little-endian)::

    magic b"TLCURSR\\0" | u64 offset | u32 state length | u32 crc | state bytes

``crc`` is ``zlib.crc32`` over offset | state length | state.

A commit writes ``.<name>.<random>.tmp``, fsyncs it, renames it over the cursor file and
fsyncs the directory: a crash at any point leaves the old or the new cursor, never a mix.
Stray temp files are ignored (and may be deleted).
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from pathlib import Path
from typing import Final

from ticklake.errors import SpoolCorrupt, SpoolError

from .segment import replace_file

MAGIC: Final = b"TLCURSR\0"
_HEAD: Final = struct.Struct("<8sQII")
SUFFIX: Final = ".cursor"
_NAME: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        msg = (f"invalid consumer name {name!r}: use 1-128 letters, digits, '_', '-' or '.', "
               "not starting with '.' or '-'")
        raise SpoolError(msg)


class CursorStore:
    """Committed cursors, one small file per consumer name in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self._dir = Path(directory)

    def _path(self, name: str) -> Path:
        _check_name(name)
        return self._dir / f"{name}{SUFFIX}"

    def load(self, name: str) -> tuple[int, bytes]:
        """(offset, state) last committed for ``name``; (0, b"") if it never committed."""
        path = self._path(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return 0, b""
        except OSError as exc:
            msg = f"cannot read cursor {path}: {exc.strerror or exc}"
            raise SpoolError(msg) from exc
        if len(data) < _HEAD.size:
            msg = f"cursor {path} is truncated ({len(data)} bytes)"
            raise SpoolCorrupt(msg)
        magic, offset, length, crc = _HEAD.unpack_from(data)
        state = data[_HEAD.size :]
        if magic != MAGIC or length != len(state) or crc != _crc(data[8:16], length, state):
            msg = f"cursor {path} is damaged (bad magic, length or checksum)"
            raise SpoolCorrupt(msg)
        return offset, state

    def commit(self, name: str, offset: int, state: bytes = b"") -> None:
        """Atomically replace ``name``'s cursor with (offset, state)."""
        path = self._path(name)
        if not 0 <= offset < 2**64 or len(state) >= 2**32:
            msg = f"invalid cursor for {name!r}: offset {offset}, {len(state)} state bytes"
            raise SpoolError(msg)
        offset_bytes = struct.pack("<Q", offset)
        data = (_HEAD.pack(MAGIC, offset, len(state), _crc(offset_bytes, len(state), state))
                + state)
        try:
            replace_file(self._dir, path, data, prefix=f".{name}.")
        except OSError as exc:
            msg = f"cannot commit cursor {path}: {exc.strerror or exc}"
            raise SpoolError(msg) from exc

    def names(self) -> list[str]:
        """Every consumer name that has committed, sorted."""
        try:
            entries = os.listdir(self._dir)
        except FileNotFoundError:
            return []
        except OSError as exc:
            msg = f"cannot list cursors in {self._dir}: {exc.strerror or exc}"
            raise SpoolError(msg) from exc
        found = (e[: -len(SUFFIX)] for e in entries if e.endswith(SUFFIX))
        return sorted(n for n in found if _NAME.fullmatch(n))


def _crc(offset_bytes: bytes, length: int, state: bytes) -> int:
    return zlib.crc32(state, zlib.crc32(offset_bytes + struct.pack("<I", length)))
