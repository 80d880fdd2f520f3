"""Client requests: envelope checks, server.ping, and (un)subscribe of the served channels:
``trade``/``trade_p``, ``orderbook``/``orderbook_p``, the 24 h tickers ``market24h``,
``spot_market24h``, ``market24h_p``, ``perp_market24h_pack_p`` and the ticks ``tick``/``tick_p``
(:mod:`~ticklake.emulator.ticker_fanout`), the klines ``kline``/``kline_p``
(:mod:`~ticklake.emulator.kline_fanout`).

Every request gets exactly one reply (except when the connection is being closed for a
policy violation, or while it is stalled). Choices where the reference is silent:

* a frame that is not a JSON object with an integer ``id`` (binary frame, invalid JSON,
  missing/bool/float/string id) → 6001 with ``"id": null``;
* a known channel this emulator does not serve (aop, aop_p, wo) or ``user.auth`` → 6001;
  a method nobody knows → ``config.unknown_method_code`` (6002);
* subscribing a listed but untraded symbol → ack + an empty snapshot, then nothing (tickers
  and ticks: ack, then nothing);
* ticker channels: ``[]`` = every traded symbol of the family (one slot), ``[symbol]`` = that
  symbol (another slot; ``perp_market24h_pack_p`` ignores it: the pack is whole, one slot);
  ``tick(_p)`` needs a tick symbol of the family (``[]`` → 6001). ``.unsubscribe []`` drops
  every slot of the channel, ``[symbol]`` that symbol's slot only (not the ``[]`` one);
* klines: ``[symbol, interval]`` (an int interval of the reference's list; the symbol of the
  channel's families; else 6001), one slot per (symbol, interval); ``.unsubscribe []`` drops
  every kline slot of the channel, ``[symbol]`` every interval of that symbol;
* unsubscribing a valid symbol that is not subscribed → ack (idempotent);
* ``orderbook(_p).unsubscribe []`` drops every book subscription of that channel;
  ``[sym]`` is acked and does nothing (reference §6.1, Phemex.Net).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ticklake.emulator.book import BookView, parse_book_params
from ticklake.emulator.frames import INVALID_ARGUMENT, ack, error_reply, pong
from ticklake.emulator.kline_fanout import ALL as ALL_SYMBOLS
from ticklake.emulator.kline_fanout import KLINE_CHANNELS, kline_slot, parse_kline_slot
from ticklake.emulator.ticker_fanout import TICK_CHANNELS, TICKER_CHANNELS

if TYPE_CHECKING:
    from ticklake.emulator.connection import Client
    from ticklake.emulator.server import Emulator

__all__ = ["handle_message"]

SUBSCRIBE = {"trade.subscribe": "trade", "trade_p.subscribe": "trade_p"}
UNSUBSCRIBE = {"trade.unsubscribe": "trade", "trade_p.unsubscribe": "trade_p"}
BOOK_SUBSCRIBE = {"orderbook.subscribe": "orderbook", "orderbook_p.subscribe": "orderbook_p"}
BOOK_UNSUBSCRIBE = {
    "orderbook.unsubscribe": "orderbook",
    "orderbook_p.unsubscribe": "orderbook_p",
}
TICKER_SUBSCRIBE = {f"{c}.subscribe": c for c in (*TICKER_CHANNELS, *TICK_CHANNELS)}
TICKER_UNSUBSCRIBE = {f"{c}.unsubscribe": c for c in (*TICKER_CHANNELS, *TICK_CHANNELS)}
KLINE_SUBSCRIBE = {f"{c}.subscribe": c for c in KLINE_CHANNELS}
KLINE_UNSUBSCRIBE = {f"{c}.unsubscribe": c for c in KLINE_CHANNELS}
# Real channels (reference §0, §2) this emulator does not serve: answered with 6001.
UNSERVED_CHANNELS = frozenset({"aop", "aop_p", "wo"})
INVALID = "invalid argument"
NOT_FOUND = "method not found"
_MISSING = object()


def handle_message(emu: Emulator, client: Client, message: str | bytes) -> None:
    now = time.monotonic()
    if client.closing or client.plan.stalled(now):
        return  # a stalled server ignores requests
    cfg = emu.config
    if cfg.any_message_keeps_alive:
        client.last_heartbeat = now
    if cfg.max_requests_per_second > 0 and _over_rate(client, now, cfg.max_requests_per_second):
        emu.close_policy(client, "request rate limit exceeded")
        return
    request = parse_request(message)
    if request is None:
        emu.send(client, error_reply(None, INVALID_ARGUMENT, INVALID))
        return
    rid = request.get("id")
    if type(rid) is not int:
        emu.send(client, error_reply(None, INVALID_ARGUMENT, INVALID))
        return
    method = request.get("method")
    params = request.get("params", _MISSING)
    if method == "server.ping":
        client.last_heartbeat = now
        _pong(emu, client, rid)
    elif isinstance(method, str) and method in _ROUTES:
        handler, channel = _ROUTES[method]
        handler(emu, client, rid, channel, params)
    elif isinstance(method, str) and (
        method == "user.auth" or method.rpartition(".")[0] in UNSERVED_CHANNELS
    ):
        emu.send(client, error_reply(rid, INVALID_ARGUMENT, INVALID))
    else:
        emu.send(client, error_reply(rid, cfg.unknown_method_code, NOT_FOUND))


def parse_request(message: str | bytes) -> dict[str, Any] | None:
    """A client's request: a JSON object in a text frame, else None (the replay too)."""
    if not isinstance(message, str):
        return None  # text JSON frames only
    try:
        obj = json.loads(message)
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _over_rate(client: Client, now: float, per_second: float) -> bool:
    times = client.request_times
    times.append(now)
    while times and times[0] <= now - 1.0:
        times.popleft()
    return len(times) > per_second


