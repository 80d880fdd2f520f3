"""The durable spool: every raw frame is appended here before anything else uses it.

Where it sits: session -> **spool** -> lake writer / detector / replay. The spool knows bytes,
offsets and cursors, not Phemex. Consumers read by offset and commit their own cursor, so each
resumes where it stopped after kill -9.

Layout of a spool directory::

    <dir>/segments/<base_offset:020d>.seg   the log, one file per segment (format below)
    <dir>/segments/.lock                    flock held by the one SpoolWriter
    <dir>/cursors/<consumer>.cursor         committed cursors (see ``cursor.py``)

Segment format, version 1, little-endian::

    header  magic b"TLSPOOL\\0" (8) | u16 version = 1 | u16 reserved = 0 | u64 base offset
    record  u32 payload length | u32 crc | u64 recv_ns | u32 conn_id | payload
            crc = zlib.crc32 (CRC-32/ISO-HDLC, not CRC-32C) over recv_ns | conn_id | payload

Offsets are dense and never reused: record ``k`` of segment ``base`` has offset ``base + k``
and the next segment's base is the offset after this one's last record. The writer rotates
before the first append that finds the active segment (with its queue) at or past
``segment_bytes`` (so a segment ends with the record that crossed it). Payloads over 64 MiB
are refused; such a length on disk is damage.

Recovery (on every SpoolWriter open): the newest segment is scanned; the first incomplete or
checksum-invalid record and everything after it is a torn tail: truncated and fsynced (logged
as a warning). Damage in any older segment is never skipped: the reader raises
:class:`SpoolCorrupt` naming the file and byte position. New segments appear atomically
(written as ``.tmp``, fsynced, renamed, directory fsynced); deletions fsync the directory.

``SpoolWriter.append`` queues a frame in this process (kill -9 loses it) and returns its
offset; ``flush`` writes the queue with one ``os.write``. What an acknowledged frame
(``offset < durable_offset``) survives, per :class:`FsyncPolicy`:

- ``ALWAYS``: fdatasync in every ``flush``; each acknowledged record survives kill -9 and
  power loss. Costs one disk flush (~0.3 ms here) per burst of frames.
- ``INTERVAL`` (default): ``flush`` returns once the bytes are in the kernel's page cache, so
  every flushed record survives kill -9 of the process. A background thread fsyncs at most
  every ``fsync_interval`` s (group commit) and then advances ``durable_offset``; on power loss
  only records flushed in the last interval (not yet durable) can be lost.
- ``NEVER``: no fsync (``durable_offset`` is the flushed end): survives kill -9, not power
  loss; after a power cut an older segment may be damaged and reading it raises SpoolCorrupt.

Rotation fsyncs the finished segment (except under ``NEVER``), so with ``ALWAYS``/``INTERVAL``
a power cut can only tear the newest segment. ``close()`` fsyncs under every policy, so a clean
shutdown is durable even with ``NEVER``. An fsync error is final for the writer (the
kernel may have dropped the pages): later appends raise :class:`SpoolError`; reopen to
recover. Errors are :class:`SpoolError` with a one-line message.
"""

from __future__ import annotations

from ticklake.errors import SpoolCorrupt, SpoolError

from .cursor import CursorStore
from .log import Spool
from .reader import SpoolReader, SpoolRecord
from .writer import FsyncPolicy, SpoolWriter

__all__ = [
    "CursorStore",
    "FsyncPolicy",
    "Spool",
    "SpoolCorrupt",
    "SpoolError",
    "SpoolReader",
    "SpoolRecord",
    "SpoolWriter",
]
