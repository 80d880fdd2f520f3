"""Lake files use per-column encodings; every reader decodes them, beside files written before."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ticklake.catalog import Lake
from ticklake.lake.layout import file_path
from ticklake.lake.storage import PARQUET_OPTIONS, LakeStorage
from ticklake.schemas import TRADES

START_NS = 1_795_564_800 * 10**9  # 2026-11-25 00:00 UTC


def trades_table(first: int, rows: int) -> pa.Table:
    ts_ns = [START_NS + (first + i) * 20_003_117 for i in range(rows)]
    return pa.table({
        "ts": pa.array([t // 1000 for t in ts_ns], pa.int64()).cast(TRADES.field("ts").type),
        "ts_ns": ts_ns,
        "recv_ns": [t + 1_500_000 + i % 7 for i, t in enumerate(ts_ns)],
        "side": pa.array(["Buy" if i % 3 else "Sell" for i in range(rows)]).dictionary_encode(),
        "price": [Decimal(87_000 + (first + i) % 50) / 2 for i in range(rows)],
        "qty": [Decimal((first + i) % 9 + 1) / 1000 for i in range(rows)],
        "sequence": [first + i for i in range(rows)],
        "from_snapshot": [False] * rows,
        "spool_offset": [(first + i) * 113 for i in range(rows)],
        "msg_index": [i % 3 for i in range(rows)],
    }, schema=TRADES)


def column_encodings(path: Path) -> dict[str, set[str]]:
    meta = pq.read_metadata(path)
    out: dict[str, set[str]] = {}
    for rg in range(meta.num_row_groups):
        for i in range(meta.num_columns):
            column = meta.row_group(rg).column(i)
            out.setdefault(column.path_in_schema, set()).update(column.encodings)
    return out


def test_trades_files_delta_encode_rising_integers_and_read_back_exactly(tmp_path: Path) -> None:
    storage = LakeStorage(str(tmp_path / "lake"))
    storage.ensure_marker()
    table = trades_table(0, 20_000)
    relpath = file_path("trades", ("phemex", "BTCUSD", "2026-11-25"), 0, 20_000)
    size = storage.publish(relpath, table)
    full = tmp_path / "lake" / relpath

    encodings = column_encodings(full)
    for name in ("ts", "ts_ns", "recv_ns", "sequence", "spool_offset"):
        assert "DELTA_BINARY_PACKED" in encodings[name], name
    for name in ("side", "price", "qty"):
        assert "RLE_DICTIONARY" in encodings[name], name
    assert size / table.num_rows < 12  # the storage goal, on a steady synthetic stream
    schema = pq.read_metadata(full).schema
    assert schema.column(TRADES.get_field_index("price")).physical_type == "INT64"

    assert pq.read_table(full).equals(table)  # pyarrow
    sql = f"SELECT * FROM read_parquet('{full}') ORDER BY ts_ns"
    from_duckdb = duckdb.sql(sql).to_arrow_table()
    assert from_duckdb.column("ts_ns").to_pylist() == table.column("ts_ns").to_pylist()
    assert from_duckdb.column("price").to_pylist() == table.column("price").to_pylist()
    assert from_duckdb.column("ts").to_pylist() == table.column("ts").to_pylist()


def test_files_written_with_the_old_options_read_alongside_new_ones(tmp_path: Path) -> None:
    storage = LakeStorage(str(tmp_path / "lake"))
    storage.ensure_marker()
    partition = ("phemex", "BTCUSD", "2026-11-25")
    old, new = trades_table(0, 5_000), trades_table(5_000, 5_000)
    old_path = tmp_path / "lake" / file_path("trades", partition, 0, 5_000)
    old_path.parent.mkdir(parents=True)
    pq.write_table(old, old_path, **PARQUET_OPTIONS)  # as the lake wrote before this change
    storage.publish(file_path("trades", partition, 5_000, 10_000), new)

    result = Lake(storage.root).query(
        "SELECT ts_ns, price, qty, spool_offset FROM trades ORDER BY ts_ns").table
    both = pa.concat_tables([old, new])
    for name in ("ts_ns", "price", "qty", "spool_offset"):
        assert result.column(name).to_pylist() == both.column(name).to_pylist(), name