def _pong(emu: Emulator, client: Client, rid: int) -> None:
    plan = client.plan
    if plan.pong_drop_count > 0:
        plan.pong_drop_count -= 1
        return
    text = pong(rid)
    if plan.pong_delay_count > 0:
        plan.pong_delay_count -= 1
        loop = asyncio.get_running_loop()
        loop.call_later(plan.pong_delay_s, emu.send, client, text)
        return
    emu.send(client, text)


def _symbol(emu: Emulator, channel: str, params: object, *,
            allow_empty: bool) -> str | bool | None:
    """The first param if it is a symbol of ``channel``; None for ``[]``; False if invalid."""
    if not isinstance(params, list):
        return False
    if not params:
        return None if allow_empty else False
    first = params[0]  # only the first symbol is honoured
    if not isinstance(first, str):
        return False
    product = emu.products.get(first)
    if product is None or product.channel != channel:
        return False
    return first


def _book_params(emu: Emulator, channel: str, params: object) -> tuple[str, int] | None:
    parsed = parse_book_params(params)
    if parsed is None:
        return None
    product = emu.products.get(parsed[0])
    return parsed if product is not None and product.book_channel == channel else None


def _error_fault(emu: Emulator, client: Client, rid: int) -> bool:
    """An armed ``error_reply`` fault answers this subscribe with 6001."""
    plan = client.plan
    if plan.error_replies > 0:
        plan.error_replies -= 1
        emu.send(client, error_reply(rid, INVALID_ARGUMENT, INVALID))
        return True
    return False


def _take_slot(emu: Emulator, client: Client, slot: tuple[str, str]) -> bool:
    """Occupy ``slot``; False if that closed the connection (too many subscriptions)."""
    if slot not in client.subscriptions:
        if len(client.subscriptions) >= emu.config.max_subscriptions:
            emu.close_policy(client, "too many subscriptions")
            return False
        client.subscriptions[slot] = None
    return True


def _subscribe(emu: Emulator, client: Client, rid: int, channel: str, params: object) -> None:
    if _error_fault(emu, client, rid):
        return
    book = channel.startswith("orderbook")
    parsed = _book_params(emu, channel, params) if book else None
    symbol = parsed[0] if parsed is not None else _symbol(emu, channel, params, allow_empty=False)
    if (book and parsed is None) or not isinstance(symbol, str):
        emu.send(client, error_reply(rid, INVALID_ARGUMENT, INVALID))
        return
    slot = (channel, symbol)
    if not _take_slot(emu, client, slot):
        return
    emu.send(client, ack(rid))
    emu.on_first_ack(client)
    if slot not in client.subscriptions:  # a fault fired by the ack may have dropped it
        return
    if parsed is not None:
        view = BookView(emu.products[symbol], parsed[1])
        client.books[slot] = view
        emu.fanout.send_book_snapshot(client, view)
    else:
        emu.fanout.send_snapshot(client, symbol)


