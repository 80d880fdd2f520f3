"""The recent detector episodes a page gets in its hello (see ``anomalies.py``)."""

from __future__ import annotations

from typing import Any

import msgspec

from ticklake.bus import Subscriber
from ticklake.model import Anomaly
from ticklake.status import LiveRecording

_RANK = {"start": 0, "update": 1, "end": 2}


def newer(item: Anomaly, have: Anomaly | None) -> bool:
    """Whether ``item`` supersedes ``have`` (same id): phases only move forward."""
    return have is None or _RANK[item.phase] >= _RANK[have.phase]


class RecentAnomalies:
    """The latest episodes (open or ended) published since the dashboard started."""

    def __init__(self, recording: LiveRecording, keep: int = 300, backlog: int = 5_000) -> None:
        self.keep = keep
        # Never awaited between hellos: it just holds what was published since the last one
        # (oldest dropped first: superseded phases, or episodes far older than what is kept).
        self._sub: Subscriber[Anomaly] = recording.anomalies.subscribe(maxsize=backlog)
        self._latest: dict[str, Anomaly] = {}

    def absorb(self, items: list[Anomaly]) -> None:
        for item in items:
            have = self._latest.get(item.anomaly_id)
            if newer(item, have):
                self._latest.pop(item.anomaly_id, None)  # re-insert: dict order = recency
                self._latest[item.anomaly_id] = item
        while len(self._latest) > self.keep:  # oldest first (an open one too, eventually)
            del self._latest[next(iter(self._latest))]

    async def drain(self) -> None:
        """Take what was queued; returns without suspending when something is queued."""
        if len(self._sub):
            self.absorb(await self._sub.get_batch())

    def snapshot(self) -> list[dict[str, Any]]:
        return [msgspec.to_builtins(a) for a in self._latest.values()]
