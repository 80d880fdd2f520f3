"""Fault kinds and the per-connection fault plan.

A fault is injected with ``Emulator.inject(kind, target, seconds, count)`` (or the HTTP
control endpoint, or a schedule). Targets: ``"all"`` current connections, a connection id
(``"3"``), ``"random"`` (one current connection, seeded) or ``"next"`` (the next ``count``
new connections). The server applies the plan; this module only holds state and parsing.

Order-book faults (``book_*``) corrupt what one connection is told, never the true book; each
is armed on the connection's plan (:class:`BookArm`) and fires on that connection's next book
message it fits (:mod:`~ticklake.emulator.book_faults`), ``count`` times. Their target may also
be a symbol: every current connection watching that symbol's book, that symbol only.

``ticker_malformed`` arms ``count`` broken frames on the connection's plan: each of its next
24 h ticker frames (not ticks) carries one broken value, and the ticker truth says so
(:mod:`~ticklake.emulator.ticker_fanout`). With target ``next`` it is armed at the first ack.
``kline_malformed`` does the same to kline frames (snapshots and incrementals, a frame with at
least one bar), in the kline truth (:mod:`~ticklake.emulator.kline_fanout`).
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "BOOK_KINDS",
    "DEFAULT_SECONDS",
    "BookArm",
    "FaultKind",
    "FaultPlan",
    "NextArm",
    "garbage_frames",
    "parse_kind",
    "parse_target",
]


class FaultKind(enum.StrEnum):
    CLOSE = "close"  # abrupt close, no close frame (client sees 1006)
    STALL = "stall"  # send nothing, answer nothing, keep TCP open
    PONG_DELAY = "pong_delay"  # delay server.ping replies (data keeps flowing)
    PONG_DROP = "pong_drop"  # drop server.ping replies (data keeps flowing)
    GARBAGE = "garbage"  # malformed text frames, data continues
    ERROR_REPLY = "error_reply"  # next subscribes answered with 6001
    DUPLICATE = "duplicate"  # resend the last data message byte-identical
    SERVER_DROP = "server_drop"  # as if the heartbeat timed out: abort now
    REFUSE = "refuse"  # HTTP 503 on upgrade for a while; aborts existing connections
    SEQUENCE_JUMP = "sequence_jump"  # jump a symbol's sequence counter (legal)
    # Order books (book_faults.py): what one connection is told differs from the true book.
    BOOK_DROP = "book_drop"  # an incremental is not sent (the book diverges until a snapshot)
    BOOK_STALE_SNAPSHOT = "book_stale_snapshot"  # an extra snapshot of an earlier instant
    BOOK_OUT_OF_ORDER = "book_out_of_order"  # two incrementals swapped: sequence goes back
    BOOK_UNKNOWN_DELETE = "book_unknown_delete"  # a delete of a level that does not exist
    # 24 h tickers (ticker_fanout.py): the next ticker frame to a connection carries a bad value
    TICKER_MALFORMED = "ticker_malformed"
    # Klines (kline_fanout.py): the next kline frame to a connection carries a bad value
    KLINE_MALFORMED = "kline_malformed"


# Used when ``seconds`` is None for kinds that need a duration. STALL with None lasts until
# the client goes away, so it is not listed.
DEFAULT_SECONDS: dict[FaultKind, float] = {
    FaultKind.PONG_DELAY: 5.0,
    FaultKind.REFUSE: 5.0,
}

# Kinds that act on the emulator as a whole rather than on connections.
GLOBAL_KINDS = frozenset({FaultKind.REFUSE, FaultKind.SEQUENCE_JUMP})
BOOK_KINDS = frozenset({FaultKind.BOOK_DROP, FaultKind.BOOK_STALE_SNAPSHOT,
                        FaultKind.BOOK_OUT_OF_ORDER, FaultKind.BOOK_UNKNOWN_DELETE})
# With target "next", these fire when the connection's first data message goes out.
ON_FIRST_DATA = frozenset(
    {FaultKind.CLOSE, FaultKind.STALL, FaultKind.GARBAGE, FaultKind.DUPLICATE,
     FaultKind.SERVER_DROP}
)


def parse_kind(kind: FaultKind | str) -> FaultKind:
    try:
        return FaultKind(kind)
    except ValueError:
        msg = f"unknown fault kind {str(kind)!r}"
        raise ValueError(msg) from None


def parse_target(target: str) -> str | int:
    """``"all"``, ``"next"``, ``"random"``, a connection id (int) or a symbol name."""
    if target in ("all", "next", "random"):
        return target
    if target.isdigit():
        return int(target)
    if target and target.isalnum():
        return target  # a symbol, meaningful for sequence_jump and book faults only
    msg = f"invalid fault target {target!r}"
    raise ValueError(msg)


def check_numbers(seconds: float | None, count: int) -> None:
    if seconds is not None and (not math.isfinite(seconds) or seconds < 0):
        msg = f"seconds must be a finite number >= 0, got {seconds!r}"
        raise ValueError(msg)
    if count < 1:
        msg = f"count must be >= 1, got {count!r}"
        raise ValueError(msg)


@dataclass(slots=True)
class NextArm:
    """A fault armed for the next ``remaining`` new connections."""

    kind: FaultKind
    seconds: float | None
    remaining: int


@dataclass(slots=True)
class BookArm:
    """A book fault armed on one connection: fires ``remaining`` more times."""

    kind: FaultKind
    symbol: str | None  # only this symbol's book; None: whichever book fits first
    remaining: int


@dataclass(slots=True)
class FaultPlan:
    """Fault state of one connection. Times are event-loop monotonic seconds."""

    stall_until: float | None = None  # math.inf: until the client goes away
    pong_delay_s: float = 0.0
    pong_delay_count: int = 0
    pong_drop_count: int = 0
    error_replies: int = 0
    pending_duplicates: int = 0  # duplicate the next data message (none sent yet)
    on_first_ack: list[tuple[FaultKind, float | None]] = field(default_factory=list)
    on_first_data: list[tuple[FaultKind, float | None]] = field(default_factory=list)
    book: list[BookArm] = field(default_factory=list)
    ticker_malformed: int = 0  # the next this many ticker frames carry a broken value
    kline_malformed: int = 0  # the next this many kline frames carry a broken value

    def book_arm(self, kind: FaultKind, symbol: str) -> BookArm | None:
        """The first armed ``kind`` that fits ``symbol``'s book, if any."""
        for arm in self.book:
            if arm.kind is kind and arm.symbol in (None, symbol):
                return arm
        return None

    def book_fired(self, arm: BookArm) -> None:
        arm.remaining -= 1
        if arm.remaining <= 0:
            self.book = [a for a in self.book if a is not arm]

    def stalled(self, now: float) -> bool:
        if self.stall_until is None:
            return False
        if now >= self.stall_until:
            self.stall_until = None
            return False
        return True

    def stall(self, now: float, seconds: float | None) -> None:
        until = math.inf if seconds is None else now + seconds
        self.stall_until = until if self.stall_until is None else max(self.stall_until, until)


