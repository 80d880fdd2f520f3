"""The archive: the lake's ``raw`` rows (docs/lake-layout.md), read in archive order.

The lake is listed, not read through its manifest (``ticklake.manifest`` imports
``ticklake.errors``, which the emulator may not). Listing is exact all the same: the files of
a partition that a ``compact-`` file covers are left out (:func:`ticklake.tables.superseded`),
so every row is read once, and temp files (``.``/``_``) are skipped as every engine does.

Archive order: partitions by date; inside one, each *stream* (the local spool, each Kafka
partition) in its files' offset order, and the streams merged by receive time (their offsets
count in different logs, so only the clock orders them against each other).

Only the row groups whose ``recv_ns`` statistics meet the window are read; a row group is
read in batches, so memory stays bounded whatever the size of the lake.
"""

from __future__ import annotations

import contextlib
import heapq
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ticklake.emulator.replay.config import ReplayError
from ticklake.tables import parse_stream_file_name, superseded

__all__ = ["CONTROL", "Archive", "RawRow"]

CONTROL = 0xFFFF_FFFF  # conn_id (its low 32 bits) of the recorder's control records
_COLUMNS = ["recv_ns", "conn_id", "spool_offset", "payload"]
_BATCH = 8_192
_SECOND = 1_000_000_000


RawRow = tuple[int, int, int, str]  # recv_ns, conn_id, spool_offset, payload


@dataclass(frozen=True, order=True)
class _File:
    date: str
    stream: str
    first: int
    end: int
    path: str


