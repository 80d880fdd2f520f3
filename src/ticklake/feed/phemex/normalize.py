"""Wire rows → exact scaled integers; pure functions shared by the live path and replays."""

from __future__ import annotations

from typing import cast

from ticklake.feed.phemex.wire import TradeRow, TradeRowP

# (ts_ns, side, price_e, qty_e): the normalized row, hashable for multiset de-duplication.
# The side stays the wire's "Buy"/"Sell": the integer channels' rows are then msgspec's decoded
# tuples as they are (no per-trade copy); consumers map it (``model.SIDES``) where they need to.
Row = tuple[int, str, int, int]
_MAX_DECIMAL_LEN = 40


class BadNumber(ValueError):
    """A decimal string that cannot be represented exactly at the product's scale."""


def timestamp_ns(value: object, default: int) -> int:
    """A message's ns timestamp: an integer, or (ccxt accepts it, so do we) a string of
    digits; ``default`` (the receive time) when absent. ValueError for anything else."""
    if value is None:
        return default
    if type(value) is int and 0 <= value < 2**63:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and int(value) < 2**63:
        return int(value)
    text = value if isinstance(value, str) else repr(value)
    msg = f"not a timestamp: {text[:40]!r}"
    raise ValueError(msg)


def scale_decimal(text: str, scale: int) -> int:
    """``"20703.6"`` at scale 8 → ``2070360000000``, exactly; no exponent, no sign, no float."""
    if not text or len(text) > _MAX_DECIMAL_LEN or not text.isascii():
        msg = f"not a decimal: {text[:_MAX_DECIMAL_LEN]!r}"
        raise BadNumber(msg)
    whole, _, frac = text.partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or text.endswith("."):
        msg = f"not a decimal: {text!r}"
        raise BadNumber(msg)
    if len(frac) > scale:
        if frac[scale:].strip("0"):
            msg = f"{text!r} has more than {scale} decimals"
            raise BadNumber(msg)
        frac = frac[:scale]
    scaled: int = int(whole + frac.ljust(scale, "0"))
    return scaled


def normalize_rows(rows: list[TradeRow]) -> list[Row]:
    """Integer rows (COIN-M, spot): already scaled on the wire, so already normalized."""
    return cast("list[Row]", rows)


def normalize_rows_p(rows: list[TradeRowP], price_scale: int, qty_scale: int) -> list[Row]:
    """Decimal-string rows (USDⓈ-M ``trades_p``), scaled to exact integers."""
    return [
        (ts, side, scale_decimal(price, price_scale), scale_decimal(qty, qty_scale))
        for ts, side, price, qty in rows
    ]
