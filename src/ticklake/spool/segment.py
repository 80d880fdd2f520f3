"""Segment files: naming, header, record framing, and a checksum-validating record scanner.

Where it sits: the bottom of the spool. ``writer.py`` frames records with :func:`encode_record`
and recovers with :class:`RecordScanner`; ``reader.py`` scans with it too. Nothing here keeps
state across calls except the scanner's read-ahead window.

Format (version 1, little-endian, ``struct``)::

    <dir>/segments/<base_offset:020d>.seg
      header  (20 bytes)  magic b"TLSPOOL\\0" | u16 version = 1 | u16 reserved = 0 | u64 base
      record  (20 bytes + payload), repeated; the first record has offset ``base``, then +1 each
              u32 payload length | u32 crc | u64 recv_ns | u32 conn_id | payload

``crc`` is ``zlib.crc32`` (CRC-32, ISO-HDLC polynomial -- not CRC-32C, which the standard
library lacks) over the 12 bytes ``recv_ns | conn_id`` followed by the payload. A payload longer
than :data:`MAX_PAYLOAD` (64 MiB) is refused on append and read as damage.

A new segment is written as ``<name>.tmp`` (header, fsync), renamed into place and the directory
fsynced, so a reader never sees a segment without its header.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import struct
import tempfile
import zlib
from pathlib import Path
from typing import Final

from ticklake.errors import SpoolCorrupt, SpoolError

MAGIC: Final = b"TLSPOOL\0"
VERSION: Final = 1
HEADER: Final = struct.Struct("<8sHHQ")
RECORD: Final = struct.Struct("<IIQI")
TAIL: Final = struct.Struct("<QI")  # the checksummed fields that precede the payload
PREFIX: Final = struct.Struct("<II")  # payload length, crc
HEADER_SIZE: Final = HEADER.size  # 20
RECORD_HEADER_SIZE: Final = RECORD.size  # 20
MAX_PAYLOAD: Final = 64 * 2**20
SUFFIX: Final = ".seg"
TMP_SUFFIX: Final = ".tmp"
READ_CHUNK: Final = 1 << 20  # the scanner's read-ahead grows from 64 KiB up to this


def segment_name(base: int) -> str:
    return f"{base:020d}{SUFFIX}"


def parse_segment_name(name: str) -> int | None:
    """Base offset of a segment file name, or None for any other file."""
    stem = name[: -len(SUFFIX)]
    if name.endswith(SUFFIX) and len(stem) == 20 and stem.isdigit() and stem.isascii():
        return int(stem)
    return None


def list_segments(seg_dir: Path) -> list[int]:
    """Base offsets of the segments in ``seg_dir``, ascending; [] if the directory is absent."""
    try:
        names = os.listdir(seg_dir)
    except FileNotFoundError:
        return []
    except OSError as exc:
        msg = f"cannot list spool segments in {seg_dir}: {exc.strerror or exc}"
        raise SpoolError(msg) from exc
    bases = [base for base in map(parse_segment_name, names) if base is not None]
    bases.sort()
    return bases


def fsync_dir(directory: Path) -> None:
    """Make creations, renames and deletions in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_file(directory: Path, path: Path, data: bytes, prefix: str = ".") -> None:
    """Atomically and durably replace ``path`` (in ``directory``) with ``data``: a temp file
    beside it, fsynced, renamed over it, the directory fsynced. Raises OSError."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        tmp = ""
        fsync_dir(directory)
    finally:
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def fdatasync(fd: int) -> None:
    """fdatasync where it exists (Linux), else fsync; both cover a file's growing size."""
    sync = getattr(os, "fdatasync", os.fsync)
    sync(fd)


def encode_header(base: int) -> bytes:
    return HEADER.pack(MAGIC, VERSION, 0, base)


def check_header(data: bytes, base: int, path: Path) -> None:
    """Validate a segment header read from ``path`` whose name says ``base``."""
    if len(data) < HEADER_SIZE:
        msg = f"spool segment {path} is shorter than its {HEADER_SIZE}-byte header"
        raise SpoolCorrupt(msg)
    magic, version, _reserved, header_base = HEADER.unpack_from(data)
    if magic != MAGIC:
        msg = f"spool segment {path} has a bad magic number {magic!r} at byte 0"
        raise SpoolCorrupt(msg)
    if version != VERSION:
        msg = f"spool segment {path} has format version {version}; this build reads {VERSION}"
        raise SpoolError(msg)
    if header_base != base:
        msg = f"spool segment {path} says base offset {header_base} at byte 12, name says {base}"
        raise SpoolCorrupt(msg)


