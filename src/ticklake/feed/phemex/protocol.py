"""PhemexProtocol: the sans-I/O core of a Phemex market-data connection.

Frames and times go in (``receive_frame``, ``handle_timer``), events and frames to send come
out (``events_received``, ``data_to_send``), and ``next_deadline`` says when to call
``handle_timer`` again. Two clocks come in as arguments: a monotonic ``now_ns`` for deadlines
and the wall-clock ``recv_ns`` stamped on trades. The object lives across connections so that
trade de-duplication and subscriptions survive reconnects; ``connection_made`` starts a fresh
connection (resubscribing everything) and ``connection_lost`` ends it.

Heartbeat (§3): ``server.ping`` every ``ping_interval``; the connection is stale when a pong is
later than ``pong_timeout``, when nothing at all arrived for ``silence_timeout`` (3 intervals
by the reference), or when a request stays unanswered for ``request_timeout``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import msgspec

from ticklake.feed.events import (
    BookInvalid,
    ConnectionStale,
    Event,
    Pong,
    Subscribed,
    SubscribeFailed,
    SubscriptionAbandoned,
    Unsubscribed,
)
from ticklake.feed.phemex.book import BookFeed
from ticklake.feed.phemex.dedup import TradeCursor
from ticklake.feed.phemex.klines import INTERVALS
from ticklake.feed.phemex.products import Family, Product, ProductTable
from ticklake.feed.phemex.tickers import other_push
from ticklake.feed.phemex.trades import MAX_FUTURE_NS, TradeDecoder, rejection
from ticklake.feed.phemex.wire import Message, Request, message_decoder, request_encoder

_SECOND = 1_000_000_000
_FRAME_SHOWN = 500


@dataclass(frozen=True)
class ProtocolConfig:
    ping_interval_ns: int = 5 * _SECOND
    pong_timeout_ns: int = 10 * _SECOND
    silence_timeout_ns: int = 15 * _SECOND
    request_timeout_ns: int = 10 * _SECOND
    snapshot_size: int | None = None  # the exchange's capacity if pinned; None: learned
    subscribe_retry_ns: int = 1 * _SECOND
    subscribe_retry_cap_ns: int = 60 * _SECOND
    max_subscribe_attempts: int = 5
    max_future_ns: int = MAX_FUTURE_NS
    # The symbols whose 24 h ticker rows are kept (the all-symbol channels carry every one)
    ticker_symbols: frozenset[str] = frozenset()


BOOK_CHANNELS = frozenset(("orderbook", "orderbook_p"))
BOOK_DEPTH = 30  # the limited depth (§6.1); None is the full book
# Each family's 24 h ticker channel (§6.3): one subscription, params [], every symbol each
# second (USDⓈ-M: the packed form, one message for all).
TICKER_CHANNELS = {Family.COIN_M: "market24h", Family.SPOT: "spot_market24h",
                   Family.USD_M: "perp_market24h_pack_p"}
TICK_CHANNELS = {Family.COIN_M: "tick", Family.USD_M: "tick_p"}


@dataclass(frozen=True)
class Subscription:
    channel: str
    symbol: str
    # after the symbol: (True,) asks for the full book, (60,) a kline's interval in seconds
    params: tuple[str | bool | int, ...] = ()

    @classmethod
    def trades(cls, product: Product) -> Subscription:
        return cls(product.trade_channel, product.symbol)

    @classmethod
    def book(cls, product: Product, depth: int | None = BOOK_DEPTH) -> Subscription:
        """``orderbook`` (COIN-M, spot) or ``orderbook_p`` (USDⓈ-M) at depth 30 or full."""
        if depth not in (BOOK_DEPTH, None):
            msg = f"book depth {depth}: choose {BOOK_DEPTH} or full"
            raise ValueError(msg)
        channel = "orderbook_p" if product.family is Family.USD_M else "orderbook"
        return cls(channel, product.symbol, () if depth == BOOK_DEPTH else (True,))

    @classmethod
    def klines(cls, product: Product, interval_s: int) -> Subscription:
        """The symbol's exchange bars of one interval (§6.2): ``kline`` or ``kline_p``."""
        if interval_s not in INTERVALS:
            msg = f"kline interval {interval_s} s: choose one of {', '.join(map(str, INTERVALS))}"
            raise ValueError(msg)
        channel = "kline_p" if product.family is Family.USD_M else "kline"
        return cls(channel, product.symbol, (interval_s,))

    @classmethod
    def tickers(cls, family: Family) -> Subscription:
        """The family's 24 h tickers, all symbols (an empty symbol: params ``[]``)."""
        return cls(TICKER_CHANNELS[family], "")

    @classmethod
    def ticks(cls, product: Product) -> list[Subscription]:
        """A contract's index, mark and funding-rate ticks (§6.4); none for spot."""
        channel = TICK_CHANNELS.get(product.family)
        return [cls(channel, name) for name in product.tick_symbols] if channel else []

    @property
    def of_symbol(self) -> bool:
        """A subscription of one recorded symbol (not a family's tickers, nor an index,
        mark or funding tick)."""
        return bool(self.symbol) and self.channel not in TICK_CHANNELS.values()

    @property
    def is_book(self) -> bool:
        return self.channel in BOOK_CHANNELS

    @property
    def book_depth(self) -> int | None:
        return None if self.params == (True,) else BOOK_DEPTH

    def request_params(self, unsubscribe: bool) -> list[str | bool | int]:
        """``[]`` without a symbol (the channel's every symbol) and to unsubscribe a book (it
        takes every book, §6.1); else the symbol, alone to unsubscribe."""
        if not self.symbol or (unsubscribe and self.is_book):
            return []
        return [self.symbol] if unsubscribe else [self.symbol, *self.params]


