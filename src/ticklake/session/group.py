"""SessionGroup: the connections of one recorder, run and stopped together.

Each connection is a full ``PhemexSession`` of its own (heartbeat, reconnect, de-duplication
and gap state over its own symbols); they share the frame sink (the one spool), the event sink
(the one bus), a ``ConnIds`` so that their spool connection ids never collide, and one connect
budget (Phemex limits connection attempts per IP). One connection dropping reconnects only
that connection. A fatal error of any session (refused subscribe, failed frame sink, refused
URL) stops the whole recorder and is re-raised, as with a single session.

To everything above it the group looks like one session: ``stats`` is a live ``SessionStats``
whose fields are the sums over the connections (latest of the gauges, worst state), read at
each access, so a view that keeps it (progress line, dashboard, tests) stays current;
``subscriptions()`` is the union; ``per_connection()`` gives each session's own stats.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from ticklake.feed.backoff import ConnectBudget
from ticklake.feed.phemex import Subscription
from ticklake.session.phemex import PhemexSession, SessionConfig, connect_budget
from ticklake.session.stats import SessionStats

# The group's state is its least healthy session's: a recorder is "streaming" only when every
# connection is.
_STATE_RANK = {state: rank for rank, state in enumerate(
    ("failed", "reconnecting", "connecting", "subscribing", "idle", "streaming", "stopped"))}
# Gauges: the group reports the latest of its sessions, not a sum.
_LATEST = frozenset({"last_rtt_ns", "last_frame_wall_ns"})
METRICS_NAME = "phemex"


class SessionGroup:
    """One recorder's ``PhemexSession``s (1 to 5), each with its own symbols."""

    def __init__(self, sessions: Sequence[PhemexSession]) -> None:
        if not sessions:
            msg = "a session group needs at least one session"
            raise ValueError(msg)
        self.sessions = tuple(sessions)
        self._totals = LiveTotals(self.sessions)
        self.budget: ConnectBudget | None = None  # shared by the sessions while running

    # -- what callers of a single session use --------------------------------------------

    @property
    def config(self) -> SessionConfig:
        return self.sessions[0].config

    @config.setter
    def config(self, config: SessionConfig) -> None:
        for session in self.sessions:
            session.config = config

    @property
    def protocol(self) -> SessionGroup:
        """Callers that asked the one protocol for ``subscriptions()`` get the union."""
        return self

    def subscriptions(self) -> list[Subscription]:
        return [sub for session in self.sessions for sub in session.protocol.subscriptions()]

    @property
    def stats(self) -> SessionStats:
        """Counters summed over the connections, live (see ``LiveTotals``)."""
        return self._totals

    def per_connection(self) -> Mapping[str, SessionStats]:
        """Each connection's stats by name, for /metrics: ``phemex`` alone, else
        ``phemex-0`` … ``phemex-4`` (sum them for the recorder's totals)."""
        if len(self.sessions) == 1:
            return {METRICS_NAME: self.sessions[0].stats}
        return {f"{METRICS_NAME}-{i}": s.stats for i, s in enumerate(self.sessions)}

    def stop(self) -> None:
        for session in self.sessions:
            session.stop()

    async def run(self) -> None:
        """Run every session until all are stopped; the first fatal error stops the rest and
        is re-raised."""
        self.budget = budget = connect_budget(self.config)  # attempts are limited per IP
        tasks = [asyncio.create_task(session.run(budget), name=f"phemex-session-{i}")
                 for i, session in enumerate(self.sessions)]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            self.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]


class LiveTotals(SessionStats):
    """A ``SessionStats`` computed from the sessions' own at every field read (cheap: at most
    5 sessions, read per tick or scrape, never per frame). Read-only."""

    def __init__(self, sessions: Sequence[PhemexSession]) -> None:  # no dataclass fields
        object.__setattr__(self, "_sessions", tuple(sessions))

    def __getattribute__(self, name: str) -> Any:
        if name in _FIELDS:
            sessions = object.__getattribute__(self, "_sessions")
            return combine_field(name, [session.stats for session in sessions])
        return super().__getattribute__(name)

    def __setattr__(self, name: str, value: object) -> None:
        msg = f"the totals of a session group are read-only ({name})"
        raise AttributeError(msg)


def combine_field(name: str, parts: Sequence[SessionStats]) -> Any:
    """Sum of counters, latest of gauges, worst state, merged stale reasons and outages."""
    if name == "state":
        return min((part.state for part in parts), key=lambda state: _STATE_RANK.get(state, -1))
    if name == "stale_reasons":
        merged: dict[str, int] = {}
        for part in parts:
            for reason, count in part.stale_reasons.items():
                merged[reason] = merged.get(reason, 0) + count
        return merged
    if name == "reconnect_ns":
        return [ns for part in parts for ns in part.reconnect_ns]
    if name in _LATEST:
        return max(getattr(part, name) for part in parts)
    return sum(getattr(part, name) for part in parts)


_FIELDS = frozenset(field.name for field in fields(SessionStats))
