"""Server frames, encoded by hand (the emulator shares no codec with the client).

Key order follows the 2025 captures: ``{"sequence","symbol","type","trades"}`` and, on
USDⓈ-M messages, ``{"dts","mts","sequence","symbol","type","trades_p"}``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from ticklake.emulator.products import Product
from ticklake.emulator.simulator import Trade

__all__ = [
    "INVALID_ARGUMENT",
    "ack",
    "error_reply",
    "pong",
    "trade_row",
    "trades_message",
]

INVALID_ARGUMENT = 6001


def _id(request_id: int | None) -> str:
    return "null" if request_id is None else str(int(request_id))


def ack(request_id: int) -> str:
    return f'{{"error":null,"id":{_id(request_id)},"result":{{"status":"success"}}}}'


def pong(request_id: int) -> str:
    return f'{{"error":null,"id":{_id(request_id)},"result":"pong"}}'


def error_reply(request_id: int | None, code: int, message: str) -> str:
    return (
        f'{{"error":{{"code":{int(code)},"message":{json.dumps(message)}}},'
        f'"id":{_id(request_id)},"result":null}}'
    )


def trade_row(product: Product, trade: Trade) -> str:
    """One positional row: ints for COIN-M/spot, decimal strings for USDⓈ-M."""
    if product.channel == "trade_p":
        return (
            f'[{trade.ts_ns},"{trade.side}","{product.price_str(trade.price)}",'
            f'"{product.qty_str(trade.qty)}"]'
        )
    return f'[{trade.ts_ns},"{trade.side}",{trade.price},{trade.qty}]'


def trades_message(
    product: Product,
    kind: str,
    sequence: int,
    rows: Sequence[str],
    extra: tuple[int, int] | None = None,
) -> str:
    """A ``snapshot``/``incremental`` trade message; ``extra`` = (dts, mts) for ``_p``."""
    head = ""
    if extra is not None and product.channel == "trade_p":
        head = f'"dts":{extra[0]},"mts":{extra[1]},'
    return (
        f'{{{head}"sequence":{sequence},"symbol":"{product.symbol}","type":"{kind}",'
        f'"{product.key}":[{",".join(rows)}]}}'
    )
