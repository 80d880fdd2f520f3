"""One peer library's Phemex trades, pointed at a replay (a child of the replay peer tests).

Usage: python peer_trades.py {cryptofeed|ccxt} <ws url> <out.jsonl> <exchange symbol>...

Writes one JSON line per trade the peer hands its user, flushed at once, numbers as the peer
states them: ``{"symbol": <exchange symbol>, "ts": ..., "side": "buy"|"sell", "price": str,
"amount": str}`` (cryptofeed: ``Trade.timestamp`` float seconds, Decimals by ``str``; ccxt:
``timestamp`` int ms, floats by ``repr``). The endpoints are pointed at the replay as the peer
tests point them at the emulator (``tests/peers/peer_client.py``); neither library is touched
otherwise. Runs until killed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "peers"))

from peer_client import CCXT, CRYPTOFEED, ccxt_at, cryptofeed_at


def emit(out: IO[str], record: dict[str, Any]) -> None:
    out.write(json.dumps(record, separators=(",", ":")) + "\n")
    out.flush()


def run_cryptofeed(url: str, symbols: list[str], out: IO[str]) -> None:
    from cryptofeed import FeedHandler
    from cryptofeed.defines import TRADES

    phemex = cryptofeed_at(url)
    exchange_of = {CRYPTOFEED[s]: s for s in symbols}

    async def on_trade(trade: Any, receipt_timestamp: float) -> None:
        emit(out, {"symbol": exchange_of[trade.symbol], "ts": trade.timestamp,
                   "side": trade.side, "price": str(trade.price), "amount": str(trade.amount)})

    fh = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})
    fh.add_feed(phemex(symbols=list(exchange_of), channels=[TRADES],
                       callbacks={TRADES: on_trade}))
    fh.run()  # until killed


async def run_ccxt(url: str, symbols: list[str], out: IO[str]) -> None:
    exchange = ccxt_at(url)
    exchange.options["tradesLimit"] = 1_000_000  # keep every trade it was given

    async def watch(symbol: str) -> None:
        while True:
            for t in await exchange.watch_trades(CCXT[symbol]):
                emit(out, {"symbol": symbol, "ts": t["timestamp"], "side": t["side"],
                           "price": repr(t["price"]), "amount": repr(t["amount"])})

    try:
        await asyncio.gather(*(watch(s) for s in symbols))
    finally:
        await exchange.close()


def main() -> None:
    peer, url, path, *symbols = sys.argv[1:]
    with open(path, "a", encoding="utf-8") as out:
        if peer == "cryptofeed":
            run_cryptofeed(url, symbols, out)
        elif peer == "ccxt":
            asyncio.run(run_ccxt(url, symbols, out))
        else:
            sys.exit(f"unknown peer {peer!r}")


if __name__ == "__main__":
    main()
