"""Kline frames (reference §6.2), encoded by hand, and their truth records.

``{"kline":[[ts,interval,lastCloseEp,openEp,highEp,lowEp,closeEp,volume,turnoverEv],...],
"priceScale":4,"sequence":N,"symbol":"BTCUSD","type":"snapshot","valueScale":8}``: keys in
the order of ROQ's 2025 captures (alphabetical), ``ts`` and ``interval`` integers (seconds).
COIN-M and spot carry integers: prices at the price scale, COIN-M volume in contracts, spot
volume at the base currency's scale (``qtyScale``), turnover at the settle (COIN-M) or quote
(spot) currency's scale (``valueScale``). ``kline_p`` carries the seven values as exact
decimal strings without trailing zeros and states only ``"priceScale":0`` (H's sample).
Without ``kline_scales`` no scale is stated (the older messages: a client must take them
from the products payload). No top-level timestamp (§6.1: kline frames had none).

A *broken* frame (the ``kline_malformed`` fault) carries ``"abc"`` as the first row's
``closeEp`` (``kline``) or a first row without its close (eight values, ``kline_p``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ticklake.emulator.klines import Row
from ticklake.emulator.products import format_units
from ticklake.emulator.tickers import TickerSpec

__all__ = ["BROKEN", "kline_message", "kline_record"]

BROKEN = '"abc"'


def _int_row(row: Row, interval: int, broken: bool) -> str:
    ts, last, o, h, lo, c, v, t = row
    close = BROKEN if broken else str(c)
    return f"[{ts},{interval},{last},{o},{h},{lo},{close},{v},{t}]"


def _text_row(spec: TickerSpec, row: Row, interval: int, broken: bool) -> str:
    pe, qe, ve = spec.product.price_exp, spec.product.qty_exp, spec.value_exp
    ts, last, o, h, lo, c, v, t = row
    prices = [format_units(p, pe) for p in ((last, o, h, lo) if broken else (last, o, h, lo, c))]
    cells = ",".join(f'"{x}"' for x in (*prices, format_units(v, qe), format_units(t, ve)))
    return f"[{ts},{interval},{cells}]"


def _scales(spec: TickerSpec) -> tuple[str, str]:
    """The scale keys before and after ``sequence``/``symbol``/``type`` (alphabetical)."""
    p = spec.product
    if p.family == "usdt_m":
        return '"priceScale":0,', ""
    qty = f'"qtyScale":{p.qty_exp},' if p.family == "spot" else ""
    return f'"priceScale":{p.price_exp},{qty}', f',"valueScale":{spec.value_exp}'


def kline_message(spec: TickerSpec, kind: str, sequence: int, interval: int,
                  rows: Sequence[Row], *, scales: bool, broken: bool = False) -> str:
    """A ``snapshot``/``incremental`` message of ``rows`` in the given order; ``broken``:
    the first row carries the fault's bad value."""
    p = spec.product
    text = p.family == "usdt_m"
    encoded = [_text_row(spec, r, interval, broken and i == 0) if text
               else _int_row(r, interval, broken and i == 0) for i, r in enumerate(rows)]
    head, tail = _scales(spec) if scales else ("", "")
    key = "kline_p" if text else "kline"
    return (f'{{"{key}":[{",".join(encoded)}],{head}"sequence":{sequence},'
            f'"symbol":"{p.symbol}","type":"{kind}"{tail}}}')


def kline_record(channel: str, spec: TickerSpec, interval: int, row: Row, *, kind: str,
                 final: bool, sequence: int, ts_ns: int) -> dict[str, Any]:
    """The truth line of one bar version as published: natural decimal strings (price
    8673.5, COIN-M volume in contracts, spot and USDⓈ-M in base qty, turnover in the settle
    (COIN-M) or quote currency)."""
    pe, qe, ve = spec.product.price_exp, spec.product.qty_exp, spec.value_exp
    ts, last, o, h, lo, c, v, t = row
    return {
        "channel": channel, "symbol": spec.product.symbol, "interval": interval, "ts": ts,
        "type": kind, "final": final, "sequence": sequence, "ts_ns": ts_ns,
        "last_close": format_units(last, pe), "open": format_units(o, pe),
        "high": format_units(h, pe), "low": format_units(lo, pe), "close": format_units(c, pe),
        "volume": format_units(v, qe), "turnover": format_units(t, ve),
    }
