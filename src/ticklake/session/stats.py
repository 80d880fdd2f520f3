"""Plain counters of one session; cheap to bump on the hot path, exported by ``metrics``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SessionStats:
    state: str = "idle"
    connects: int = 0
    reconnects: int = 0
    frames: int = 0
    bytes: int = 0
    trades: int = 0
    snapshot_trades: int = 0
    duplicates_skipped: int = 0
    duplicate_messages: int = 0
    gaps: int = 0
    rejected: int = 0
    subscribe_errors: int = 0
    sink_errors: int = 0
    pongs: int = 0
    last_rtt_ns: int = 0
    last_frame_wall_ns: int = 0
    stale_reasons: dict[str, int] = field(default_factory=dict)
    reconnect_ns: list[int] = field(default_factory=list)