def garbage_frames(rng: random.Random, count: int, symbol: str) -> list[str]:
    """``count`` malformed text frames: bad JSON, wrong shapes, junk characters."""
    ts = 1_764_824_672_778_886_833 + rng.randrange(10**9)
    makers: list[Callable[[], str]] = [
        lambda: '{"sequence":' + str(rng.randrange(10**9)) + ',"symbol":"' + symbol,
        lambda: (
            f'{{"sequence":{rng.randrange(10**9)},"symbol":"{symbol}","type":"incremental",'
            f'"trades":[[{ts},"Buy",900000000]]}}'
        ),
        lambda: (
            f'{{"sequence":{rng.randrange(10**9)},"symbol":"{symbol}","type":"incremental",'
            f'"trades":[["{ts}","Sell",900000000,1]]}}'
        ),
        lambda: (
            f'{{"sequence":{rng.randrange(10**9)},"symbol":"{symbol}","type":"incremental",'
            f'"trades_p":[[{ts},"Sell",90000.5,"0.1"]]}}'
        ),
        lambda: "".join(chr(rng.choice((0, 1, 2, 7, 27, 127, 0xFFFD, 0x7F3))) for _ in range(24)),
        lambda: '{"error":null,"id":"x","result":[1,2,3]}',
        lambda: "[]",
        lambda: "null",
    ]
    start = rng.randrange(len(makers))
    return [makers[(start + i) % len(makers)]() for i in range(count)]