def encode_record(recv_ns: int, conn_id: int, payload: bytes) -> bytes:
    """One framed record; raises SpoolError for out-of-range fields or an oversized payload."""
    size = len(payload)
    if size > MAX_PAYLOAD:
        msg = f"frame of {size} bytes exceeds the spool's maximum record size {MAX_PAYLOAD}"
        raise SpoolError(msg)
    try:
        tail = TAIL.pack(recv_ns, conn_id)
    except struct.error as exc:
        msg = f"frame fields out of range (recv_ns={recv_ns}, conn_id={conn_id}): {exc}"
        raise SpoolError(msg) from exc
    crc = zlib.crc32(payload, zlib.crc32(tail))
    return PREFIX.pack(size, crc) + tail + payload


def create_segment(seg_dir: Path, base: int) -> Path:
    """Create segment ``base`` atomically (temp + fsync + rename + fsync dir); return its path."""
    path = seg_dir / segment_name(base)
    tmp = seg_dir / (segment_name(base) + TMP_SUFFIX)
    if path.exists():  # an earlier attempt renamed it but failed later: reuse if header-only
        if path.stat().st_size != HEADER_SIZE or path.read_bytes() != encode_header(base):
            msg = f"spool segment {path} already exists; refusing to overwrite it"
            raise SpoolCorrupt(msg)
        fsync_dir(seg_dir)
        return path
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, encode_header(base))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    fsync_dir(seg_dir)
    return path


def delete_segments_before(seg_dir: Path, offset: int, active_base: int | None = None) -> int:
    """Delete, oldest first, whole segments whose records all precede ``offset``.

    A segment's records end where the next segment begins, so the newest segment (the one
    being appended to) is never deleted, nor ``active_base`` or anything after it.
    """
    bases = list_segments(seg_dir)
    deleted = 0
    for base, next_base in itertools.pairwise(bases):
        if next_base > offset or (active_base is not None and base >= active_base):
            break
        path = seg_dir / segment_name(base)
        try:
            path.unlink()
        except FileNotFoundError:
            continue  # someone else's retention got there first
        except OSError as exc:
            msg = f"cannot delete spool segment {path}: {exc.strerror or exc}"
            raise SpoolError(msg) from exc
        deleted += 1
    if deleted:
        try:
            fsync_dir(seg_dir)
        except OSError as exc:
            msg = f"cannot fsync spool directory {seg_dir}: {exc.strerror or exc}"
            raise SpoolError(msg) from exc
    return deleted


class RecordScanner:
    """Walk the records of one open segment file from a known (byte position, offset).

    :meth:`next` returns ``(recv_ns, conn_id, payload)`` and advances ``pos``/``offset``, or
    returns None and sets ``stop`` to ``"end"`` (clean end of file), ``"torn"`` (the file ends
    inside a record) or ``"bad"`` (impossible length or checksum mismatch; ``problem`` says
    which, ``pos`` is the damaged record's position). With ``validate=False`` the payload is
    neither checksummed nor copied (``b""``): only for hops over an already validated prefix.
    """

    __slots__ = ("_buf", "_chunk", "_start", "bytes_read", "fd", "offset", "pos", "problem",
                 "size", "stop")

    def __init__(self, fd: int, size: int, pos: int, offset: int) -> None:
        self.fd = fd
        self.size = size
        self.pos = pos
        self.offset = offset
        self.stop = ""
        self.problem = ""
        self.bytes_read = 0
        self._buf = b""
        self._start = pos
        self._chunk = 1 << 16

    def _window(self, pos: int, length: int) -> int | None:
        """Make [pos, pos+length) available in ``_buf``; return its index there, or None."""
        rel = pos - self._start
        if rel >= 0 and rel + length <= len(self._buf):
            return rel
        if pos + length > self.size:
            return None
        want = min(max(length, self._chunk), self.size - pos)
        self._chunk = min(self._chunk * 2, READ_CHUNK)
        self._buf = os.pread(self.fd, want, pos)
        self._start = pos
        self.bytes_read += len(self._buf)
        return 0 if len(self._buf) >= length else None

    def next(self, validate: bool = True) -> tuple[int, int, bytes] | None:
        pos = self.pos
        if pos >= self.size:
            self.stop = "end"
            return None
        at = self._window(pos, RECORD_HEADER_SIZE)
        if at is None:
            self.stop = "torn"
            return None
        length, crc, recv_ns, conn_id = RECORD.unpack_from(self._buf, at)
        if length > MAX_PAYLOAD:
            self.stop, self.problem = "bad", f"impossible record length {length}"
            return None
        total = RECORD_HEADER_SIZE + length
        payload = b""
        if validate:
            at = self._window(pos, total)
            if at is None:
                self.stop = "torn"
                return None
            buf = self._buf
            payload = buf[at + RECORD_HEADER_SIZE : at + total]
            if zlib.crc32(payload, zlib.crc32(buf[at + 8 : at + RECORD_HEADER_SIZE])) != crc:
                self.stop, self.problem = "bad", "checksum mismatch"
                return None
        elif pos + total > self.size:
            self.stop = "torn"
            return None
        self.pos = pos + total
        self.offset += 1
        return recv_ns, conn_id, payload
