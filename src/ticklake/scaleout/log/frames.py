"""What a spool frame looks like on the Kafka-protocol log, and back.

A message per spool record: value = the frame's payload, unchanged; key = its symbol (so a
symbol's frames stay in order in one partition), or ``_`` for frames without one (acks,
pongs, errors); headers (8-byte big-endian integers unless said otherwise):

=============  ===========================================================================
``tl-rec``     the recorder's stable id (16 hex digits, kept in ``<spool>/recorder-id``)
``tl-off``     the record's spool offset in that recorder (dense; the de-duplication key)
``tl-recv``    receive time, ns
``tl-conn``    connection id, 64 bits: the recorder's 31-bit number above the spool's 32-bit
               conn id, so two recorders' connections never share an id in one partition
``tl-gen``     the shipper's producer generation (grows with every new producer, across
               restarts: ``<spool>/shipper-generation``; see ``dedup``)
``tl-kind``    ``products`` on a control record (value: the product table as JSON, sent to
               every partition when a recorder starts, before any of its frames)
=============  ===========================================================================
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import msgspec

from ticklake.feed.phemex.products import Product

REC, OFF, RECV, CONN, KIND = "tl-rec", "tl-off", "tl-recv", "tl-conn", "tl-kind"
GEN = "tl-gen"
PRODUCTS_KIND = b"products"
NO_SYMBOL_KEY = b"_"
_SYMBOL = re.compile(rb'"symbol"\s*:\s*"([^"\\]{1,64})"')
_products_encoder = msgspec.json.Encoder()
_products_decoder = msgspec.json.Decoder(list[Product])


def symbol_key(payload: bytes) -> bytes:
    """The frame's symbol, found without parsing the JSON (the first ``"symbol":"..."``)."""
    found = _SYMBOL.search(payload, 0, 4096)
    return found.group(1) if found else NO_SYMBOL_KEY


def u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def from_u64(data: bytes | str | None) -> int:
    if not isinstance(data, bytes) or len(data) != 8:
        return -1
    return int.from_bytes(data, "big")


def fold_conn_id(recorder_number: int, conn_id: int) -> int:
    return (recorder_number << 32) | (conn_id & 0xFFFF_FFFF)


def recorder_id(spool_dir: Path) -> str:
    """This spool's recorder id: created once (random 64 bits), then read back forever."""
    path = spool_dir / "recorder-id"
    try:
        text = path.read_text().strip()
        if re.fullmatch(r"[0-9a-f]{16}", text):
            return text
    except FileNotFoundError:
        pass
    spool_dir.mkdir(parents=True, exist_ok=True)
    text = secrets.token_hex(8)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as out:
        out.write(text + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return text


def next_generation(spool_dir: Path) -> int:
    """One more than the last producer generation of this spool (persisted before use)."""
    path = spool_dir / "shipper-generation"
    try:
        last = int(path.read_text().strip() or 0)
    except FileNotFoundError:
        last = 0
    generation = last + 1
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as out:
        out.write(f"{generation}\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return generation


def recorder_number(rec_id: str) -> int:
    """31 bits of the id: folded into a non-negative int64 conn id."""
    return int(rec_id[:8], 16) & 0x7FFF_FFFF


def encode_products(products: list[Product]) -> bytes:
    return _products_encoder.encode(products)


def decode_products(value: bytes) -> list[Product]:
    return _products_decoder.decode(value)


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One message read from a partition, as handlers see it (no librdkafka types)."""

    partition: int
    offset: int  # the message's offset in its partition
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]
    timestamp_ms: int
