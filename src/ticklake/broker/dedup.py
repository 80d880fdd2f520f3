"""Dropping frames a recorder sent twice (exactly-once over an at-least-once log).

A recorder re-sends frames after a crash between produce and its cursor commit, or after its
producer is reset (a broker restart may forget the idempotent producer's state). Per
partition, each recorder's frames arrive in spool-offset order (one producer, ordered per
partition), so remembering the highest spool offset seen per recorder id is enough: anything
at or below it was delivered already. The state is small (one int per recorder) and is saved
with the consumer's cursor, so it survives restarts and moves with the partition.
"""

from __future__ import annotations

import msgspec


class HighWater:
    """Per recorder id, the highest spool offset delivered in this partition."""

    def __init__(self, marks: dict[str, int] | None = None) -> None:
        self.marks: dict[str, int] = dict(marks or {})
        self.dropped = 0

    def admit(self, recorder: str, spool_offset: int) -> bool:
        """True for a frame not seen before (and remember it); False for a re-send."""
        if spool_offset <= self.marks.get(recorder, -1):
            self.dropped += 1
            return False
        self.marks[recorder] = spool_offset
        return True

    def snapshot(self) -> dict[str, int]:
        return dict(self.marks)

    def state(self) -> bytes:
        return msgspec.json.encode(self.marks)

    @classmethod
    def from_state(cls, state: bytes) -> HighWater:
        return cls(msgspec.json.decode(state, type=dict[str, int]) if state else None)
