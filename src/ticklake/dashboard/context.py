"""What every route needs: the config, the optional live recording, and the query runner.

Queries run in worker threads (DuckDB releases the GIL while it scans) so the event loop
keeps serving the live feed; a small limiter stops a burst of heavy queries from taking
every core away from the recorder that may share this process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from starlette.requests import HTTPConnection

from ticklake.catalog import QueryResult
from ticklake.dashboard.books import LiveBooks
from ticklake.dashboard.config import DashboardConfig
from ticklake.dashboard.recent import RecentAnomalies
from ticklake.live_edge import LiveEdge
from ticklake.status import LiveRecording

T = TypeVar("T")
_QUERY_THREADS = 2


@dataclass
class Context:
    config: DashboardConfig
    live: LiveRecording | None = None
    limiter: anyio.CapacityLimiter = field(
        default_factory=lambda: anyio.CapacityLimiter(_QUERY_THREADS))
    recent: RecentAnomalies | None = None  # set with ``live``
    books: LiveBooks | None = None  # set with ``live``
    edge: LiveEdge | None = None  # the lake + spool tail, kept across requests

    def __post_init__(self) -> None:
        if self.live is not None and self.recent is None:
            self.recent = RecentAnomalies(self.live)
        if self.live is not None and self.books is None:
            self.books = LiveBooks(self.live)
        if self.edge is None:
            self.edge = LiveEdge(self.config.lake_root, self.config.spool_dir)

    async def query(self, sql: str, max_rows: int | None = None) -> QueryResult:
        """One sandboxed statement over lake + spool tail, off the event loop."""
        config = self.config
        rows = config.max_rows if max_rows is None else max_rows
        assert self.edge is not None
        run = partial(self.edge.query, sql, max_rows=rows, timeout=config.query_timeout)
        return await anyio.to_thread.run_sync(run, limiter=self.limiter)

    async def in_thread(self, fn: Any, *args: Any) -> Any:
        """A blocking catalog call (footer reads, listings) off the event loop."""
        return await anyio.to_thread.run_sync(partial(fn, *args), limiter=self.limiter)


def live_symbols(live: LiveRecording | None) -> list[str]:
    """The recording's symbols, each once: its status lists a symbol once per channel
    (trades and book) it records."""
    return list(dict.fromkeys(live.status().symbols)) if live is not None else []


def context(connection: HTTPConnection) -> Context:
    ctx = connection.app.state.ticklake
    assert isinstance(ctx, Context)
    return ctx
