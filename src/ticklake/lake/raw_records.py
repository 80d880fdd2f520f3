"""A stream's spool records read back from the lake's ``raw`` table, in offset order.

``raw`` keeps every record of a stream (frames, control records, garbage), so a range of it is
the spool as it was, even on a machine the spool never saw. One publish's records can be split
over two ``date`` partitions (a batch across midnight writes ``raw`` of both days under the
same range name), so files whose ranges overlap are merged by offset; files are read in
record batches, never whole.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import pyarrow.parquet as pq

from ticklake.errors import StorageError
from ticklake.lake.storage import LakeStorage
from ticklake.manifest import FileEntry
from ticklake.tables import parse_stream_file_name

_COLUMNS = ["spool_offset", "conn_id", "recv_ns", "payload"]
_BATCH_ROWS = 65_536


class RawRecord(NamedTuple):
    offset: int
    conn_id: int
    recv_ns: int
    payload: bytes


def file_range(entry: FileEntry) -> tuple[int, int]:
    parsed = parse_stream_file_name(entry.name)
    if parsed is None:
        msg = f"{entry.path}: not a file name of the lake's layout"
        raise StorageError(msg)
    return parsed[1], parsed[2]


def raw_records(storage: LakeStorage, entries: Iterable[FileEntry], start: int,
                end: int) -> Iterator[RawRecord]:
    """Every record of ``[start, end)`` in the ``raw`` files ``entries`` (one stream's),
    in offset order; raises :class:`StorageError` naming a range ``raw`` does not hold."""
    files = sorted((e for e in entries
                    if file_range(e)[1] > start and file_range(e)[0] < end), key=file_range)
    groups: list[tuple[list[FileEntry], int]] = []  # files whose ranges overlap, their end
    for entry in files:
        first, last = file_range(entry)
        if groups and first < groups[-1][1]:
            groups[-1] = (groups[-1][0] + [entry], max(groups[-1][1], last))
        else:
            groups.append(([entry], last))
    expected = start
    for members, _ in groups:
        for record in heapq.merge(*(_rows(storage, e, start, end) for e in members)):
            if record.offset != expected:
                raise _missing(expected, start, end)
            yield record
            expected += 1
    if expected < end:
        raise _missing(expected, start, end)


def _missing(offset: int, start: int, end: int) -> StorageError:
    return StorageError(f"raw holds no spool record {offset} (of [{start}, {end})): the "
                        "lake cannot be derived again over that range")


def _rows(storage: LakeStorage, entry: FileEntry, start: int, end: int) -> Iterator[RawRecord]:
    path = f"{storage.base}/{entry.path}"
    try:
        with storage.filesystem.open_input_file(path) as handle:
            for batch in pq.ParquetFile(handle).iter_batches(_BATCH_ROWS, columns=_COLUMNS):
                offsets, conns, recvs, payloads = (batch.column(i).to_pylist() for i in range(4))
                for offset, conn, recv, text in zip(offsets, conns, recvs, payloads,
                                                    strict=True):
                    if start <= offset < end:
                        yield RawRecord(offset, conn, recv, text.encode())
    except OSError as exc:
        msg = f"cannot read {entry.path}: {exc}"
        raise StorageError(msg) from None
