"""Client requests to the replay, answered as the exchange answers them (reference §2-§6, the
emulator's choices where the reference is silent: :mod:`ticklake.emulator.dispatch`).

* ``server.ping`` → ``{"error":null,"id":N,"result":"pong"}``;
* ``trade(_p)``, ``orderbook(_p)``, ``market24h``, ``spot_market24h``, ``market24h_p``,
  ``perp_market24h_pack_p``, ``tick(_p)``, ``kline(_p)`` ``.subscribe``: the ack, then the
  snapshot built from the archive at the replay's position
  (:mod:`~ticklake.emulator.replay.market`), then every later archived frame of it;
* their ``.unsubscribe``: ``[]`` drops every slot of the channel, ``[symbol]`` that symbol's
  (``orderbook(_p).unsubscribe [symbol]`` is acked and does nothing, §6.1);
* a symbol the archive's products do not have, or of another family's channel, a bad kline
  interval, bad params → 6001 ``invalid argument``; a frame that is not a JSON object with an
  integer id → 6001 with ``"id": null``; ``user.auth`` and the private channels → 6001; any
  other method → 6002 ``method not found``;
* more subscriptions than ``max_subscriptions`` (20, §1.2) → close 1008, as the emulator.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ticklake.emulator.book import parse_book_params
from ticklake.emulator.config import UNKNOWN_METHOD_CODE
from ticklake.emulator.dispatch import parse_request
from ticklake.emulator.frames import INVALID_ARGUMENT, ack, error_reply, pong
from ticklake.emulator.klines import INTERVALS
from ticklake.emulator.replay.wire import PACK

if TYPE_CHECKING:
    from ticklake.emulator.replay.connection import Client, Slot
    from ticklake.emulator.replay.server import Replay

__all__ = ["handle_message"]

TRADE = ("trade", "trade_p")
BOOK = ("orderbook", "orderbook_p")
TICKER = ("market24h", "spot_market24h", "market24h_p", PACK)
TICK = ("tick", "tick_p")
KLINE = ("kline", "kline_p")
ALL = "*"
_UNSERVED = frozenset({"aop", "aop_p", "wo"})
_INVALID = "invalid argument"


def handle_message(rp: Replay, client: Client, message: str | bytes) -> None:
    request = parse_request(message)
    rid = request.get("id") if request is not None else None
    if request is None or type(rid) is not int:
        client.push(error_reply(None, INVALID_ARGUMENT, _INVALID))
        return
    method = request.get("method")
    params = request.get("params")
    if method == "server.ping":
        client.last_heartbeat = time.monotonic()
        client.push(pong(rid))
        return
    channel, _, verb = method.rpartition(".") if isinstance(method, str) else ("", "", "")
    if verb in ("subscribe", "unsubscribe") and channel in _HANDLERS:
        _HANDLERS[channel](rp, client, rid, channel, params, verb == "subscribe")
    elif method == "user.auth" or channel in _UNSERVED:
        client.push(error_reply(rid, INVALID_ARGUMENT, _INVALID))
    else:
        client.push(error_reply(rid, UNKNOWN_METHOD_CODE, "method not found"))


def _invalid(client: Client, rid: int) -> None:
    client.push(error_reply(rid, INVALID_ARGUMENT, _INVALID))


def _first(params: object) -> str | None:
    """The first param if it is a string (only the first symbol is honoured, §4)."""
    if isinstance(params, list) and params and isinstance(params[0], str):
        return params[0]
    return None


def _unsubscribe(rp: Replay, client: Client, rid: int, channel: str,
                 symbol: str | None) -> None:
    """Drop ``channel``'s slots: all (``symbol`` None) or one symbol's (klines: every
    interval of it)."""
    for slot in [s for s in client.subscriptions if s[0] == channel]:
        if symbol is None or slot[1] == symbol or slot[1].rpartition("@")[0] == symbol:
            rp.unsubscribe(client, slot)
    client.push(ack(rid))


def _subscribe(rp: Replay, client: Client, rid: int, slot: Slot, depth: int,
               snapshot: list[str]) -> None:
    if not rp.subscribe(client, slot, depth):
        return  # over the limit: the connection is being closed
    client.push(ack(rid))
    for text in snapshot:
        client.push(text)


def _trade(rp: Replay, client: Client, rid: int, channel: str, params: object,
           sub: bool) -> None:
    symbol = _first(params)
    valid = symbol is not None and rp.products.channel(symbol, 0) == channel
    if not sub and params == []:
        _unsubscribe(rp, client, rid, channel, None)
    elif not valid or symbol is None:
        _invalid(client, rid)
    elif sub:
        _subscribe(rp, client, rid, (channel, symbol), 0,
                   [rp.market.trade_snapshot(channel, symbol)])
    else:
        _unsubscribe(rp, client, rid, channel, symbol)


def _book(rp: Replay, client: Client, rid: int, channel: str, params: object,
          sub: bool) -> None:
    if not sub:
        if not isinstance(params, list):
            _invalid(client, rid)
        elif params:
            client.push(ack(rid))  # [symbol]: a silent no-op (§6.1)
        else:
            _unsubscribe(rp, client, rid, channel, None)
        return
    parsed = parse_book_params(params)
    if parsed is None or rp.products.channel(parsed[0], 1) != channel:
        _invalid(client, rid)
        return
    symbol, depth = parsed
    text = rp.market.book_snapshot(symbol, depth)
    _subscribe(rp, client, rid, (channel, symbol), depth, [] if text is None else [text])


def _ticker(rp: Replay, client: Client, rid: int, channel: str, params: object,
            sub: bool) -> None:
    if not isinstance(params, list):
        _invalid(client, rid)
        return
    symbol = _first(params)
    if not params:
        name: str | None = ALL if channel in TICKER else None
    elif channel in TICK:
        name = symbol if symbol is not None and rp.products.ticks.get(symbol) == channel \
            else None
    elif channel == PACK:
        name = ALL  # the pack is whole: a symbol is ignored
    else:
        name = symbol if symbol is not None and rp.products.channel(symbol, 3) == channel \
            else None
    if not sub and not params:
        _unsubscribe(rp, client, rid, channel, None)
    elif name is None:
        _invalid(client, rid)
    elif sub:
        _subscribe(rp, client, rid, (channel, name), 0,
                   rp.market.ticker_snapshot(channel, name))
    else:
        rp.unsubscribe(client, (channel, name))
        client.push(ack(rid))


def _kline(rp: Replay, client: Client, rid: int, channel: str, params: object,
           sub: bool) -> None:
    symbol = _first(params)
    valid = symbol is not None and rp.products.channel(symbol, 2) == channel
    if not sub:
        if isinstance(params, list) and not params:
            _unsubscribe(rp, client, rid, channel, None)
        elif valid:
            _unsubscribe(rp, client, rid, channel, symbol)
        else:
            _invalid(client, rid)
        return
    interval = params[1] if isinstance(params, list) and len(params) >= 2 else None
    if not valid or symbol is None or type(interval) is not int or interval not in INTERVALS:
        _invalid(client, rid)
        return
    _subscribe(rp, client, rid, (channel, f"{symbol}@{interval}"), 0,
               [rp.market.kline_snapshot(channel, symbol, interval)])


_HANDLERS = {
    **dict.fromkeys(TRADE, _trade), **dict.fromkeys(BOOK, _book),
    **dict.fromkeys((*TICKER, *TICK), _ticker), **dict.fromkeys(KLINE, _kline),
}
