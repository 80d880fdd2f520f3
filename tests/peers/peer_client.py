"""One peer library's Phemex order book, pointed at the emulator (a child of the peer tests).

Usage: python peer_client.py {cryptofeed|ccxt} <ws url> <exchange symbol> <out.jsonl> [trim]

Writes one JSON line per book state the peer hands its user, flushed at once::

    {"ts": ..., "nonce": ..., "snapshot": ..., "bids": [[price, size], ...], "asks": [...]}

``bids``/``asks`` are every level the peer holds, best first, as the peer states them, in
decimal strings (cryptofeed: its Decimals; ccxt: its floats' ``repr``, exact for the <= 15
significant digits of these books). ``ts`` is the time of the last message applied as the
peer exposes it (cryptofeed: ``OrderBook.timestamp``, float seconds; ccxt: ``timestamp``, int
ms), ``nonce`` the message's ``sequence`` (ccxt ``nonce``; cryptofeed gives None for Phemex),
``snapshot`` whether the state came from a snapshot message (cryptofeed: ``delta is None``;
ccxt does not say: None).

cryptofeed gets one callback per message; ccxt's ``watch_order_book`` returns the book after
one or more messages, trimmed to the message's depth (``OrderBook.limit``), as its users see it.

Neither library's book logic is touched; only their endpoints are pointed at the emulator, as
bench/ingest.py does: cryptofeed insists on ``wss://`` (connect is patched to plain ``ws://``)
and uses the legacy ``/ws`` path, which the emulator serves; ccxt's
``GET /v1/exchange/public/products``, which the emulator does not serve (404), answers an
empty list (ccxt only merges those rows into the v2 ones, which carry every scale).

``trim`` (cryptofeed only): the user's callback keeps the best 30 levels of each side of
cryptofeed's book after every message, the rule of Phemex's "How to manage local orderbook?"
(reference §6.1), which cryptofeed does not apply itself (its ``max_depth`` only limits what
the book shows: the levels beyond stay stored and come back).

Runs until killed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import IO, Any

# The emulator's symbols in each peer's unified names.
CRYPTOFEED = {"BTCUSD": "BTC-USD-PERP", "sBTCUSDT": "BTC-USDT"}
CCXT = {"BTCUSD": "BTC/USD:BTC", "BTCUSDT": "BTC/USDT:USDT", "sBTCUSDT": "BTC/USDT"}
DEPTH = 30  # both peers subscribe with [symbol]: Phemex's depth-30 book


def emit(out: IO[str], record: dict[str, Any]) -> None:
    out.write(json.dumps(record, separators=(",", ":")) + "\n")
    out.flush()


def cryptofeed_at(url: str) -> Any:
    """cryptofeed's Phemex feed class, its endpoints pointed at the emulator at ``url``."""
    import cryptofeed.connection as cf_connection
    import websockets
    from cryptofeed.connection import RestEndpoint, Routes, WebsocketEndpoint
    from cryptofeed.exchanges import Phemex

    def plain_connect(address: str, **kwargs: Any) -> Any:  # it insists on wss://; no TLS here
        return websockets.connect(address.replace("wss://", "ws://", 1), **kwargs)

    cf_connection.connect = plain_connect
    http = url.replace("ws://", "http://").rstrip("/")
    Phemex.websocket_endpoints = [WebsocketEndpoint(http.replace("http://", "wss://") + "/ws",
                                                    limit=20)]
    Phemex.rest_endpoints = [RestEndpoint(http, routes=Routes(
        "/exchange/public/cfg/v2/products"))]
    return Phemex


def ccxt_at(url: str) -> Any:
    """A ccxt pro Phemex exchange pointed at the emulator at ``url``."""
    import ccxt.pro

    http = url.replace("ws://", "http://").rstrip("/")
    exchange = ccxt.pro.phemex()
    exchange.urls["api"] = {"v1": http + "/v1", "v2": http, "public": http + "/exchange/public",
                            "private": http, "ws": url}

    async def no_v1_products(params: Any = None) -> dict[str, Any]:
        return {"code": 0, "msg": "OK", "data": []}

    exchange.v1GetExchangePublicProducts = no_v1_products
    return exchange


def run_cryptofeed(url: str, symbol: str, out: IO[str], trim: bool) -> None:
    from cryptofeed import FeedHandler
    from cryptofeed.defines import L2_BOOK

    Phemex = cryptofeed_at(url)

    async def on_book(book: Any, receipt_timestamp: float) -> None:
        if trim:
            for side, worst in ((book.book.bids, min), (book.book.asks, max)):
                while len(side) > DEPTH:
                    del side[worst(side.keys())]
        emit(out, {
            "ts": book.timestamp, "nonce": book.sequence_number, "snapshot": book.delta is None,
            "bids": [[str(p), str(q)] for p, q in book.book.bids.to_list()],
            "asks": [[str(p), str(q)] for p, q in book.book.asks.to_list()],
        })

    fh = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})
    fh.add_feed(Phemex(symbols=[CRYPTOFEED[symbol]], channels=[L2_BOOK],
                       callbacks={L2_BOOK: on_book}))
    fh.run()  # until killed


async def run_ccxt(url: str, symbol: str, out: IO[str]) -> None:
    exchange = ccxt_at(url)
    try:
        while True:
            book = await exchange.watch_order_book(CCXT[symbol])
            emit(out, {
                "ts": book["timestamp"], "nonce": book["nonce"], "snapshot": None,
                "bids": [[repr(p), repr(q)] for p, q in book["bids"]],
                "asks": [[repr(p), repr(q)] for p, q in book["asks"]],
            })
    finally:
        await exchange.close()


def main() -> None:
    peer, url, symbol, path = sys.argv[1:5]
    mode = sys.argv[5] if len(sys.argv) > 5 else ""
    with open(path, "a", encoding="utf-8") as out:
        if peer == "cryptofeed":
            run_cryptofeed(url, symbol, out, trim=mode == "trim")
        elif peer == "ccxt":
            asyncio.run(run_ccxt(url, symbol, out))
        else:
            sys.exit(f"unknown peer {peer!r}")


if __name__ == "__main__":
    main()
