"""Spool records → columnar rows per table and partition, ready to become Parquet files.

A ``Batch`` is built from a contiguous spool offset range ``[first, end)``; decoding goes
through ``ReplayDecoder``, the same code the live session runs, so the lake holds exactly the
trades the live path emitted. Everything here is deterministic: the same records and decoder
state always give the same rows, which is what makes re-publishing after a crash safe.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from ticklake.feed.events import FrameRejected, GapDetected, TradesReceived
from ticklake.feed.phemex.trades import EXCHANGE, ReplayDecoder
from ticklake.lake.schema import DECIMAL, DECIMAL_SCALE, SCHEMAS
from ticklake.model import Trade

Partition = tuple[str, ...]
_NS_PER_US = 1000
_DAY_NS = 86_400 * 10**9
_UNSCALED_LIMIT = 10**18  # decimal128(18, 8)


def utc_date(ns: int) -> str:
    return (dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=ns // _DAY_NS)).strftime(
        "%Y-%m-%d"
    )


def _decimal_array(unscaled: list[int]) -> pa.Array:
    """Exact decimal128(18, 8) from integers already scaled by 10**8, without Decimal objects."""
    values = np.asarray(unscaled, dtype=np.int64)
    words = np.empty((len(values), 2), dtype=np.int64)
    words[:, 0] = values
    words[:, 1] = values >> 63  # sign extension into the high 64 bits (two's complement)
    return pa.Array.from_buffers(DECIMAL, len(values), [None, pa.py_buffer(words.tobytes())])


@dataclass
class _Columns:
    columns: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))

    def add(self, **values: Any) -> None:
        for name, value in values.items():
            self.columns[name].append(value)


@dataclass
class Batch:
    """Rows decoded from spool records ``[first, end)``, grouped by table and partition."""

    first: int
    end: int
    rows: dict[str, dict[Partition, _Columns]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(_Columns))
    )
    payload_bytes: int = 0

    @property
    def records(self) -> int:
        return self.end - self.first

    def add_record(self, decoder: ReplayDecoder, offset: int, conn_id: int, recv_ns: int,
                   payload: bytes) -> None:
        if offset != self.end:
            msg = f"batch expects offset {self.end}, got {offset}"
            raise ValueError(msg)
        self.end = offset + 1
        self.payload_bytes += len(payload)
        text = payload.decode("utf-8", "replace")
        day = utc_date(recv_ns)
        self.rows["raw"][(EXCHANGE, day)].add(
            recv_ns=recv_ns, conn_id=conn_id, spool_offset=offset, payload=text
        )
        for event in decoder.decode(payload, conn_id, recv_ns):
            if isinstance(event, TradesReceived):
                for trade in event.trades:
                    self._add_trade(trade, offset, conn_id, recv_ns, text)
            elif isinstance(event, GapDetected):
                gap = event.gap
                self.rows["gaps"][(EXCHANGE, utc_date(gap.detected_ns))].add(
                    symbol=gap.symbol, from_ns=gap.from_ns, to_ns=gap.to_ns, reason=gap.reason,
                    detected_ns=gap.detected_ns, spool_offset=offset,
                )
            elif isinstance(event, FrameRejected):
                self._reject(event.reason, offset, conn_id, recv_ns, text)

    def _add_trade(self, trade: Trade, offset: int, conn_id: int, recv_ns: int,
                   text: str) -> None:
        price = trade.price_e * 10 ** (DECIMAL_SCALE - trade.price_scale)
        qty = trade.qty_e * 10 ** (DECIMAL_SCALE - trade.qty_scale)
        if not (price < _UNSCALED_LIMIT and qty < _UNSCALED_LIMIT):
            self._reject("price or quantity beyond decimal(18, 8)", offset, conn_id, recv_ns,
                         text)
            return
        key = (EXCHANGE, trade.symbol, utc_date(trade.ts_exchange_ns))
        self.rows["trades"][key].add(
            ts_ns=trade.ts_exchange_ns, recv_ns=trade.ts_recv_ns, side=trade.side, price=price,
            qty=qty, sequence=trade.sequence, from_snapshot=trade.from_snapshot,
            spool_offset=offset,
        )

    def _reject(self, reason: str, offset: int, conn_id: int, recv_ns: int, text: str) -> None:
        self.rows["rejected"][(EXCHANGE, utc_date(recv_ns))].add(
            recv_ns=recv_ns, conn_id=conn_id, spool_offset=offset, reason=reason, payload=text
        )

    def tables(self) -> dict[str, dict[Partition, pa.Table]]:
        """Arrow tables (the lake schemas) per table and partition."""
        out: dict[str, dict[Partition, pa.Table]] = {}
        for table, partitions in self.rows.items():
            out[table] = {key: _to_table(table, cols.columns) for key, cols in partitions.items()}
        return out


def _timestamps(ns: list[int]) -> pa.Array:
    us = np.asarray(ns, dtype=np.int64) // _NS_PER_US
    return pa.array(us, type=pa.int64()).cast(pa.timestamp("us", tz="UTC"))


def _to_table(table: str, columns: dict[str, list[Any]]) -> pa.Table:
    schema = SCHEMAS[table]
    arrays: dict[str, pa.Array] = {}
    if table == "trades":
        arrays["ts"] = _timestamps(columns["ts_ns"])
        arrays["price"] = _decimal_array(columns["price"])
        arrays["qty"] = _decimal_array(columns["qty"])
        arrays["side"] = pa.array(columns["side"], pa.string()).dictionary_encode()
    elif table in ("raw", "rejected"):
        arrays["recv_ts"] = _timestamps(columns["recv_ns"])
    elif table == "gaps":
        arrays["from_ts"] = _timestamps(columns["from_ns"])
        arrays["to_ts"] = _timestamps(columns["to_ns"])
    for name in schema.names:
        if name not in arrays:
            arrays[name] = pa.array(columns[name], type=schema.field(name).type)
    return pa.Table.from_arrays([arrays[n] for n in schema.names], schema=schema)
