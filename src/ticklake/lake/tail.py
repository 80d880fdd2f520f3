"""The not-yet-published tail: spool records past the lake writer's cursor, as Arrow tables.

SQL unions these with the published files so a trade is queryable within a second of its
arrival. The tail starts exactly at the committed cursor, with the de-duplication state saved
there, so the seam has neither a gap nor a duplicate.
"""

from __future__ import annotations

import pyarrow as pa

from ticklake.feed.phemex.products import ProductTable
from ticklake.feed.phemex.trades import MAX_FUTURE_NS, ReplayDecoder, TradeDecoder
from ticklake.lake.batch import Batch
from ticklake.lake.schema import PARTITIONS
from ticklake.lake.writer import CURSOR, Cursors, RecordSource


def read_tail(
    source: RecordSource,
    cursors: Cursors,
    products: ProductTable,
    snapshot_size: int = 200,
    max_records: int = 2_000_000,
) -> tuple[dict[str, pa.Table], int]:
    """Rows of every table beyond the lake cursor, with their partition columns, and the
    cursor offset they start at (read once, so tail and seam always agree)."""
    offset, state = cursors.load(CURSOR)
    decoder = ReplayDecoder(
        TradeDecoder.from_state(state, products, snapshot_size, MAX_FUTURE_NS)
    )
    batch = Batch(offset, offset)
    while batch.records < max_records:
        records = source.read(batch.end, max_records=min(10_000, max_records - batch.records))
        if not records:
            break
        for record in records:
            batch.add_record(decoder, record.offset, record.conn_id, record.recv_ns,
                             record.payload)
    out: dict[str, pa.Table] = {}
    for table, partitions in batch.tables().items():
        pieces = []
        for partition, rows in partitions.items():
            with_keys = rows
            for key, value in zip(PARTITIONS[table], partition, strict=True):
                with_keys = with_keys.append_column(
                    key, pa.array([value] * rows.num_rows, pa.string())
                )
            pieces.append(with_keys)
        if pieces:
            out[table] = pa.concat_tables(pieces)
    return out, offset
