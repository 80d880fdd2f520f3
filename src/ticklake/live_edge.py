"""SQL at the live edge: the published lake plus the spool's unpublished tail, no seam duplicates.

A :class:`LiveEdge` keeps one :class:`~ticklake.lake.tail.SpoolTail` for its lifetime (the
dashboard holds one per server), so each query decodes only the frames appended since the
last one, and keeps its DuckDB connections while the lake's files stay the same (only the
tails are swapped). Frames decode with the products the spool's control records name, so
every symbol the recorder subscribed is visible here within a second of its arrival.

The seam, without listing ``raw/``: the tail holds the spool's rows from the lake writer's
cursor on; the files of a publish begun from that cursor (its intent names the range) are
left out of the views, and if the writer's cursors moved while the lake was listed, it is
listed again. Files of the lake that this spool did not write are always in.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from ticklake.catalog import Lake, QueryResult, run_query
from ticklake.catalog.connection import TableFiles, open_connection, replace_tails
from ticklake.feed.phemex.products import ProductTable, default_products
from ticklake.lake.tail import Seam, SpoolTail
from ticklake.spool import CursorStore, SpoolReader

# Connections kept between queries (one per query the dashboard runs at once).
_IDLE_CONNECTIONS = 2
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
        self._idle: list[_Connection] = []

    def tails(self) -> tuple[dict[str, pa.Table], Seam | None]:
        """The unpublished rows per table and the seam; ({}, None) without a spool."""
        tail = self._spool_tail()
        if tail is None:
            return {}, None
        return tail.refresh()

    def query(self, sql: str, *, max_rows: int = 1_000_000, timeout: float = 30.0) -> QueryResult:
        if self._lake is None:  # the writer creates the lake: open it once it exists
            self._lake = Lake(self.lake_root)
        tail = self._spool_tail()
        for _ in range(_ATTEMPTS):
            tails, seam = self.tails()
            files = self._lake.table_files(seam.in_progress if seam else None)
            # A publish that began or ended while the files were listed: list them again.
            if tail is None or tail.seam() == seam:
                break
        conn = self._connection(files, tails)
        try:
            return run_query(conn.conn, sql, max_rows=max_rows, timeout=timeout)
        finally:
            self._release(conn)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.conn.close()

    def _connection(self, files: dict[str, TableFiles],
                    tails: dict[str, pa.Table]) -> _Connection:
        """An idle connection over the same files with the tails swapped in, or a new one
        (opening one binds every view and macro: most of a small query's time)."""
        found: _Connection | None = None
        with self._lock:
            for i, idle in enumerate(self._idle):
                if idle.files == files:
                    found = self._idle.pop(i)
                    break
        if found is None:
            return _Connection(files, open_connection(files, tails, tail_slots=True), tails)
        try:
            replace_tails(found.conn, tails, found.tails)
        except BaseException:
            found.conn.close()
            raise
        found.tails = tails
        return found

    def _spool_tail(self) -> SpoolTail | None:
        if self._tail is None:
            spool = self.spool_dir
            if spool is None or not (spool / "segments").is_dir():
                return None
            self._tail = SpoolTail(SpoolReader(spool), CursorStore(spool / "cursors"),
                                   self.products)
        return self._tail

    def _release(self, conn: _Connection) -> None:
        with self._lock:
            self._idle.append(conn)
            stale = self._idle[:-_IDLE_CONNECTIONS]
            del self._idle[:-_IDLE_CONNECTIONS]
        for old in stale:
            old.conn.close()


@dataclass
class _Connection:
    """A sandboxed connection, the files its views read and the tails registered in it."""

    files: dict[str, TableFiles]
    conn: duckdb.DuckDBPyConnection
    tails: dict[str, pa.Table]


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
