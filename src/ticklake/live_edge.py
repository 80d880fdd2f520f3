"""SQL at the live edge: the published lake plus the spool's unpublished tail, no seam duplicates.

A :class:`LiveEdge` keeps one :class:`~ticklake.lake.tail.SpoolTail` for its lifetime (the
dashboard holds one per server), so each query decodes only the frames appended since the
last one, and keeps its DuckDB database while the lake's manifest says no file changed (a
query asks the manifest for the next version of each log: no listing, and a database lives
across queries with its Parquet footers cached). Frames decode with the products the
spool's control records name, so every symbol the recorder subscribed is visible here
within a second of its arrival.

The seam, without listing ``raw/``: the tail holds the spool's rows from the lake writer's
cursor on; the files of a publish begun from that cursor (its intent names the range) are
left out of the views, and if the writer's cursors moved while the manifest was read, it is
read again. Files of the lake that this spool did not write are always in.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa

from ticklake.catalog import Lake, QueryResult
from ticklake.catalog.connection import LakeDatabase
from ticklake.errors import FilesGone
from ticklake.feed.phemex.products import ProductTable, default_products
from ticklake.lake.tail import Seam, SpoolTail
from ticklake.spool import CursorStore, SpoolReader

_ATTEMPTS = 5  # listings per query while publishes keep moving the seam (they are seconds apart)


class LiveEdge:
    """Queries over ``lake_root`` and the unpublished tail of ``spool_dir`` (if any)."""

    def __init__(self, lake_root: str, spool_dir: Path | None,
                 products: ProductTable | None = None) -> None:
        self.lake_root = lake_root
        self.spool_dir = spool_dir
        # Frames recorded before the spool carried control records decode with these.
        self.products = products or default_products()
        self._tail: SpoolTail | None = None
        self._lake: Lake | None = None
        self._lock = threading.Lock()
        self._database_kept: LakeDatabase | None = None
        self._kept_for: tuple[int, int] | None = None

    def tails(self) -> tuple[dict[str, pa.Table], Seam | None]:
        """The unpublished rows per table and the seam; ({}, None) without a spool."""
        tail = self._spool_tail()
        if tail is None:
            return {}, None
        return tail.refresh()

    def query(self, sql: str, *, max_rows: int = 1_000_000, timeout: float = 30.0) -> QueryResult:
        tail = self._spool_tail()
        for attempt in range(_ATTEMPTS):
            tails, seam = self.tails()
            database = self._database(seam.in_progress if seam else None)
            # A publish that began or ended meanwhile: take the seam and the files again.
            if tail is not None and tail.seam() != seam:
                continue
            try:
                return database.query(sql, tails, max_rows=max_rows, timeout=timeout)
            except FilesGone:  # a compaction replaced files since the manifest was read
                if attempt == _ATTEMPTS - 1:
                    raise
        return database.query(sql, tails, max_rows=max_rows, timeout=timeout)

    def close(self) -> None:
        with self._lock:
            database, self._database_kept = self._database_kept, None
        if database is not None:
            database.close()

    def _database(self, in_progress: tuple[int, int] | None) -> LakeDatabase:
        """The database over the lake's current files: kept while the manifest says no file
        changed and the seam hides the same publish (opening one costs the file lists)."""
        with self._lock:
            if self._lake is None:  # the writer creates the lake: open it once it exists
                self._lake = Lake(self.lake_root)
            changed = self._lake.refresh()
            kept = self._database_kept
            if kept is None or changed or self._kept_for != in_progress:
                # A statement still running on the old one keeps it alive until it ends.
                kept = self._database_kept = self._lake.database(in_progress)
                self._kept_for = in_progress
            return kept

    def _spool_tail(self) -> SpoolTail | None:
        if self._tail is None:
            spool = self.spool_dir
            if spool is None or not (spool / "segments").is_dir():
                return None
            self._tail = SpoolTail(SpoolReader(spool), CursorStore(spool / "cursors"),
                                   self.products)
        return self._tail


def query_lake(
    lake_root: str, spool_dir: Path | None, sql: str, *, max_rows: int = 1_000_000,
    timeout: float = 30.0,
) -> QueryResult:
    """One query at the live edge (``ticklake sql``): the tail decoded once."""
    edge = LiveEdge(lake_root, spool_dir)
    try:
        return edge.query(sql, max_rows=max_rows, timeout=timeout)
    finally:
        edge.close()
