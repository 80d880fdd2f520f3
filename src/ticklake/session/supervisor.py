"""PhemexSession: one ``Connection`` at a time, kept alive and recovered until stopped.

Each attempt is: wait for the connect budget → open → serve until the socket ends → classify
how it ended. A connection that ends on its own (lost, closed, stale) is retried; whatever an
attempt raises goes through ``classify_failure`` (``session.failures``), which says whether to
retry or to stop the recorder and raise.

Reconnect policy: a connection that got as far as delivering data resets the backoff, so the
first retry comes within ``backoff_initial`` seconds and the resubscribe snapshot covers the
outage; consecutive failures back off exponentially with jitter up to ``backoff_cap``, and a
connect budget keeps attempts inside the exchange's per-IP limit. Before the first successful
connection, failures are retried for ``first_connect_timeout`` seconds, then reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ticklake.errors import SessionError
from ticklake.feed.backoff import ConnectBudget, backoff_delays
from ticklake.feed.phemex.limits import CONNECT_BUDGET, DEFAULT_URL
from ticklake.feed.phemex.protocol import PhemexProtocol
from ticklake.session.connection import Connection, EventSink, FrameSink, Sinks
from ticklake.session.connids import ConnIds
from ticklake.session.failures import Fatal, classify_failure
from ticklake.session.stats import SessionState, SessionStats

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class SessionConfig:
    url: str = DEFAULT_URL
    backoff_initial: float = 0.1
    backoff_cap: float = 30.0
    open_timeout: float = 10.0
    first_connect_timeout: float = 30.0
    max_frame_bytes: int = 16 * 2**20
    connect_budget: tuple[int, float] = field(default=CONNECT_BUDGET)


def connect_budget(config: SessionConfig) -> ConnectBudget:
    limit, window = config.connect_budget
    return ConnectBudget(limit, int(window * 1e9))


class PhemexSession:
    """Drive a ``PhemexProtocol`` over successive WebSocket connections until stopped."""

    def __init__(
        self,
        protocol: PhemexProtocol,
        config: SessionConfig | None = None,
        on_frame: FrameSink | None = None,
        on_event: EventSink | None = None,
        flush_frames: Callable[[], object] | None = None,
        conn_ids: ConnIds | None = None,
    ) -> None:
        self.protocol = protocol
        self.config = config or SessionConfig()
        self.stats = SessionStats()
        self._sinks = Sinks(on_frame, on_event, flush_frames)
        # Connection ids (u32 in the spool) differ across recorder restarts and between the
        # sessions of one recorder, which share ``conn_ids`` (see ``session.connids``).
        self._conn_ids = conn_ids or ConnIds()
        self._conn_id = 0
        self._connection: Connection | None = None
        self._stop = asyncio.Event()
        self._outage_started_ns: int | None = None
        self._ever_streamed = False

    @property
    def conn_id(self) -> int:
        """The spool id of the current (or last) connection; 0 before the first."""
        return self._conn_id

    def stop(self) -> None:
        """Ask ``run`` to return after dropping the current connection (or attempt)."""
        self._stop.set()
        if self._connection is not None:
            self._connection.close("stopped")

    async def run(self, budget: ConnectBudget | None = None) -> None:
        """Connect, serve, reconnect until stopped. ``budget`` is shared by the sessions of
        one recorder (the exchange's connect limit is per IP, not per connection)."""
        try:
            await self._reconnect_loop(budget or connect_budget(self.config))
        except Exception:
            self.stats.state = SessionState.FAILED
            raise
        self.stats.state = SessionState.STOPPED

    async def _reconnect_loop(self, budget: ConnectBudget) -> None:
        cfg = self.config
        delays = backoff_delays(cfg.backoff_initial, cap=cfg.backoff_cap)
        started = time.monotonic()
        while not self._stop.is_set():
            wait = budget.wait_ns(time.monotonic_ns())
            if wait:
                logger.warning("= connect budget spent; waiting %.1fs", wait / 1e9)
                await self._sleep(wait / 1e9)
                continue
            budget.spend(time.monotonic_ns())
            self.stats.state = SessionState.CONNECTING
            reason, useful = await self._attempt()
            if self._stop.is_set():
                return
            self._ever_streamed |= useful
            if not self._ever_streamed and time.monotonic() - started > cfg.first_connect_timeout:
                msg = f"cannot connect to {cfg.url}: {reason}"
                raise SessionError(msg)
            if useful:  # only a connection that delivered data resets the backoff
                delays = backoff_delays(cfg.backoff_initial, cap=cfg.backoff_cap)
            delay = next(delays)
            self.stats.state = SessionState.RECONNECTING
            self.stats.reconnects += 1
            logger.info("= disconnected (%s); reconnecting in %.2fs", reason, delay)
            await self._sleep(delay)

    async def _attempt(self) -> tuple[str, bool]:
        """One connection's life: why it ended and whether it delivered data. Raises what
        ``classify_failure`` calls fatal."""
        cfg = self.config
        connection = Connection(self.protocol, self.stats, self._sinks, self._outage_started_ns)
        self._connection = connection
        try:
            await connection.open(cfg.url, open_timeout=cfg.open_timeout,
                                  max_frame_bytes=cfg.max_frame_bytes)
            if self._stop.is_set():  # stop() came while the upgrade was completing
                connection.close("stopped")
                return "stopped", False
            self._conn_id = self._conn_ids.next()
            return await connection.serve(self._conn_id), connection.useful
        except asyncio.CancelledError:
            if not self._stop.is_set():
                raise
            return "stopped", False
        except Exception as exc:
            verdict = classify_failure(exc, cfg.url, streamed=self._ever_streamed)
            if isinstance(verdict, Fatal):
                if verdict.error is exc:
                    raise
                raise verdict.error from exc
            return verdict.reason, False
        finally:
            self.protocol.connection_lost()
            # An outage starts at the first lost connection and lasts until a subscription.
            outage = connection.outage_started_ns
            self._outage_started_ns = time.monotonic_ns() if outage is None else outage

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
