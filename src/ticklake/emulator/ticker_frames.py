"""Ticker and tick frames (reference §6.3, §6.4), encoded by hand, and their truth records.

Key order follows the reference's samples: COIN-M ``market24h`` as in C (``timestamp`` inside
the object only when ``ticker_inner_timestamp``, after ``symbol`` as in C's sample), spot and
``market24h_p`` alphabetical as in S and ROQ's capture, the pack as in H. Integers for COIN-M
(``Ep``/``Er``/``Ev``, contracts) and spot (``Ep``/``Ev``); exact decimal strings without
trailing zeros for USDⓈ-M (``Rp``/``Rq``/``Rv``/``Rr``) and ``tick_p``.

A *broken* frame (the ``ticker_malformed`` fault) carries ``"abc"`` where a number belongs
(COIN-M ``markPrice``, spot ``lastEp``, ``markPriceRp``) or, in the pack, one row without its
``markRp`` value (one value fewer than ``fields``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ticklake.emulator.products import format_units
from ticklake.emulator.tickers import RATIO_EXP, TickerSpec, TickerValues, TickName

__all__ = [
    "PACK_FIELDS",
    "PACK_METHOD",
    "coin_m_message",
    "market24h_p_message",
    "pack_message",
    "spot_message",
    "tick_message",
    "tick_record",
    "tick_value",
    "ticker_record",
]

PACK_METHOD = "perp_market24h_pack_p.update"
_LEGACY = ("symbol", "openRp", "highRp", "lowRp", "lastRp", "volumeRq", "turnoverRv",
           "openInterestRv", "indexRp", "markRp", "fundingRateRr", "predFundingRateRr")
# A column no client knows, appended after bidRp/askRp: clients must read by ``fields`` name.
APPENDED = ("fundingIntervalRq", "28800")
PACK_FIELDS: dict[str, tuple[str, ...]] = {
    "legacy": _LEGACY,
    "2024": (*_LEGACY, "bidRp", "askRp"),  # appended Aug 2024 (phemex-docs fba528c)
    "appended": (*_LEGACY, "bidRp", "askRp", APPENDED[0]),
}
BROKEN = '"abc"'

# What each channel carries (the truth's other values are null).
_CARRIES: dict[str, frozenset[str]] = {
    "market24h": frozenset({"index", "mark", "oi", "funding"}),
    "spot_market24h": frozenset({"bidask"}),
    "market24h_p": frozenset({"index", "mark", "oi", "funding"}),
}


def _n(value: int | None) -> int:
    assert value is not None  # a derivative's value (the caller picked the family)
    return value


def coin_m_message(v: TickerValues, ts_ns: int, *, inner_ts: bool, broken: bool) -> str:
    mark = BROKEN if broken else str(_n(v.mark))
    inner = f'"timestamp":{ts_ns},' if inner_ts else ""
    return (
        f'{{"market24h":{{"open":{v.open},"high":{v.high},"low":{v.low},"close":{v.last},'
        f'"indexPrice":{_n(v.index)},"markPrice":{mark},"openInterest":{_n(v.open_interest)},'
        f'"fundingRate":{_n(v.funding_rate)},"predFundingRate":{_n(v.pred_funding_rate)},'
        f'"symbol":"{v.symbol}",{inner}"turnover":{v.turnover},"volume":{v.volume}}},'
        f'"timestamp":{ts_ns}}}'
    )


def spot_message(v: TickerValues, ts_ns: int, *, broken: bool) -> str:
    last = BROKEN if broken else str(v.last)
    return (
        f'{{"spot_market24h":{{"askEp":{_n(v.ask)},"bidEp":{_n(v.bid)},"highEp":{v.high},'
        f'"lastEp":{last},"lowEp":{v.low},"openEp":{v.open},"symbol":"{v.symbol}",'
        f'"timestamp":{ts_ns},"turnoverEv":{v.turnover},"volumeEv":{v.volume}}},'
        f'"timestamp":{ts_ns}}}'
    )


def _strings(spec: TickerSpec, v: TickerValues) -> dict[str, str]:
    """USDⓈ-M values as exact decimal strings, by pack field name."""
    pe, qe = spec.product.price_exp, spec.product.qty_exp
    out = {
        "symbol": v.symbol,
        "openRp": format_units(v.open, pe), "highRp": format_units(v.high, pe),
        "lowRp": format_units(v.low, pe), "lastRp": format_units(v.last, pe),
        "volumeRq": format_units(v.volume, qe),
        "turnoverRv": format_units(v.turnover, spec.value_exp),
        "openInterestRv": format_units(_n(v.open_interest), qe),
        "indexRp": format_units(_n(v.index), pe), "markRp": format_units(_n(v.mark), pe),
        "fundingRateRr": format_units(_n(v.funding_rate), RATIO_EXP),
        "predFundingRateRr": format_units(_n(v.pred_funding_rate), RATIO_EXP),
        "bidRp": format_units(_n(v.bid), pe), "askRp": format_units(_n(v.ask), pe),
    }
    out[APPENDED[0]] = APPENDED[1]
    return out


def market24h_p_message(spec: TickerSpec, v: TickerValues, ts_ns: int, *, broken: bool) -> str:
    s = _strings(spec, v)
    mark = BROKEN if broken else f'"{s["markRp"]}"'
    return (
        f'{{"market24h_p":{{"closeRp":"{s["lastRp"]}","fundingRateRr":"{s["fundingRateRr"]}",'
        f'"highRp":"{s["highRp"]}","indexPriceRp":"{s["indexRp"]}","lowRp":"{s["lowRp"]}",'
        f'"markPriceRp":{mark},"openInterestRv":"{s["openInterestRv"]}",'
        f'"openRp":"{s["openRp"]}","predFundingRateRr":"{s["predFundingRateRr"]}",'
        f'"symbol":"{v.symbol}","turnoverRv":"{s["turnoverRv"]}","volumeRq":"{s["volumeRq"]}"}},'
        f'"timestamp":{ts_ns}}}'
    )


def pack_message(rows: Sequence[tuple[TickerSpec, TickerValues]], fields: str, kind: str,
                 ts_ns: int, *, broken_row: int | None = None) -> str:
    names = PACK_FIELDS[fields]
    encoded = []
    for i, (spec, v) in enumerate(rows):
        s = _strings(spec, v)
        cells = [f'"{s[n]}"' for n in names if not (i == broken_row and n == "markRp")]
        encoded.append(f"[{','.join(cells)}]")
    quoted = ",".join(f'"{n}"' for n in names)
    return (
        f'{{"data":[{",".join(encoded)}],"fields":[{quoted}],"method":"{PACK_METHOD}",'
        f'"timestamp":{ts_ns},"type":"{kind}"}}'
    )


def tick_value(name: TickName, spec: TickerSpec, v: TickerValues) -> tuple[int, int]:
    """(value, scale) of a tick: prices at the price scale, rates at 8."""
    value = _n(v.tick(name.kind))
    scale = spec.product.price_exp if name.kind in ("index", "mark") else RATIO_EXP
    return value, scale


def tick_message(symbol: str, name: TickName, value: int, scale: int, ts_ns: int) -> str:
    if name.channel == "tick_p":
        return (f'{{"tick_p":{{"last":"{format_units(value, scale)}","symbol":"{symbol}",'
                f'"timestamp":{ts_ns}}}}}')
    return (f'{{"tick":{{"last":{value},"scale":{scale},"symbol":"{symbol}",'
            f'"timestamp":{ts_ns}}}}}')


def tick_record(channel: str, symbol: str, ts_ns: int, value: int, scale: int) -> dict[str, Any]:
    return {"channel": channel, "symbol": symbol, "ts_ns": ts_ns,
            "value": format_units(value, scale)}


def ticker_record(channel: str, spec: TickerSpec, v: TickerValues, ts_ns: int,
                  fields: str = "2024") -> dict[str, Any]:
    """The truth line of one published value set: natural decimal strings, null where the
    channel does not carry the value; ``extra``: the pack's appended unknown columns."""
    if channel == "perp_market24h_pack_p":
        names = PACK_FIELDS[fields]
        carries = {"index", "mark", "oi", "funding"} | ({"bidask"} if "bidRp" in names else set())
        extra = {APPENDED[0]: APPENDED[1]} if APPENDED[0] in names else {}
    else:
        carries, extra = set(_CARRIES[channel]), {}
    pe, qe = spec.product.price_exp, spec.product.qty_exp

    def opt(value: int | None, exp: int, key: str) -> str | None:
        return format_units(value, exp) if key in carries and value is not None else None

    return {
        "channel": channel, "symbol": v.symbol, "ts_ns": ts_ns,
        "open": format_units(v.open, pe), "high": format_units(v.high, pe),
        "low": format_units(v.low, pe), "last": format_units(v.last, pe),
        "bid": opt(v.bid, pe, "bidask"), "ask": opt(v.ask, pe, "bidask"),
        "index_price": opt(v.index, pe, "index"), "mark_price": opt(v.mark, pe, "mark"),
        "volume": format_units(v.volume, qe), "turnover": format_units(v.turnover, spec.value_exp),
        "open_interest": opt(v.open_interest, qe, "oi"),
        "funding_rate": opt(v.funding_rate, RATIO_EXP, "funding"),
        "pred_funding_rate": opt(v.pred_funding_rate, RATIO_EXP, "funding"),
        "extra": extra,
    }
