"""Plain counters of one session; cheap to bump on the hot path, exported by ``metrics``."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class SessionState(enum.StrEnum):
    """Where a session is in its life. A ``str``: views, /metrics and tests that compare or
    print the old strings keep working."""

    IDLE = "idle"  # built, ``run`` not called yet
    CONNECTING = "connecting"  # waiting for TCP, TLS and the HTTP upgrade
    SUBSCRIBING = "subscribing"  # connected, no subscription acknowledged yet
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"  # between a lost connection and the next attempt
    FAILED = "failed"  # ``run`` raised: a fatal failure, or never connected in time
    STOPPED = "stopped"  # ``run`` returned after ``stop()``


@dataclass
class SessionStats:
    state: SessionState = SessionState.IDLE
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
