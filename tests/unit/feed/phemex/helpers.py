"""Drive a PhemexProtocol by hand: a manual clock and JSON frames written as literals."""

from __future__ import annotations

import json
from typing import Any

from ticklake.feed.events import Event, TradesReceived
from ticklake.feed.phemex import PhemexProtocol, ProtocolConfig, Subscription, default_products
from ticklake.model import Trade

S = 1_000_000_000
WALL = 1_800_000_000 * S  # wall-clock receive times in tests: 2027, after every fixture


def make_protocol(*symbols: str, config: ProtocolConfig | None = None) -> PhemexProtocol:
    products = default_products()
    subs = [Subscription.trades(products.require(s)) for s in symbols or ("BTCUSD",)]
    return PhemexProtocol(subs, products, config)


def sent(protocol: PhemexProtocol) -> list[dict[str, Any]]:
    return [json.loads(text) for text in protocol.data_to_send()]


def connect_and_ack(protocol: PhemexProtocol, now: int = 0) -> list[Event]:
    """Open a connection and acknowledge every subscribe the protocol sends."""
    protocol.connection_made(now)
    for request in sent(protocol):
        reply = {"error": None, "id": request["id"], "result": {"status": "success"}}
        protocol.receive_frame(json.dumps(reply), now)
    return protocol.events_received()


def feed(protocol: PhemexProtocol, message: dict[str, Any] | str, now: int = 0) -> list[Event]:
    text = message if isinstance(message, str) else json.dumps(message)
    protocol.receive_frame(text, now, recv_ns=WALL + now)
    return protocol.events_received()


def trades_of(events: list[Event]) -> list[Trade]:
    return [t for e in events if isinstance(e, TradesReceived) for t in e.trades]


def rows_of(trades: list[Trade]) -> list[tuple[int, str, int, int]]:
    return [(t.ts_exchange_ns, t.side, t.price_e, t.qty_e) for t in trades]


def trade_msg(
    kind: str, rows: list[list[Any]], sequence: int, symbol: str = "BTCUSD", key: str = "trades"
) -> dict[str, Any]:
    return {"sequence": sequence, "symbol": symbol, "type": kind, key: rows}