def _s3() -> pafs.S3FileSystem:
    """The lake writer's S3 settings (``ticklake.objectstore``, which imports the error
    tree): the region and endpoint from the ``AWS_*`` environment, the key from the SDK."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    options: dict[str, Any] = {"region": os.environ.get("AWS_REGION")
                               or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"}
    if endpoint:
        parts = urlsplit(endpoint)
        options["endpoint_override"] = parts.netloc or parts.path
        options["scheme"] = parts.scheme or "https"
    return pafs.S3FileSystem(**options)


@contextlib.contextmanager
def _reading(what: str) -> Iterator[None]:
    """A file that cannot be read (truncated, not Parquet, gone, the store down) is one
    line naming it."""
    try:
        yield
    except ReplayError:
        raise
    except (OSError, pa.ArrowException, ValueError) as exc:
        msg = f"cannot read {what}: {exc}"
        raise ReplayError(msg, "") from None


def _date(ns: int) -> str:
    return datetime.fromtimestamp(ns // _SECOND, tz=UTC).date().isoformat()


class Archive:
    """The ``raw`` table of one lake (a directory or ``s3://bucket/prefix``)."""

    def __init__(self, root: str) -> None:
        self.root = root
        if root.startswith("s3://"):
            self.fs: pafs.FileSystem = _s3()
            base = root.removeprefix("s3://").rstrip("/")
        else:
            self.fs = pafs.LocalFileSystem()
            base = os.path.abspath(root)
        self.raw = f"{base}/raw/exchange=phemex"
        try:
            kinds = [i.type for i in self.fs.get_file_info([base, self.raw])]
        except OSError as exc:
            msg = f"cannot read the lake at {root}: {exc}"
            raise ReplayError(msg) from None
        if kinds[0] == pafs.FileType.NotFound:
            msg = f"no lake at {root}"
            raise ReplayError(msg)
        if kinds[1] != pafs.FileType.Directory:
            msg = f"the lake at {root} has no raw table (raw/exchange=phemex): nothing to replay"
            raise ReplayError(msg)

    def files(self, lo: int | None, hi: int | None) -> list[_File]:
        """The live files of the date partitions that can hold receive times in [lo, hi]."""
        first = _date(lo) if lo is not None else ""
        last = _date(hi) if hi is not None else "9999"
        dates = [i for i in self.fs.get_file_info(pafs.FileSelector(self.raw))
                 if i.type == pafs.FileType.Directory and i.base_name.startswith("date=")]
        out: list[_File] = []
        for info in dates:
            date = info.base_name.removeprefix("date=")
            if not first <= date <= last:
                continue
            names = {i.base_name: i.path for i in self.fs.get_file_info(
                pafs.FileSelector(info.path)) if i.type == pafs.FileType.File
                and not i.base_name.startswith((".", "_")) and i.base_name.endswith(".parquet")}
            dropped = superseded(names)
            for name, path in names.items():
                parsed = parse_stream_file_name(name)
                if parsed is not None and name not in dropped:
                    out.append(_File(date, parsed[3], parsed[1], parsed[2], path))
        return sorted(out)

    def rows(self, lo: int | None, hi: int | None) -> Iterator[RawRow]:
        """Every row received in [lo, hi] (None: unbounded), in archive order."""
        files = self.files(lo, hi)
        for date in sorted({f.date for f in files}):
            streams: dict[str, list[_File]] = {}
            for f in files:
                if f.date == date:
                    streams.setdefault(f.stream, []).append(f)
            readers = [self._stream(fs, lo, hi) for fs in streams.values()]
            yield from readers[0] if len(readers) == 1 else heapq.merge(*readers)

    def control_payloads(self, hi: int | None) -> list[str]:
        """The recorder's control records received up to ``hi``, in archive order."""
        with _reading(self.root):
            return self._control_payloads(hi)

    def _control_payloads(self, hi: int | None) -> list[str]:
        out: list[tuple[int, int, str]] = []
        for f in self.files(None, hi):
            pf = self._open(f.path)
            conn = pf.schema_arrow.get_field_index("conn_id")
            for g in range(pf.metadata.num_row_groups):
                stats = pf.metadata.row_group(g).column(conn).statistics
                if stats is not None and stats.has_min_max and stats.max < CONTROL:
                    continue  # (a control id's low half is the largest u32: nothing here)
                table = pf.read_row_group(g, columns=["recv_ns", "conn_id", "spool_offset",
                                                      "payload"])
                mask = pc.equal(pc.bit_wise_and(table["conn_id"], CONTROL), CONTROL)
                picked = table.filter(mask)
                if hi is not None:
                    picked = picked.filter(pc.less_equal(picked["recv_ns"], hi))
                out.extend(zip(picked["recv_ns"].to_pylist(), picked["spool_offset"].to_pylist(),
                               picked["payload"].to_pylist(), strict=True))
        return [payload for _, _, payload in sorted(out, key=lambda r: (r[0], r[1]))]

    def _open(self, path: str) -> pq.ParquetFile:
        try:
            return pq.ParquetFile(self.fs.open_input_file(path))
        except (OSError, pa.ArrowException) as exc:
            msg = f"cannot read {path}: {exc}"
            raise ReplayError(msg, "") from None

    def _stream(self, files: Iterable[_File], lo: int | None, hi: int | None) -> Iterator[RawRow]:
        for f in files:
            with _reading(f.path):
                yield from self._file(f, lo, hi)

    def _file(self, f: _File, lo: int | None, hi: int | None) -> Iterator[RawRow]:
        pf = self._open(f.path)
        recv = pf.schema_arrow.get_field_index("recv_ns")
        groups = []
        for g in range(pf.metadata.num_row_groups):
            stats = pf.metadata.row_group(g).column(recv).statistics
            if stats is not None and stats.has_min_max and (
                    (lo is not None and stats.max < lo) or (hi is not None and stats.min > hi)):
                continue
            groups.append(g)
        if not groups:
            return
        for read in pf.iter_batches(batch_size=_BATCH, row_groups=groups, columns=_COLUMNS):
            batch = read
            if lo is not None or hi is not None:
                ns = batch.column(0)
                mask = None
                if lo is not None:
                    mask = pc.greater_equal(ns, lo)
                if hi is not None:
                    upper = pc.less_equal(ns, hi)
                    mask = upper if mask is None else pc.and_(mask, upper)
                batch = batch.filter(mask)
            yield from zip(*(c.to_pylist() for c in batch.columns), strict=True)