def _unsubscribe(emu: Emulator, client: Client, rid: int, channel: str, params: object) -> None:
    symbol = _symbol(emu, channel, params, allow_empty=True)
    if symbol is False:
        emu.send(client, error_reply(rid, INVALID_ARGUMENT, INVALID))
        return
    for slot in list(client.subscriptions):
        if slot[0] == channel and (symbol is None or slot[1] == symbol):
            del client.subscriptions[slot]
    emu.send(client, ack(rid))


def _book_unsubscribe(
    emu: Emulator, client: Client, rid: int, channel: str, params: object
) -> None:
    if not isinstance(params, list):
        emu.send(client, error_reply(rid, INVALID_ARGUMENT, INVALID))
        return
    if not params:
        for slot in [s for s in client.subscriptions if s[0] == channel]:
            del client.subscriptions[slot]
            client.books.pop(slot, None)
    emu.send(client, ack(rid))


def _ticker_subscribe(
    emu: Emulator, client: Client, rid: int, channel: str, params: object
) -> None:
    if _error_fault(emu, client, rid):
        return
    symbol = emu.tickers.slot_symbol(channel, params, unsubscribe=False)
    if symbol is None:
        emu.send(client, error_reply(rid, INVALID_ARGUMENT, INVALID))
        return
    slot = (channel, symbol)
    if not _take_slot(emu, client, slot):
        return
    emu.send(client, ack(rid))
    emu.on_first_ack(client)
    if slot in client.subscriptions:  # a fault fired by the ack may have dropped it
        emu.tickers.send_now(client, channel, symbol)


def _ticker_unsubscribe(
    emu: Emulator, client: Client, rid: int, channel: str, params: object
) -> None:
    symbol = emu.tickers.slot_symbol(channel, params, unsubscribe=True)
    if symbol is None:
        emu.send(client, error_reply(rid, INVALID_ARGUMENT, INVALID))
        return
    everything = isinstance(params, list) and not params
    for slot in list(client.subscriptions):
        if slot[0] == channel and (everything or slot[1] == symbol):
            del client.subscriptions[slot]
    emu.send(client, ack(rid))


def _kline_subscribe(
    emu: Emulator, client: Client, rid: int, channel: str, params: object
) -> None:
    if _error_fault(emu, client, rid):
        return
    parsed = emu.klines.subscribe_params(channel, params)
    if parsed is None:
        emu.send(client, error_reply(rid, INVALID_ARGUMENT, INVALID))
        return
    slot = (channel, kline_slot(*parsed))
    if not _take_slot(emu, client, slot):
        return
    emu.send(client, ack(rid))
    emu.on_first_ack(client)
    if slot in client.subscriptions:  # a fault fired by the ack may have dropped it
        emu.klines.send_snapshot(client, channel, *parsed)


def _kline_unsubscribe(
    emu: Emulator, client: Client, rid: int, channel: str, params: object
) -> None:
    symbol = emu.klines.unsubscribe_symbol(channel, params)
    if symbol is None:
        emu.send(client, error_reply(rid, INVALID_ARGUMENT, INVALID))
        return
    for slot in list(client.subscriptions):
        if slot[0] == channel and (symbol == ALL_SYMBOLS or parse_kline_slot(slot[1])[0] == symbol):
            del client.subscriptions[slot]
    emu.send(client, ack(rid))


# method -> (handler, channel): every subscribe and unsubscribe this emulator serves
_Handler = Callable[["Emulator", "Client", int, str, object], None]
_ROUTES: dict[str, tuple[_Handler, str]] = {
    method: (handler, channel)
    for table, handler in ((SUBSCRIBE, _subscribe), (UNSUBSCRIBE, _unsubscribe),
                           (BOOK_SUBSCRIBE, _subscribe), (BOOK_UNSUBSCRIBE, _book_unsubscribe),
                           (TICKER_SUBSCRIBE, _ticker_subscribe),
                           (TICKER_UNSUBSCRIBE, _ticker_unsubscribe),
                           (KLINE_SUBSCRIBE, _kline_subscribe),
                           (KLINE_UNSUBSCRIBE, _kline_unsubscribe))
    for method, channel in table.items()
}
