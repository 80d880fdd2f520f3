"""What a consumer of the topic makes of each message (the lake writers and detectors alike).

A partition interleaves three kinds of message: frames of one or more recorders (possibly
re-sent: see ``dedup``), in-band products records, and foreign messages without ticklake
headers. :class:`Inbound` applies products records to the partition's table, drops re-sends,
and hands back the receive time and 64-bit connection id of every frame to process.
"""

from __future__ import annotations

from ticklake.feed.phemex.products import Product, ProductTable

from .dedup import HighWater
from .frames import (
    CONN,
    GEN,
    KIND,
    OFF,
    PRODUCTS_KIND,
    REC,
    RECV,
    LogRecord,
    decode_products,
    from_u64,
)


class GrowingProducts(ProductTable):
    """The product table of a partition: grows as products records arrive in-band."""

    def add(self, products: list[Product]) -> None:
        for product in products:
            self._by_symbol[product.symbol] = product

    def listed(self) -> list[Product]:
        return [self.require(s) for s in self.symbols()]


class Inbound:
    """One partition's messages → frames to process, exactly once per recorder frame."""

    def __init__(self, high_water: HighWater, products: GrowingProducts) -> None:
        self.high_water = high_water
        self.products = products
        self.foreign = 0  # messages without ticklake headers (processed as connection 0)
        self._names: dict[bytes, str] = {}  # recorder id header -> str, decoded once

    def admit(self, record: LogRecord) -> tuple[int, int] | None:
        """``(conn_id, recv_ns)`` of a frame to process; None for a products record (applied)
        or a frame already delivered (dropped)."""
        headers = record.headers
        recorder = headers.get(REC)
        if recorder is not None and KIND not in headers:  # a frame: the hot path
            try:
                offset = int.from_bytes(headers[OFF], "big")
                generation = int.from_bytes(headers[GEN], "big")
                conn_id = int.from_bytes(headers[CONN], "big")
                recv_ns = int.from_bytes(headers[RECV], "big")
            except KeyError:  # a header missing: an older shipper (no generation: 0)
                offset, generation = from_u64(headers.get(OFF)), max(0, from_u64(headers.get(GEN)))
                conn_id, recv_ns = from_u64(headers.get(CONN)), from_u64(headers.get(RECV))
            name = self._names.get(recorder)
            if name is None:
                name = self._names[recorder] = recorder.decode("ascii", "replace")
            if not self.high_water.admit(name, offset, generation):
                return None
            return conn_id, recv_ns
        if headers.get(KIND) == PRODUCTS_KIND:
            self.products.add(decode_products(record.value))
            return None
        self.foreign += 1
        return 0, record.timestamp_ms * 1_000_000
