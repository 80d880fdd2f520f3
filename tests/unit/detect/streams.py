"""Labelled synthetic trade streams from the emulator's market (deterministic)."""

from __future__ import annotations

from ticklake.emulator.market import Market, SwingLabel
from ticklake.emulator.products import PRODUCTS

T0 = 1_764_824_672_000_000_000
SEC = 1_000_000_000

Row = tuple[str, int, float, float, bool]  # symbol, ts_ns, price, qty, buy

# (shape, duration s, size in local sigmas, direction): a dozen large swings.
LARGE_SWINGS: tuple[tuple[str, float, float, str], ...] = (
    ("step", 0, 8, "up"), ("ramp", 2, 12, "down"), ("ramp", 10, 8, "up"),
    ("v", 10, 12, "down"), ("ramp", 60, 8, "down"), ("step", 0, 12, "down"),
    ("v", 2, 12, "up"), ("ramp", 2, 8, "up"), ("v", 60, 8, "up"),
    ("ramp", 10, 12, "down"), ("step", 0, 8, "down"), ("ramp", 60, 12, "up"),
)


def stream(seed: int, seconds: int, *, symbol: str = "BTCUSD", rate: float = 10.0,
           vol_of_vol: float = 0.5, swings: tuple[tuple[str, float, float, str], ...] = (),
           first_s: int = 300, every_s: int = 150) -> tuple[list[Row], tuple[SwingLabel, ...]]:
    """``seconds`` of trades; swing i starts at first_s + i * every_s."""
    market = Market((symbol,), seed=seed, rate=rate, start_ns=T0, vol_of_vol=vol_of_vol,
                    vol_reversion_s=1800.0, rate_vol_power=1.0 if vol_of_vol else 0.0,
                    jumps=False)
    starts = {first_s + i * every_s: s for i, s in enumerate(swings)}
    scale = 10 ** PRODUCTS[symbol].price_exp
    rows: list[Row] = []
    for second in range(1, seconds + 1):
        now = T0 + second * SEC
        if second in starts:
            shape, duration, size, direction = starts[second]
            market.inject_swing(symbol, start_ns=now, size_sigma=size, duration_s=duration,
                                direction=direction, shape=shape)  # type: ignore[arg-type]
        rows.extend((t.symbol, t.ts_ns, t.price / scale, float(t.qty), t.side == "Buy")
                    for t in market.advance(now))
    return rows, market.labels


def window_end(label: SwingLabel) -> int:
    """End of the matching window: end + max(10 s, D/2) (issue 5)."""
    return label.end_ns + max(10 * SEC, round(label.duration_s * SEC / 2))
