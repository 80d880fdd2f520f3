"""Connection ids: the u32 the spool stores with every frame, unique per connection.

A replay keys each connection's message sequences on it, so two connections of one recorder
must never share an id, and ids should differ across restarts and across the shards of a
deployment (a consumer that merges recorders, e.g. the Kafka shipper, then needs no extra key).

Id = serial × shards + shard index, with the serial starting at the wall-clock millisecond (so
a restart starts far from the ids it used before) and shared by every connection of the
recorder. Shards of one deployment (same n) therefore never collide: their ids differ modulo n.
The largest u32 is never handed out: it marks the spool's control records (feed.phemex.control).
"""

from __future__ import annotations

import time

from ticklake.feed.phemex.control import CONTROL_CONN_ID


class ConnIds:
    """Hands out connection ids; one instance per recorder, shared by its sessions."""

    def __init__(self, shard: tuple[int, int] | None = None, now_ms: int | None = None) -> None:
        self.index, self.count = shard or (0, 1)
        self._serials = CONTROL_CONN_ID // self.count  # ids stay below the control records' id
        start = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        self._serial = start % self._serials

    def next(self) -> int:
        conn_id = self._serial * self.count + self.index
        self._serial = (self._serial + 1) % self._serials
        return conn_id
