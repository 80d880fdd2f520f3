"""Events a sans-I/O protocol core hands to the session (and on to consumers)."""

from __future__ import annotations

import msgspec

from ticklake.model import SIDES, Gap, Trade

# (ts_exchange_ns, side "Buy"/"Sell" as on the wire, price_e, qty_e): one trade, exact
# scaled integers (``model.SIDES`` maps the side).
Row = tuple[int, str, int, int]


class Event(msgspec.Struct, frozen=True, tag=True):
    """Base of every protocol event."""


class Subscribed(Event, frozen=True):
    channel: str
    symbol: str


class Unsubscribed(Event, frozen=True):
    channel: str
    symbol: str


class SubscribeFailed(Event, frozen=True):
    """The exchange answered a subscribe with an error; a retry is scheduled."""

    channel: str
    symbol: str
    code: int
    message: str
    attempts: int


class SubscriptionAbandoned(Event, frozen=True):
    """A subscribe was refused ``attempts`` times in a row before it ever streamed.

    A symbol that streamed before is never abandoned: it is retried with a capped backoff.
    """

    channel: str
    symbol: str
    code: int
    message: str
    attempts: int


class TradesReceived(Event, frozen=True, dict=True):
    """New trades (never seen before), oldest first; recovered snapshot rows included.

    The hot path carries them as ``rows`` (plain tuples, see :data:`Row`), all of one
    ``symbol`` with the scales and receive time they share; ``trades`` builds the
    :class:`~ticklake.model.Trade` records on first access (then cached), so consumers that
    only count or forward rows never pay for per-trade objects.
    """

    symbol: str
    sequence: int
    snapshot: bool
    rows: list[Row]
    duplicates_skipped: int
    recv_ns: int
    price_scale: int
    qty_scale: int
    exchange: str = "phemex"

    @property
    def count(self) -> int:
        return len(self.rows)

    @property
    def trades(self) -> list[Trade]:
        """The rows as Trade records (built once, on first access)."""
        cache = self.__dict__
        trades: list[Trade] | None = cache.get("_trades")
        if trades is None:
            exchange, symbol, recv_ns = self.exchange, self.symbol, self.recv_ns
            price_scale, qty_scale = self.price_scale, self.qty_scale
            sequence, snapshot = self.sequence, self.snapshot
            trades = cache["_trades"] = [
                Trade(exchange, symbol, ts, recv_ns, SIDES[side],
                      price, qty, price_scale, qty_scale, sequence, snapshot)
                for ts, side, price, qty in self.rows
            ]
        return trades


class GapDetected(Event, frozen=True):
    gap: Gap


class DuplicateMessage(Event, frozen=True):
    """An incremental message replayed on the same connection; its rows were dropped."""

    symbol: str
    sequence: int
    rows: int


class Pong(Event, frozen=True):
    rtt_ns: int


class FrameRejected(Event, frozen=True):
    """A frame that could not be understood; kept with its reason, never silently dropped."""

    reason: str
    frame: str


class ConnectionStale(Event, frozen=True):
    """The connection must be abandoned (no pong, silence, unanswered request)."""

    reason: str
    # What went missing, without how long: "no frame", "no pong", "no reply to <request>".
    # A key for counters (session stats, /metrics), so nothing has to parse ``reason``.
    kind: str = ""


# (price_e, qty_e): one order-book level, exact scaled integers (the product's scales);
# qty 0 in an incremental deletes the level.
Level = tuple[int, int]


class BookUpdated(Event, frozen=True):
    """A book message applied to the symbol's book, its levels as received (scaled): a
    snapshot's are the whole book, an incremental's the changed levels. Enough, in order, to
    rebuild the book exactly at any instant (``feed.phemex.book``)."""

    symbol: str
    sequence: int
    ts_ns: int  # the exchange's timestamp (the receive time when a message has none)
    recv_ns: int
    snapshot: bool
    bids: list[Level]
    asks: list[Level]
    price_scale: int
    qty_scale: int
    # Levels the client dropped after this message because they left the subscribed depth
    # (the exchange does not update them until they return, §6.1): deletes it did not send.
    trimmed_bids: list[int] = msgspec.field(default_factory=list)
    trimmed_asks: list[int] = msgspec.field(default_factory=list)


class BookSnapshot(Event, frozen=True):
    """The whole book (after trimming) as it stood at ``ts_ns``: at a fixed cadence and
    whenever a subscribe's snapshot starts it, so the book at an instant needs no replay from
    the start of the day (``book_snapshots``). ``through_offset``: the last spool record
    it includes (set by the reader that knows offsets; -1 in the feed)."""

    symbol: str
    sequence: int
    ts_ns: int
    reason: str  # "subscribe" or "cadence"
    bids: list[Level]
    asks: list[Level]
    price_scale: int
    qty_scale: int
    after_message: bool  # True: includes the message that produced it; False: before it


class BookInvalid(Event, frozen=True):
    """The symbol's book cannot be trusted from here (a crossed book, a sequence going
    backwards, an unreadable message): it is not served until the next snapshot, and the
    session resubscribes to get one."""

    symbol: str
    sequence: int
    ts_ns: int
    reason: str


class BookWaiting(Event, frozen=True):
    """The symbol's book was taken again (a new connection, or its channel resubscribed): it
    is not served until the new subscription's snapshot. Only a book that was being served
    says so; the snapshot comes as ``BookUpdated``, the span between as ``BookGap``."""

    symbol: str
    reason: str


class BookGap(Event, frozen=True):
    """A span in which the symbol's book may have been wrong or unknown: from the last instant
    it was known good to the snapshot that made it good again."""

    symbol: str
    from_ns: int
    to_ns: int
    reason: str


class TickerRow(msgspec.Struct, frozen=True):
    """One symbol's 24 h statistics (and mark/index/funding for contracts) at ``ts_ns``:
    each value an exact, signed integer at 10**8 (None: not in this channel), wire fields
    nobody knows yet as their text in ``extra`` (``feed.phemex.tickers``)."""

    symbol: str
    ts_ns: int
    channel: str
    values: dict[str, int | None]
    extra: dict[str, str]


class TickRow(msgspec.Struct, frozen=True):
    """An index, mark or funding-rate symbol's value (``.BTC``, ``.MBTC``, ``.BTCFR8H``)."""

    symbol: str
    ts_ns: int
    channel: str
    value: int  # exact, signed, at 10**8


class TickersReceived(Event, frozen=True):
    """The rows of one 24 h ticker push (``market24h``, ``spot_market24h``,
    ``market24h_p``, ``perp_market24h_pack_p``), for the symbols the recording follows."""

    rows: list[TickerRow]
    recv_ns: int


class TicksReceived(Event, frozen=True):
    """The row of one ``tick``/``tick_p`` push."""

    rows: list[TickRow]
    recv_ns: int


class KlineRow(msgspec.Struct, frozen=True, array_like=True):
    """One exchange bar as received: its start (ns) and interval (s), and exact values at
    10**8 (``feed.phemex.klines``)."""

    ts_ns: int
    interval_s: int
    last_close: int
    open: int
    high: int
    low: int
    close: int
    volume: int
    turnover: int


class KlinesReceived(Event, frozen=True):
    """The bars of one ``kline``/``kline_p`` message (a snapshot, or the bars that changed)."""

    symbol: str
    channel: str
    sequence: int
    snapshot: bool
    rows: list[KlineRow]
    recv_ns: int
