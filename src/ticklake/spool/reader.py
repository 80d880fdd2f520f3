"""SpoolReader: read records by offset, concurrently with the writer, in or out of process.

Where it sits: consumers (lake writer, detector, replay) call :meth:`SpoolReader.read` from
their committed cursor. Only complete, checksum-valid records are returned; the tail of the
newest segment that is still being written (or was torn by a crash and not yet recovered by
the writer) is simply "not there yet". Damage anywhere a tail cannot be -- inside an older
segment -- raises :class:`SpoolCorrupt` naming the file and the byte position.

Seeking: per segment, the reader remembers how far it has validated (checksums) and a sparse
index (offset -> byte position every :data:`INDEX_EVERY` records) of that prefix, plus where
its last read stopped. A read starts from the nearest of those and hops over at most
``INDEX_EVERY`` record headers; a segment is checksummed once, not once per read.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from pathlib import Path
from typing import Final

import msgspec

from ticklake.errors import SpoolCorrupt, SpoolError

from .segment import (
    HEADER_SIZE,
    RecordScanner,
    check_header,
    list_segments,
    segment_name,
)

INDEX_EVERY: Final = 256
_NO_LIMIT: Final = 2**63


class SpoolRecord(msgspec.Struct, frozen=True, gc=False):
    """One record read back: the frame and the offset that identifies it."""

    offset: int
    conn_id: int
    recv_ns: int
    payload: bytes


class _Segment:
    """What the reader knows about one segment file (all of it about its validated prefix)."""

    __slots__ = ("base", "header_ok", "index_offsets", "index_positions", "last_offset",
                 "last_pos", "valid_offset", "valid_pos")

    def __init__(self, base: int) -> None:
        self.base = base
        self.header_ok = False
        self.valid_offset = base  # every record below this offset is checksum-valid ...
        self.valid_pos = HEADER_SIZE  # ... and this is the byte right after them
        self.index_offsets = [base]
        self.index_positions = [HEADER_SIZE]
        self.last_offset = base  # where the previous read stopped (inside the prefix)
        self.last_pos = HEADER_SIZE

    def start_for(self, offset: int) -> tuple[int, int]:
        """The known (offset, byte position) nearest at or below ``offset``."""
        i = bisect_right(self.index_offsets, offset) - 1
        best = (self.index_offsets[i], self.index_positions[i])
        if best[0] < self.last_offset <= offset:
            best = (self.last_offset, self.last_pos)
        return best


class SpoolReader:
    """Reads ``<directory>/segments/``; not thread-safe (one reader per consumer thread)."""

    def __init__(self, directory: Path) -> None:
        self._seg_dir = Path(directory) / "segments"
        self._segments: dict[int, _Segment] = {}
        self.bytes_read = 0  # total bytes pread, for tests and metrics

    def _bases(self) -> list[int]:
        bases = list_segments(self._seg_dir)
        if len(self._segments) > len(bases) or any(b not in self._segments for b in bases):
            known = set(bases)
            self._segments = {b: self._segments.get(b) or _Segment(b) for b in known}
        return bases

    def first_offset(self) -> int:
        """The oldest retained offset (0 for an empty spool)."""
        bases = list_segments(self._seg_dir)
        return bases[0] if bases else 0

    def end_offset(self) -> int:
        """The offset after the last complete, valid record on disk now."""
        bases = self._bases()
        if not bases:
            return 0
        segment = self._segments[bases[-1]]
        self._scan(segment, None, _NO_LIMIT, [], 0, 0)
        return segment.valid_offset

    def read(
        self, offset: int, max_records: int = 10_000, max_bytes: int = 16 * 2**20
    ) -> list[SpoolRecord]:
        """Records with offset >= ``offset``, in order; [] if there are none yet.

        At most ``max_records`` records and ``max_bytes`` payload bytes, but always at least
        one record if one is available (a record larger than ``max_bytes`` is not a wall).
        """
        if offset < 0 or max_records < 1 or max_bytes < 1:
            msg = (f"invalid read: offset {offset}, max_records {max_records}, "
                   f"max_bytes {max_bytes} (offset must be >= 0, limits >= 1)")
            raise SpoolError(msg)
        bases = self._bases()
        if not bases:
            return []
        if offset < bases[0]:
            raise self._below_oldest(offset, bases[0])
        out: list[SpoolRecord] = []
        i = bisect_right(bases, offset) - 1
        while i < len(bases):
            next_base = bases[i + 1] if i + 1 < len(bases) else None
            taken = sum(len(r.payload) for r in out) if out else 0
            exhausted = self._scan(self._segments[bases[i]], next_base, offset, out,
                                   max_records, max_bytes - taken)
            if not exhausted or next_base is None:
                break
            offset = max(offset, next_base)
            i += 1
        return out

    @staticmethod
    def _below_oldest(offset: int, first: int) -> SpoolError:
        msg = (f"offset {offset} is below the oldest retained spool offset {first} "
               f"(older segments were deleted by retention)")
        return SpoolError(msg)

    def _scan(self, seg: _Segment, next_base: int | None, offset: int,
              out: list[SpoolRecord], max_records: int, max_bytes: int) -> bool:
        """Append records >= ``offset`` of one segment to ``out``; True if the segment is done.

        ``next_base`` is the next segment's base, or None if this one is the newest (its tail
        may be incomplete: that is not damage, just not readable yet).
        """
        path = self._seg_dir / segment_name(seg.base)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            first = self.first_offset()
            raise self._below_oldest(offset, first) from None
        except OSError as exc:
            msg = f"cannot open spool segment {path}: {exc.strerror or exc}"
            raise SpoolError(msg) from exc
        try:
            return self._scan_fd(fd, path, seg, next_base, offset, out, max_records, max_bytes)
        except OSError as exc:
            msg = f"cannot read spool segment {path}: {exc.strerror or exc}"
            raise SpoolError(msg) from exc
        finally:
            os.close(fd)

    def _scan_fd(self, fd: int, path: Path, seg: _Segment, next_base: int | None, offset: int,
                 out: list[SpoolRecord], max_records: int, max_bytes: int) -> bool:
        size = os.fstat(fd).st_size
        if not seg.header_ok:
            check_header(os.pread(fd, HEADER_SIZE, 0), seg.base, path)
            seg.header_ok = True
        start_offset, start_pos = seg.start_for(offset)
        scan = RecordScanner(fd, size, start_pos, start_offset)
        taken = 0
        done = False
        try:
            while True:
                cur, cur_pos = scan.offset, scan.pos
                if next_base is not None and cur >= next_base:
                    if cur > next_base or cur_pos < size:
                        msg = (f"spool segment {path} has data past offset {next_base} "
                               f"(where the next segment starts) at byte {cur_pos}")
                        raise SpoolCorrupt(msg)
                    done = True
                    break
                collecting = cur >= offset
                if collecting and len(out) >= max_records:
                    break
                record = scan.next(collecting or cur >= seg.valid_offset)
                if record is None:
                    if next_base is not None:
                        what = scan.problem or ("unexpected end of file" if scan.stop == "end"
                                                else "record cut short")
                        msg = (f"spool segment {path} is damaged at byte {scan.pos} "
                               f"(offset {cur}): {what}")
                        raise SpoolCorrupt(msg)
                    done = True  # the newest segment: nothing more to read for now
                    break
                if cur == seg.valid_offset:  # the validated prefix grows by this record
                    seg.valid_offset, seg.valid_pos = scan.offset, scan.pos
                    if (cur - seg.base) % INDEX_EVERY == 0 and cur > seg.index_offsets[-1]:
                        seg.index_offsets.append(cur)
                        seg.index_positions.append(cur_pos)
                if collecting:
                    recv_ns, conn_id, payload = record
                    if out and taken + len(payload) > max_bytes:
                        scan.offset, scan.pos = cur, cur_pos  # not taken: start here next time
                        break
                    taken += len(payload)
                    out.append(SpoolRecord(cur, conn_id, recv_ns, payload))
        finally:
            self.bytes_read += scan.bytes_read
            if scan.offset <= seg.valid_offset:
                seg.last_offset, seg.last_pos = scan.offset, scan.pos
        return done
