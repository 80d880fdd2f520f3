"""Control records: the decode parameters in force, written into the spool beside the frames.

A spool is self-describing: before its first frame, and whenever they change, a recorder
appends the products table and snapshot capacity it decodes with. Every reader of the spool
(the lake writer, the live-edge SQL, ``deliver``, ``detect``, a restart after kill -9, a spool
copied to another machine) then decodes each frame exactly as the live path did, whatever
products it was started with itself.

A control record is a spool record with connection id ``CONTROL_CONN_ID`` (a value
``session.connids`` never hands out) and a JSON payload ``{"ticklake": "decode-params", ...}``.
It is kept in ``raw`` like any record, so the lake can be re-derived from ``raw`` alone.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from ticklake.feed.phemex.products import Product, ProductTable

CONTROL_CONN_ID = 0xFFFF_FFFF  # the largest u32; connection ids stay below it
CONTROL_KIND = "decode-params"
VERSION = 1
DEFAULT_BOOK_DEPTH = 30
DEFAULT_BOOK_SNAPSHOT_MS = 1000


class DecodeParams(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    """What a frame is decoded with: the products (scales, families) and the exchange's
    trade-snapshot capacity when pinned by the user (None: learned from the snapshots)."""

    products: list[Product]
    snapshot_size: int | None = None
    source: str = ""  # where the products came from (a URL, "shipped defaults")
    ticklake: str = CONTROL_KIND
    version: int = VERSION
    # Order books: the subscribed depth (0: full) the recorder trims to, and the cadence of
    # the lake's ``book_snapshots`` (0: none).
    book_depth: int = DEFAULT_BOOK_DEPTH
    book_snapshot_ms: int = DEFAULT_BOOK_SNAPSHOT_MS
    # The symbols whose 24 h ticker rows are kept: the all-symbol ticker channels carry every
    # listed product, a recording keeps those it follows (and a reader does the same).
    ticker_symbols: list[str] = msgspec.field(default_factory=list)

    @classmethod
    def of(cls, products: ProductTable, snapshot_size: int | None,
           book_depth: int | None = DEFAULT_BOOK_DEPTH,
           book_snapshot_ms: int = DEFAULT_BOOK_SNAPSHOT_MS,
           ticker_symbols: Iterable[str] = ()) -> DecodeParams:
        return cls(products.listing(), snapshot_size, products.source,
                   book_depth=book_depth or 0, book_snapshot_ms=book_snapshot_ms,
                   ticker_symbols=sorted(ticker_symbols))

    def table(self) -> ProductTable:
        return ProductTable(self.products, source=self.source or "spool control record")


class ControlError(ValueError):
    """A control record that cannot be read (quarantined like a malformed frame)."""


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(DecodeParams)


def encode_control(params: DecodeParams) -> bytes:
    return _encoder.encode(params)


def decode_control(payload: bytes) -> DecodeParams:
    try:
        params = _decoder.decode(payload)
    except msgspec.DecodeError as exc:
        msg = f"ticklake control record not valid: {exc}"
        raise ControlError(msg) from None
    if params.ticklake != CONTROL_KIND or params.version > VERSION:
        msg = (f"ticklake control record of kind {params.ticklake!r} version "
               f"{params.version} (this ticklake reads {CONTROL_KIND!r} up to {VERSION})")
        raise ControlError(msg)
    return params
