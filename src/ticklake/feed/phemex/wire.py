"""msgspec structs mirroring Phemex JSON (reference §2–§5); decoders are built once."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

# Bounded to int64: every integer lands in an int64 column (a bigger one is a bad frame).
NonNegative = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
WireSide = Literal["Buy", "Sell"]
# [ts_ns, side, priceEp, qty] — exactly four positions (§4 table).
TradeRow = tuple[NonNegative, WireSide, NonNegative, NonNegative]
# [ts_ns, side, "price", "qty"] — decimal strings on the _p channels (§5.1).
TradeRowP = tuple[NonNegative, WireSide, str, str]


class ErrorBody(msgspec.Struct):
    code: int
    message: str = ""


IntLevel = tuple[NonNegative, NonNegative]  # [priceEp, qty] on ``book`` (§6.1)
TextLevel = tuple[str, str]  # ["price", "qty"] on ``orderbook_p``


class IntBook(msgspec.Struct):
    asks: list[IntLevel] = msgspec.field(default_factory=list)
    bids: list[IntLevel] = msgspec.field(default_factory=list)


class TextBook(msgspec.Struct):
    asks: list[TextLevel] = msgspec.field(default_factory=list)
    bids: list[TextLevel] = msgspec.field(default_factory=list)


class Message(msgspec.Struct):
    """The keys of a reply, a trade or a book message: what the hot path decodes first, once
    (keys absent cost nothing; a book message decoded here needs no second pass)."""

    id: int | None = None
    error: ErrorBody | None = None
    result: str | dict[str, object] | None = None
    symbol: str | None = None
    type: str | None = None
    sequence: NonNegative | None = None
    trades: list[TradeRow] | None = None
    trades_p: list[TradeRowP] | None = None
    book: IntBook | None = None
    orderbook_p: TextBook | None = None
    # ns on book messages (absent in old ones); any type here, checked by the book parser,
    # so that an odd timestamp on some other push cannot make the whole frame unreadable
    timestamp: object = None
    depth: object = None  # book messages: 30, or 0 for the full book (checked there too)


class Request(msgspec.Struct):
    id: int
    method: str
    params: list[str | bool | int]  # ["BTCUSD", true]: the full book (§6.1); ["BTCUSD", 60]


message_decoder = msgspec.json.Decoder(Message)
request_encoder = msgspec.json.Encoder()

