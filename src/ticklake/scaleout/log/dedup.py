"""Dropping frames a recorder sent twice (exactly-once over an at-least-once log).

A recorder re-sends frames after a crash between produce and its cursor commit, or after its
producer is reset (a broker restart may forget the idempotent producer's state). Each
producer the recorder's shipper creates has a *generation* (a counter persisted in the spool,
so it only grows, across restarts too), sent with every frame. Within one generation a
recorder's frames arrive in spool-offset order in a partition (one idempotent producer,
ordered per partition), so per recorder this keeps the newest generation seen and the
highest spool offset delivered:

- a frame of an older generation is dropped: it is a late arrival of a replaced producer,
  and the newer one re-sends everything from the recorder's cursor anyway (accepting it could
  raise the mark past frames the new producer has not re-sent yet, and lose them);
- otherwise a frame at or below the mark was delivered already: dropped; above it: delivered.

The state is small (two ints per recorder: ``marks`` and ``generations``) and is saved with
the consumer's cursor, so it survives restarts and moves with the partition.
"""

from __future__ import annotations

import msgspec


class HighWater:
    """Per recorder id, the highest spool offset delivered (``marks``) and the newest
    producer generation seen (``generations``; frames without one count as generation 0)."""

    def __init__(self, marks: dict[str, int] | None = None,
                 generations: dict[str, int] | None = None) -> None:
        self.marks: dict[str, int] = dict(marks or {})
        self.generations: dict[str, int] = dict(generations or {})
        self.dropped = 0

    def admit(self, recorder: str, spool_offset: int, generation: int = 0) -> bool:
        """True for a frame not seen before (and remember it); False for a re-send."""
        if (generation < self.generations.get(recorder, 0)
                or spool_offset <= self.marks.get(recorder, -1)):
            self.dropped += 1
            return False
        self.marks[recorder] = spool_offset
        self.generations[recorder] = generation
        return True

    def snapshot(self) -> dict[str, int]:
        return dict(self.marks)

    def generations_snapshot(self) -> dict[str, int]:
        return dict(self.generations)

    def state(self) -> bytes:
        return msgspec.json.encode([self.marks, self.generations])

    @classmethod
    def from_state(cls, state: bytes) -> HighWater:
        if not state:
            return cls()
        marks, generations = msgspec.json.decode(state, type=tuple[dict[str, int],
                                                                    dict[str, int]])
        return cls(marks, generations)
