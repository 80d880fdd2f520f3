"""Records that flow from the feed downstream: normalized trades and recorded gaps.

Prices and quantities are exact scaled integers (``price_e / 10**price_scale``): Phemex sends
scaled integers (``priceEp``) or decimal strings (``_p`` channels), and both land here
without ever passing through a float. Times are integer nanoseconds since the epoch (UTC).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

Side = Literal["buy", "sell"]
# The exchange's spelling, which the hot path's rows keep (``feed.events.Row``) → ours.
SIDES: dict[str, Side] = {"Buy": "buy", "Sell": "sell"}


class Trade(msgspec.Struct, frozen=True, gc=False):
    """One normalized trade."""

    exchange: str
    symbol: str
    ts_exchange_ns: int
    ts_recv_ns: int
    side: Side
    price_e: int
    qty_e: int
    price_scale: int
    qty_scale: int
    sequence: int
    from_snapshot: bool

    @property
    def price(self) -> Decimal:
        return Decimal(self.price_e).scaleb(-self.price_scale)

    @property
    def qty(self) -> Decimal:
        return Decimal(self.qty_e).scaleb(-self.qty_scale)

    @property
    def price_text(self) -> str:
        return decimal_text(self.price_e, self.price_scale)

    @property
    def qty_text(self) -> str:
        return decimal_text(self.qty_e, self.qty_scale)


def decimal_text(value: int, scale: int) -> str:
    """Shortest exact decimal string of ``value / 10**scale``: (9000050000, 5) → "90000.5"."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**scale) if scale > 0 else (abs(value), 0)
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{str(frac).rjust(scale, '0').rstrip('0')}"


class Gap(msgspec.Struct, frozen=True):
    """A span where trades may be missing: every trade with from_ns <= ts <= to_ns is suspect.

    Recorded when a resubscribe snapshot does not reach back to the last trade seen.
    """

    exchange: str
    symbol: str
    from_ns: int
    to_ns: int
    reason: str
    detected_ns: int


class RawFrame(msgspec.Struct, frozen=True, gc=False):
    """One message exactly as received (bytes, even if not valid UTF-8): the spool's unit."""

    conn_id: int
    recv_ns: int
    payload: bytes


AnomalyPhase = Literal["start", "update", "end"]


class Anomaly(msgspec.Struct, frozen=True):
    """One state of an anomalous price-swing episode (the detector emits start, updates, end).

    Only ``end`` records go to the lake's ``anomalies`` table (one row per episode); live views
    show every phase. Prices are floats: an anomaly is an analysis result, not a recorded fact.
    ``anomaly_id`` is deterministic (symbol, start, parameter hash), so a replay of the same
    input yields the same ids.
    """

    anomaly_id: str
    phase: AnomalyPhase
    exchange: str
    symbol: str
    kind: str  # "swing" (multi-horizon move), "flash" (V-shape), "grind" (slow drift)
    ts_start_ns: int  # where the move began (the horizon's left edge)
    ts_detect_ns: int  # trade time at which it was first flagged
    ts_end_ns: int | None  # None until phase == "end"
    direction: Literal["up", "down"]
    horizon_s: float
    move_bp: float
    move_price: float
    price_before: float
    price_after: float
    score: float  # peak volatility-scaled move (|z|) so far
    trades: int  # trades inside the episode so far
    intensity_z: float  # trade-rate surprise against its own slow average
    imbalance: float  # signed volume imbalance over the horizon, -1 .. 1
    largest_qty: float
    rcf_score: float | None  # secondary score for users coming from KDA; never decides
    detector_version: str
    params_hash: str
