"""Opening a spool for appending: the newest segment, its torn tail cut away.

Where it sits: :class:`~ticklake.spool.writer.SpoolWriter` calls :func:`open_newest` once,
under its lock, before the first append; everything here is about what a crash or a power cut
can leave behind (see the package docstring).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import NamedTuple

from .segment import (
    HEADER_SIZE,
    TMP_SUFFIX,
    RecordScanner,
    check_header,
    create_segment,
    encode_header,
    fdatasync,
    list_segments,
    segment_name,
)

logger = logging.getLogger(__name__)


class Newest(NamedTuple):
    """The newest segment, open for appending after recovery."""

    fd: int
    path: Path
    base: int
    pos: int  # its size: where the next record goes
    end: int  # the offset the next record gets


def open_newest(seg_dir: Path, *, sync: bool) -> Newest:
    """Open the newest segment (creating segment 0 in an empty spool) and truncate a torn or
    checksum-invalid tail; ``sync``: fsync what recovery kept (a repair is fsynced always).

    Raises OSError, or SpoolError/SpoolCorrupt for a header that is not a torn one.
    """
    for name in os.listdir(seg_dir):
        if name.endswith(TMP_SUFFIX):  # a rotation that died before its rename
            os.unlink(seg_dir / name)
    bases = list_segments(seg_dir)
    base = bases[-1] if bases else 0
    path = seg_dir / segment_name(base)
    if not bases:
        create_segment(seg_dir, base)
    fd = os.open(path, os.O_RDWR | os.O_APPEND)
    try:
        size = os.fstat(fd).st_size
        head = os.pread(fd, HEADER_SIZE, 0)
        expected = encode_header(base)
        if head != expected and size <= HEADER_SIZE and (
            expected.startswith(head) or not any(head)
        ):  # a header torn or zeroed by a power cut, before any record
            logger.warning("spool: rewriting the empty header of %s", path)
            os.ftruncate(fd, 0)
            os.write(fd, expected)
            size = HEADER_SIZE
        else:
            check_header(head, base, path)
        scan = RecordScanner(fd, size, HEADER_SIZE, base)
        while scan.next() is not None:
            pass
        if scan.stop != "end":
            logger.warning(
                "spool: truncating the torn tail of %s at byte %d (%d bytes, %s)",
                path, scan.pos, size - scan.pos, scan.problem or "incomplete record",
            )
            os.ftruncate(fd, scan.pos)
        if scan.stop != "end" or sync:
            fdatasync(fd)  # the repair, and what recovery kept, are durable from now on
    except BaseException:
        os.close(fd)
        raise
    return Newest(fd, path, base, scan.pos, scan.offset)
