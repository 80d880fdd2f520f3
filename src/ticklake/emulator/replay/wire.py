"""Archived frames, decoded just enough to route, de-duplicate and order them.

The replay shares no codec with the client (``ticklake.feed``): one msgspec decode per frame
into :class:`Frame`, whose optional fields are the reference's payload keys (§2: a push is
known by its payload key). Trade rows are typed as the wire has them (§5.3: integers for
``trades``, decimal strings for ``trades_p``), so a frame of the wrong shape is refused here,
as the recorder refused it. A kline row stays its own JSON text (``msgspec.Raw``): it is
served back and compared byte for byte.

An :class:`Item` is one thing the replay may serve, placed in exchange time: ``ts`` (the
reference's timestamps: a trade message's newest trade, a book or ticker message's
``timestamp``, a tick's own), then ``seq``, then ``idx`` (archive order).
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["BOOK", "BOOK_SNAPSHOT", "KINDS", "KLINE", "KLINE_SNAPSHOT", "PACK", "TICK",
           "TICKER", "TRADES", "Frame", "Item", "decode", "kline_rows"]

PACK = "perp_market24h_pack_p"
# Item kinds: what the market state does with an item when the replay reaches it.
TRADES, BOOK, BOOK_SNAPSHOT, KLINE, KLINE_SNAPSHOT, TICKER, TICK = range(7)
KINDS = ("trades", "book", "book snapshot", "kline", "kline snapshot", "ticker", "tick")

Num = int | str  # a scaled integer (``book``) or a decimal string (``orderbook_p``)
TradeRow = tuple[int, str, int, int]
TradeRowP = tuple[int, str, str, str]


class Levels(msgspec.Struct, gc=False):
    asks: list[tuple[Num, Num]] = []
    bids: list[tuple[Num, Num]] = []


class Named(msgspec.Struct, gc=False):
    """A ticker or tick object: the replay needs its symbol and its own time, if any."""

    symbol: str | None = None
    timestamp: int | None = None


class Frame(msgspec.Struct, gc=False):
    id: Any = msgspec.UNSET  # present (even null) only on replies
    result: Any = msgspec.UNSET
    error: Any = None
    method: str | None = None
    symbol: str | None = None
    type: str | None = None
    sequence: int | None = None
    timestamp: int | None = None
    depth: int | None = None
    trades: list[TradeRow] | None = None
    trades_p: list[TradeRowP] | None = None
    book: Levels | None = None
    orderbook_p: Levels | None = None
    kline: list[msgspec.Raw] | None = None
    kline_p: list[msgspec.Raw] | None = None
    market24h: Named | None = None
    spot_market24h: Named | None = None
    market24h_p: Named | None = None
    tick: Named | None = None
    tick_p: Named | None = None
    data: msgspec.Raw | None = None

    @property
    def reply(self) -> bool:
        return self.id is not msgspec.UNSET or self.result is not msgspec.UNSET


_frame = msgspec.json.Decoder(Frame)
_row_head = msgspec.json.Decoder(tuple[int, int, msgspec.Raw, msgspec.Raw, msgspec.Raw,
                                       msgspec.Raw, msgspec.Raw, msgspec.Raw, msgspec.Raw])


def decode(payload: str) -> Frame | None:
    """The frame, or None when it is no JSON object of the known shapes."""
    try:
        return _frame.decode(payload)
    except msgspec.DecodeError:
        return None


def kline_rows(rows: list[msgspec.Raw]) -> list[tuple[int, int, bytes]] | None:
    """(bar start s, interval s, the row's JSON) of each bar; None if a row is no bar of
    nine values (§6.2), as the recorder refuses it."""
    out = []
    try:
        for raw in rows:
            head = _row_head.decode(raw)
            out.append((head[0], head[1], bytes(raw)))
    except msgspec.DecodeError:
        return None
    return out


class Item:
    """One message the replay may serve (``text``; None: it only informs the state) and what
    the market state needs of it (``body``), in exchange order by (ts, seq, idx)."""

    __slots__ = ("body", "channel", "idx", "kind", "prime", "seq", "symbol", "text", "ts")

    def __init__(self, kind: int, channel: str, symbol: str, ts: int, seq: int,
                 text: str | None, body: Any = None) -> None:
        self.kind = kind
        self.channel = channel
        self.symbol = symbol  # klines: "SYMBOL@interval"; the pack: "*"; ticks: the tick
        self.ts = ts
        self.seq = seq
        self.idx = 0  # archive order, set by the timeline
        self.text = text
        self.body = body
        self.prime = False  # read before --from: builds the state, never served

    def __repr__(self) -> str:
        return f"Item({KINDS[self.kind]} {self.channel}:{self.symbol} ts={self.ts} seq={self.seq})"
