"""One peer library's Phemex tickers or bars, pointed at the emulator (a child of the peer tests).

Usage: python market_client.py {ccxt-ticker|ccxt-ohlcv|cryptofeed-candles} <ws url>
                               <exchange symbol> <out.jsonl> [interval seconds]

Writes one JSON line per value the peer hands its user, flushed at once, numbers as the peer
states them (ccxt: floats, by ``repr``; cryptofeed: Decimals, by ``str``):

* ``ccxt-ticker``: ``watch_ticker(symbol)``'s ticker: ``{"timestamp": ms, "open", "high",
  "low", "last", "bid", "ask", "markPrice", "indexPrice", "baseVolume", "quoteVolume"}``;
* ``ccxt-ohlcv``: ``watch_ohlcv(symbol, timeframe)``: every bar of the list it returns,
  ``{"bars": [[ms, open, high, low, close, volume], ...]}`` (its cache, by bar start);
* ``cryptofeed-candles``: one line per ``Candle`` callback: ``{"start": s, "stop": s,
  "interval", "open", "high", "low", "close", "volume"}``.

Neither library is touched beyond its endpoints (as in ``peer_client.py``): cryptofeed's
``wss://`` connect is patched to plain ``ws://``; ccxt's v1 products answer an empty list.

Runs until killed.
"""

from __future__ import annotations

import asyncio
import sys
from typing import IO, Any

from peer_client import CCXT, CRYPTOFEED, ccxt_at, cryptofeed_at, emit

TIMEFRAMES = {60: "1m", 300: "5m", 900: "15m", 1800: "30m", 3600: "1h", 14400: "4h",
              86400: "1d"}


def _number(value: Any) -> str | None:
    return None if value is None else repr(value)


async def run_ccxt_ticker(url: str, symbol: str, out: IO[str]) -> None:
    exchange = ccxt_at(url)
    try:
        while True:
            t = await exchange.watch_ticker(CCXT[symbol])
            emit(out, {"timestamp": t["timestamp"],
                       **{k: _number(t.get(k)) for k in (
                           "open", "high", "low", "last", "bid", "ask", "markPrice",
                           "indexPrice", "baseVolume", "quoteVolume")}})
    finally:
        await exchange.close()


async def run_ccxt_ohlcv(url: str, symbol: str, interval: int, out: IO[str]) -> None:
    exchange = ccxt_at(url)
    exchange.newUpdates = False  # the whole cache each time, not only what changed
    try:
        while True:
            bars = await exchange.watch_ohlcv(CCXT[symbol], TIMEFRAMES[interval])
            emit(out, {"bars": [[bar[0], *map(_number, bar[1:])] for bar in bars]})
    finally:
        await exchange.close()


def run_cryptofeed_candles(url: str, symbol: str, interval: int, out: IO[str]) -> None:
    from cryptofeed import FeedHandler
    from cryptofeed.defines import CANDLES

    Phemex = cryptofeed_at(url)

    async def on_candle(candle: Any, receipt_timestamp: float) -> None:
        emit(out, {"start": candle.start, "stop": candle.stop, "interval": candle.interval,
                   **{k: str(getattr(candle, k)) for k in ("open", "high", "low", "close",
                                                           "volume")}})

    fh = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})
    fh.add_feed(Phemex(symbols=[CRYPTOFEED[symbol]], channels=[CANDLES],
                       callbacks={CANDLES: on_candle}, candle_interval=TIMEFRAMES[interval]))
    fh.run()  # until killed


def main() -> None:
    kind, url, symbol, path = sys.argv[1:5]
    interval = int(sys.argv[5]) if len(sys.argv) > 5 else 60
    with open(path, "a", encoding="utf-8") as out:
        if kind == "ccxt-ticker":
            asyncio.run(run_ccxt_ticker(url, symbol, out))
        elif kind == "ccxt-ohlcv":
            asyncio.run(run_ccxt_ohlcv(url, symbol, interval, out))
        elif kind == "cryptofeed-candles":
            run_cryptofeed_candles(url, symbol, interval, out)
        else:
            sys.exit(f"unknown kind {kind!r}")


if __name__ == "__main__":
    main()
