"""Labelled price swings: the ground truth that detector evaluation scores against.

A swing is a deterministic offset of a symbol's log-mid (step, ramp, V-shaped
crash-and-recover, slow grind) sized in multiples of the *local* volatility, optionally with
a burst of extra trades and one-sided taker flow. ``Market.inject_swing`` schedules one and
returns its :class:`SwingLabel` (the market keeps every label);
:mod:`~ticklake.emulator.simulator` applies it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["STEP_BURST_S", "SWING_SHAPES", "Swing", "SwingLabel", "SwingShape", "check_swing"]

SwingShape = Literal["step", "ramp", "v", "grind"]
SWING_SHAPES: tuple[str, ...] = ("step", "ramp", "v", "grind")
STEP_BURST_S = 2.0  # a step has no duration: its optional trade burst lasts this long


@dataclass(frozen=True, slots=True)
class SwingLabel:
    """Ground truth of one injected swing (JSON-ready through :meth:`to_record`).

    The log-mid moves by ``size_sigma * sigma_local * sqrt(max(duration_s, 1))``
    (``move_bp`` = that, in basis points, a magnitude) in ``direction`` between ``start_ns`` and
    ``end_ns``; a ``v`` reaches that peak half way and returns to where it started.
    ``sigma_local`` is the volatility (log-price sd per sqrt(second)) at injection time, so
    sizes are relative to the local regime under stochastic volatility.
    """

    symbol: str
    start_ns: int
    end_ns: int
    size_sigma: float
    sigma_local: float
    duration_s: float
    direction: Literal["up", "down"]
    shape: SwingShape
    move_bp: float
    burst_rate: float = 0.0  # extra trades/s during the swing
    one_sided: float = 0.0  # share of taker orders forced to the swing's side
    mid_before: float = 0.0  # mid (price units) when injected

    def to_record(self) -> dict[str, Any]:
        return asdict(self)


class Swing:
    """An active swing: the log-mid offset it adds at time t (folded in once it ends)."""

    __slots__ = ("amp", "end", "final", "label", "one_sided", "shape", "start")

    def __init__(self, label: SwingLabel) -> None:
        sign = 1.0 if label.direction == "up" else -1.0
        self.label = label
        self.start = label.start_ns
        self.end = label.end_ns
        self.shape = label.shape
        self.amp = sign * label.move_bp / 1e4
        self.final = 0.0 if label.shape == "v" else self.amp
        self.one_sided = label.one_sided

    def offset(self, ts_ns: int) -> float:
        if ts_ns < self.start:
            return 0.0
        if ts_ns >= self.end:
            return self.final
        u = (ts_ns - self.start) / (self.end - self.start)
        if self.shape == "ramp":
            return self.amp * u
        if self.shape == "grind":  # smooth start and stop: a drift, not a kink
            return self.amp * 0.5 * (1.0 - math.cos(math.pi * u))
        return self.amp * (1.0 - abs(2.0 * u - 1.0))  # "v"


def check_swing(start_ns: int, now_ns: int, size_sigma: float, duration_s: float,
                direction: str, shape: str, burst_rate: float, one_sided: float) -> None:
    """Raise ValueError naming every bad parameter of a swing (all at once, not the first)."""
    problems = []
    if start_ns < now_ns:
        problems.append(f"start_ns {start_ns} is before the market clock {now_ns}")
    if not (math.isfinite(size_sigma) and 0 < size_sigma <= 1000):
        problems.append(f"size_sigma must be in (0, 1000], got {size_sigma!r}")
    if direction not in ("up", "down"):
        problems.append(f"direction must be 'up' or 'down', got {direction!r}")
    if shape not in SWING_SHAPES:
        problems.append(f"shape must be one of {SWING_SHAPES}, got {shape!r}")
    if not (math.isfinite(duration_s) and 0 <= duration_s <= 86_400):
        problems.append(f"duration_s must be in [0, 86400], got {duration_s!r}")
    elif shape in ("ramp", "v") and duration_s <= 0:
        problems.append(f"a {shape} needs duration_s > 0")
    elif shape == "grind" and duration_s < 60:
        problems.append("a grind needs duration_s >= 60")
    if not (math.isfinite(burst_rate) and 0 <= burst_rate <= 100_000):
        problems.append(f"burst_rate must be in [0, 100000], got {burst_rate!r}")
    if not (math.isfinite(one_sided) and 0 <= one_sided <= 1):
        problems.append(f"one_sided must be in [0, 1], got {one_sided!r}")
    if problems:
        msg = "; ".join(problems)
        raise ValueError(msg)
