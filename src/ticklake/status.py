"""What a running recording shows its consumers: a typed, read-only view.

The dashboard, the progress line and ``/metrics`` read a recording through
:class:`LiveRecording` only: its two buses to subscribe to and :meth:`LiveRecording.status`,
a snapshot built on each call (per tick, page refresh or scrape; never per frame). Nothing
above this module reaches into sessions, the spool writer or the lake writer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ticklake.bus import Bus
from ticklake.feed.events import Event
from ticklake.model import Anomaly
from ticklake.session.stats import SessionState, SessionStats

# A recorder is as healthy as its least healthy connection: "streaming" only when all are.
_HEALTH = {state: rank for rank, state in enumerate((
    SessionState.FAILED, SessionState.RECONNECTING, SessionState.CONNECTING,
    SessionState.SUBSCRIBING, SessionState.IDLE, SessionState.STREAMING, SessionState.STOPPED))}
# Gauges: the totals report the latest of the connections, not a sum.
_LATEST = frozenset({"last_rtt_ns", "last_frame_wall_ns"})
_COUNTERS = tuple(f.name for f in dataclasses.fields(SessionStats)
                  if f.name not in _LATEST | {"state", "stale_reasons", "reconnect_ns"})


@dataclass(frozen=True)
class ConnectionStatus:
    """One connection: its name in /metrics (``phemex`` or ``phemex-0`` …), symbols, stats."""

    name: str
    symbols: tuple[str, ...]  # each once, whatever its channels
    stats: SessionStats  # a copy, taken when the status was
    book_symbols: tuple[str, ...] = ()  # those whose order book it follows


@dataclass(frozen=True)
class RecordingStatus:
    connections: tuple[ConnectionStatus, ...]
    spool_end: int | None  # offset after the last frame appended to the spool
    lake_committed: int | None  # every frame below it is in the lake (or the log)

    @property
    def symbols(self) -> list[str]:
        return list(dict.fromkeys(s for conn in self.connections for s in conn.symbols))

    @property
    def book_symbols(self) -> list[str]:
        return list(dict.fromkeys(s for conn in self.connections for s in conn.book_symbols))

    @property
    def totals(self) -> SessionStats:
        return sum_stats([conn.stats for conn in self.connections])

    @property
    def backlog(self) -> int | None:
        """Frames spooled but not yet delivered."""
        if self.spool_end is None or self.lake_committed is None:
            return None
        return self.spool_end - self.lake_committed


class LiveRecording(Protocol):
    """What consumers of a running recording may use (``pipeline.Recording`` is one)."""

    @property
    def bus(self) -> Bus[Event]: ...

    @property
    def anomalies(self) -> Bus[Anomaly]: ...

    def status(self) -> RecordingStatus: ...


def copy_stats(stats: SessionStats) -> SessionStats:
    """A snapshot the session's later updates do not change (dict/list copies are atomic
    under the GIL, so a scrape thread may take one)."""
    return dataclasses.replace(stats, stale_reasons=dict(stats.stale_reasons),
                               reconnect_ns=list(stats.reconnect_ns))


def sum_stats(parts: Sequence[SessionStats]) -> SessionStats:
    """Sum of counters, latest of gauges, worst state, merged stale reasons and outages."""
    if not parts:
        return SessionStats()
    totals = SessionStats(
        state=min((p.state for p in parts), key=_HEALTH.__getitem__),
        **{name: sum(getattr(p, name) for p in parts) for name in _COUNTERS},
        **{name: max(getattr(p, name) for p in parts) for name in _LATEST},
    )
    for part in parts:
        for reason, count in part.stale_reasons.items():
            totals.stale_reasons[reason] = totals.stale_reasons.get(reason, 0) + count
        totals.reconnect_ns.extend(part.reconnect_ns)
    return totals
