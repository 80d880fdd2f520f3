"""SessionGroup: the connections of one recorder, run and stopped together.

Each connection is a full ``PhemexSession`` of its own (heartbeat, reconnect, de-duplication
and gap state over its own symbols); they share the frame sink (the one spool), the event sink
(the one bus), a ``ConnIds`` so that their spool connection ids never collide, and one connect
budget (Phemex limits connection attempts per IP). One connection dropping reconnects only
that connection. A fatal error of any session (refused subscribe, failed frame sink, refused
URL) stops the whole recorder and is re-raised, as with a single session.

What the group shows above it is plain: ``subscriptions()`` (the union), ``connections()``
(each session's name, symbols and live stats) and ``config``; the recording's typed status
(``ticklake.status``) is built from them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ticklake.feed.backoff import ConnectBudget
from ticklake.feed.phemex import Subscription
from ticklake.session.stats import SessionStats
from ticklake.session.supervisor import PhemexSession, SessionConfig, connect_budget

METRICS_NAME = "phemex"


class SessionGroup:
    """One recorder's ``PhemexSession``s (1 to 5), each with its own symbols."""

    def __init__(self, sessions: Sequence[PhemexSession]) -> None:
        if not sessions:
            msg = "a session group needs at least one session"
            raise ValueError(msg)
        self.sessions = tuple(sessions)
        self.budget: ConnectBudget | None = None  # shared by the sessions while running

    @property
    def config(self) -> SessionConfig:
        return self.sessions[0].config  # the same for every connection (pipeline builds it)

    def subscriptions(self) -> list[Subscription]:
        return [sub for session in self.sessions for sub in session.protocol.subscriptions()]

    def connections(self) -> list[tuple[str, list[Subscription], SessionStats]]:
        """Each connection's name for /metrics (``phemex`` alone, else ``phemex-0`` …
        ``phemex-4``), its subscriptions and its live stats."""
        names = ([METRICS_NAME] if len(self.sessions) == 1 else
                 [f"{METRICS_NAME}-{i}" for i in range(len(self.sessions))])
        return [(name, session.protocol.subscriptions(), session.stats)
                for name, session in zip(names, self.sessions, strict=True)]

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
