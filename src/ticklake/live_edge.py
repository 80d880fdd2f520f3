"""SQL at the live edge: the published lake plus the spool's unpublished tail, no seam duplicates.

A :class:`LiveEdge` keeps one :class:`~ticklake.lake.tail.SpoolTail` for its lifetime (the
dashboard holds one per server), so each query decodes only the frames appended since the
last one. The seam is the lake writer's cursor, read once per query: the tail holds the
spool's rows from it on, and the lake's files of the local spool that start at or after it (a
publish in progress) are left out of the views, so every row is seen exactly once without
listing ``raw/``. Frames decode with the products the spool's control records name, so every
symbol the recorder subscribed is visible here within a second of its arrival.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from ticklake.catalog import Lake, QueryResult, run_query
from ticklake.feed.phemex.products import ProductTable, default_products
from ticklake.lake.tail import SpoolTail
from ticklake.spool import CursorStore, SpoolReader


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

    def tails(self) -> tuple[dict[str, pa.Table], int | None]:
        """The unpublished rows per table and the seam; ({}, None) without a spool."""
        tail = self._spool_tail()
        if tail is None:
            return {}, None
        return tail.refresh()

    def query(self, sql: str, *, max_rows: int = 1_000_000, timeout: float = 30.0) -> QueryResult:
        tails, seam = self.tails()
        if self._lake is None:  # the writer creates the lake: open it once it exists
            self._lake = Lake(self.lake_root)
        conn = self._lake.connect(tails or None, published_before=seam)
        try:
            return run_query(conn, sql, max_rows=max_rows, timeout=timeout)
        finally:
            conn.close()

    @property
    def decoded(self) -> int:
        """Spool records decoded so far by this edge's tail."""
        return 0 if self._tail is None else self._tail.decoded

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
    return LiveEdge(lake_root, spool_dir).query(sql, max_rows=max_rows, timeout=timeout)
