"""Small hand-made archives: ``raw`` rows in the documented layout (docs/lake-layout.md), frames
written as the reference prints them, and the replay's timeline read back."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Coroutine, Iterable, Sequence
from pathlib import Path
from typing import Any

from ticklake.emulator.replay.config import ReplayConfig
from ticklake.emulator.replay.products import Products
from ticklake.emulator.replay.source import Archive
from ticklake.emulator.replay.timeline import Timeline
from ticklake.emulator.replay.wire import Item

from ..support import scaled
from ..unit.catalog.helpers import SECOND, T0, raw, write_lake, write_table

__all__ = ["CONTROL", "SECOND", "T0", "Archived", "book", "control", "items", "kline",
           "lake_of", "run", "tick", "ticker", "trades", "write_table"]

CONTROL = 4294967295
PRODUCTS = [
    {"symbol": "BTCUSD", "family": "coin-m", "price_scale": 4, "qty_scale": 0, "listed": True,
     "value_scale": 8, "tick_symbols": [".BTC", ".MBTC", ".BTCFR", ".BTCFR8H"]},
    {"symbol": "BTCUSDT", "family": "usd-m", "price_scale": 8, "qty_scale": 8, "listed": True,
     "value_scale": None, "tick_symbols": [".BTCUSDT", ".MBTCUSDT", ".BTCUSDTFR",
                                           ".BTCUSDTFR8H"]},
    {"symbol": "sBTCUSDT", "family": "spot", "price_scale": 8, "qty_scale": 8, "listed": True,
     "value_scale": 8, "tick_symbols": []},
]


def control(products: Sequence[dict[str, Any]] = PRODUCTS) -> str:
    return json.dumps({"products": list(products), "snapshot_size": None,
                       "source": "test", "ticklake": "decode-params", "version": 1})


def trades(symbol: str, seq: int, rows: Iterable[Sequence[Any]], kind: str = "incremental",
           p: bool = False) -> str:
    key = "trades_p" if p else "trades"
    return json.dumps({"sequence": seq, "symbol": symbol, "type": kind, key: list(rows)},
                      separators=(",", ":"))


def book(symbol: str, seq: int, ts: int, bids: Iterable[Sequence[Any]] = (),
         asks: Iterable[Sequence[Any]] = (), kind: str = "incremental", p: bool = False) -> str:
    body = {"asks": list(asks), "bids": list(bids)}
    if p:
        return json.dumps({"depth": 30, "orderbook_p": body, "sequence": seq, "symbol": symbol,
                           "timestamp": ts, "type": kind}, separators=(",", ":"))
    return json.dumps({"book": body, "depth": 30, "sequence": seq, "symbol": symbol,
                       "timestamp": ts, "type": kind}, separators=(",", ":"))


def ticker(symbol: str, ts: int, close: int) -> str:
    return json.dumps({"market24h": {"close": close, "symbol": symbol}, "timestamp": ts},
                      separators=(",", ":"))


def tick(symbol: str, ts: int, last: int) -> str:
    return json.dumps({"tick": {"last": last, "scale": 4, "symbol": symbol, "timestamp": ts}},
                      separators=(",", ":"))


def kline(symbol: str, seq: int, bars: Iterable[Sequence[Any]], kind: str = "incremental") -> str:
    return json.dumps({"kline": list(bars), "priceScale": 4, "sequence": seq, "symbol": symbol,
                       "type": kind, "valueScale": 8}, separators=(",", ":"))


class Archived:
    """Frames as a recorder's spool would hold them: one offset each, a receive time each."""

    def __init__(self, start_ns: int = T0) -> None:
        self.rows: list[dict[str, Any]] = []
        self.now = start_ns

    def add(self, payload: str, conn: int = 1, *, after_ns: int = 1_000_000) -> int:
        """Receive ``payload`` on connection ``conn`` ``after_ns`` after the previous one."""
        self.now += after_ns
        self.rows.append(raw(self.now, payload, offset=len(self.rows), conn_id=conn))
        return self.now

    def control(self, products: Sequence[dict[str, Any]] = PRODUCTS) -> None:
        self.add(control(products), CONTROL, after_ns=0)


def lake_of(root: Path, archived: Archived) -> Path:
    return write_lake(root, raw=archived.rows)


def items(root: Path | str, **config: Any) -> list[Item]:
    """The replay's timeline of the lake at ``root``, every item (lead-in included)."""
    archive = Archive(str(root))
    cfg = ReplayConfig(lake=str(root), **config)
    timeline = Timeline(archive, cfg, Products.from_control(
        archive.control_payloads(cfg.to_ns), cfg.symbols))
    out: list[Item] = []
    while batch := timeline.batch(7):  # small batches: the seams are exercised too
        out.extend(batch)
    return out


def run(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """An async test run on its own event loop, with a (scaled) deadline."""

    @functools.wraps(test)
    def sync(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(test(*args, **kwargs), scaled(90)))

    return sync