class _Kind(enum.Enum):
    PING = "ping"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"


@dataclass
class _Pending:
    kind: _Kind
    sent_ns: int
    subscription: Subscription | None = None


@dataclass
class _SubState:
    active: bool = False
    ever_active: bool = False
    attempts: int = 0
    retry_at_ns: int | None = None


class PhemexProtocol:
    """One logical Phemex market-data session, carried over successive connections."""

    def __init__(
        self,
        subscriptions: Iterable[Subscription],
        products: ProductTable,
        config: ProtocolConfig | None = None,
        cursors: Mapping[str, TradeCursor] | None = None,
    ) -> None:
        self.config = config or ProtocolConfig()
        self.products = products
        self._subs: dict[Subscription, _SubState] = {s: _SubState() for s in subscriptions}
        self.trades = TradeDecoder(products, self.config.snapshot_size,
                                   self.config.max_future_ns, cursors)
        self.books = BookFeed(products)
        for sub in self._subs:
            self._follow(sub)
        self._next_id = 1
        self._pending: dict[int, _Pending] = {}
        self._events: list[Event] = []
        self._outgoing: list[str] = []
        self._connected = False
        self._stale = False
        self._last_rx_ns = 0
        self._last_ping_ns = 0

    # -- outputs ---------------------------------------------------------------------------

    def events_received(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def data_to_send(self) -> list[str]:
        out = self._outgoing
        if out:
            self._outgoing = []
        return out  # (the same empty list when there is nothing: callers only read it)

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def stale(self) -> bool:
        return self._stale

    def cursors(self) -> dict[str, TradeCursor]:
        return self.trades.cursors()

    def subscriptions(self) -> list[Subscription]:
        return list(self._subs)

    # -- connection lifecycle --------------------------------------------------------------

    def connection_made(self, now_ns: int) -> None:
        self._connected = True
        self._stale = False
        self._pending.clear()
        self.trades.new_connection()
        self._events += self.books.resubscribed(None, "a new connection")
        self._last_rx_ns = now_ns
        self._last_ping_ns = now_ns
        for sub, state in self._subs.items():
            state.active = False
            state.retry_at_ns = None
            self._request(_Kind.SUBSCRIBE, sub, now_ns)

    def connection_lost(self) -> None:
        self._connected = False
        self._pending.clear()
        for state in self._subs.values():
            state.active = False

    def subscribe(self, sub: Subscription, now_ns: int) -> None:
        if sub in self._subs:
            return
        self._subs[sub] = _SubState()
        self._follow(sub)
        if self._connected:
            self._request(_Kind.SUBSCRIBE, sub, now_ns)

    def unsubscribe(self, sub: Subscription, now_ns: int) -> None:
        if self._subs.pop(sub, None) is not None and self._connected:
            self._request(_Kind.UNSUBSCRIBE, sub, now_ns)
            if sub.is_book:  # it took every book of the channel with it (§6.1): re-take them
                self.books.forget(sub.symbol)
                self._resubscribe_books(sub.channel, now_ns, unsubscribe=False)

    def _follow(self, sub: Subscription) -> None:
        if sub.is_book:
            self.books.follow(self.products.require(sub.symbol), sub.book_depth)

    # -- time ------------------------------------------------------------------------------

    def next_deadline(self) -> int | None:
        """Monotonic ns at which ``handle_timer`` must run, or None when idle."""
        if not self._connected or self._stale:
            return None
        cfg = self.config
        deadline = min(
            self._last_ping_ns + cfg.ping_interval_ns,
            self._last_rx_ns + cfg.silence_timeout_ns,
        )
        for pending in self._pending.values():
            timeout = cfg.pong_timeout_ns if pending.kind is _Kind.PING else cfg.request_timeout_ns
            deadline = min(deadline, pending.sent_ns + timeout)
        for state in self._subs.values():
            if state.retry_at_ns is not None:
                deadline = min(deadline, state.retry_at_ns)
        return deadline

    def handle_timer(self, now_ns: int) -> None:
        if not self._connected or self._stale:
            return
        cfg = self.config
        if now_ns - self._last_rx_ns >= cfg.silence_timeout_ns:
            self._go_stale("no frame", now_ns - self._last_rx_ns)
            return
        for pending in self._pending.values():
            waited = now_ns - pending.sent_ns
            if pending.kind is _Kind.PING and waited >= cfg.pong_timeout_ns:
                self._go_stale("no pong", waited)
                return
            if pending.kind is not _Kind.PING and waited >= cfg.request_timeout_ns:
                sub = pending.subscription
                what = f"{sub.channel}.{pending.kind.value} {sub.symbol}" if sub else "request"
                self._go_stale(f"no reply to {what}", waited)
                return
        for sub, state in self._subs.items():
            if state.retry_at_ns is not None and now_ns >= state.retry_at_ns:
                state.retry_at_ns = None
                self._request(_Kind.SUBSCRIBE, sub, now_ns)
        if now_ns - self._last_ping_ns >= cfg.ping_interval_ns:
            self._request(_Kind.PING, None, now_ns)
            self._last_ping_ns = now_ns

    # -- input -----------------------------------------------------------------------------

    def receive_frame(self, data: str | bytes, now_ns: int, recv_ns: int | None = None) -> None:
        """Take one text frame. Never raises on bad input: it becomes ``FrameRejected``."""
        self._last_rx_ns = now_ns
        try:
            frame = message_decoder.decode(data)
        except (msgspec.DecodeError, UnicodeError) as exc:
            self._reject(str(exc), data)
            return
        if frame.trades is not None or frame.trades_p is not None:
            self._events.extend(
                self.trades.on_trades(frame, data, now_ns if recv_ns is None else recv_ns)
            )
        elif frame.id is not None or frame.error is not None:
            self._on_reply(frame, data, now_ns)
        elif frame.book is not None or frame.orderbook_p is not None:
            events = self.books.on_message(frame, data, now_ns if recv_ns is None else recv_ns)
            self._events.extend(events)
            if BookInvalid in map(type, events):
                channel = "orderbook_p" if frame.orderbook_p is not None else "orderbook"
                self._resubscribe_books(channel, now_ns)
        else:
            self._events.extend(other_push(data, self.products.get, self.config.ticker_symbols,
                                           now_ns if recv_ns is None else recv_ns))

    def _resubscribe_books(self, channel: str, now_ns: int, unsubscribe: bool = True) -> None:
        """Unsubscribing a book channel drops all its symbols on the connection (§6.1), so a
        book is taken again by unsubscribing the channel and subscribing each symbol anew:
        each answers with a snapshot."""
        subs = [sub for sub in self._subs if sub.channel == channel]
        if unsubscribe:
            self._request(_Kind.UNSUBSCRIBE, Subscription(channel, ""), now_ns)
        self._events += self.books.resubscribed(
            (sub.symbol for sub in subs), f"{channel} resubscribed")
        for sub in subs:
            self._subs[sub].active = False
            self._request(_Kind.SUBSCRIBE, sub, now_ns)

    # -- internals -------------------------------------------------------------------------

    def _request(self, kind: _Kind, sub: Subscription | None, now_ns: int) -> None:
        request_id = self._next_id
        self._next_id += 1
        if kind is _Kind.PING:
            request = Request(request_id, "server.ping", [])
        else:
            assert sub is not None
            params = sub.request_params(unsubscribe=kind is _Kind.UNSUBSCRIBE)
            request = Request(request_id, f"{sub.channel}.{kind.value}", params)
        self._pending[request_id] = _Pending(kind, now_ns, sub)
        self._outgoing.append(request_encoder.encode(request).decode())

    def _go_stale(self, kind: str, waited_ns: int) -> None:
        self._stale = True
        self._events.append(ConnectionStale(f"{kind} for {_seconds(waited_ns)}", kind))

    def _reject(self, reason: str, data: str | bytes) -> None:
        self._events.append(rejection(reason, data))

    def _on_reply(self, frame: Message, data: str | bytes, now_ns: int) -> None:
        request_id = frame.id
        if request_id is None and frame.error is not None:
            request_id = self._only_pending_subscribe()
        pending = self._pending.pop(request_id, None) if request_id is not None else None
        if pending is None:
            err = f" (error {frame.error.code} {frame.error.message!r})" if frame.error else ""
            self._reject(f"reply to unknown request id {frame.id}{err}", data)
            return
        if pending.kind is _Kind.PING:
            if frame.error is not None or frame.result != "pong":
                self._reject("server.ping answered without pong", data)
                return
            self._events.append(Pong(now_ns - pending.sent_ns))
            return
        sub = pending.subscription
        assert sub is not None
        if pending.kind is _Kind.UNSUBSCRIBE:
            if sub.symbol:  # (a book channel's unsubscribe, to take its books again: no one)
                self._events.append(Unsubscribed(sub.channel, sub.symbol))
            return
        state = self._subs.get(sub)
        if state is None:  # unsubscribed meanwhile
            return
        if frame.error is None:
            state.active = state.ever_active = True
            state.attempts = 0
            self._events.append(Subscribed(sub.channel, sub.symbol))
            return
        state.attempts += 1
        code, message = frame.error.code, frame.error.message
        cfg = self.config
        if state.attempts >= cfg.max_subscribe_attempts and not state.ever_active:
            # Refused from the start: a mistake to report. A symbol that streamed before is
            # retried for ever (maintenance, a glitch); its snapshot then records the gap.
            del self._subs[sub]
            self._events.append(
                SubscriptionAbandoned(sub.channel, sub.symbol, code, message, state.attempts)
            )
            return
        backoff = cfg.subscribe_retry_ns * 2 ** min(state.attempts - 1, 30)
        state.retry_at_ns = now_ns + min(backoff, cfg.subscribe_retry_cap_ns)
        self._events.append(SubscribeFailed(sub.channel, sub.symbol, code, message, state.attempts))

    def _only_pending_subscribe(self) -> int | None:
        """An error reply without id (§2 quotes one) can only be matched when unambiguous."""
        ids = [i for i, p in self._pending.items() if p.kind is _Kind.SUBSCRIBE]
        return ids[0] if len(ids) == 1 else None

def _seconds(ns: int) -> str:
    return f"{ns / _SECOND:.1f}s"
