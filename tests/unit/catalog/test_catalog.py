"""tables() and partitions() agree with what pyarrow reads from the files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from ticklake.catalog import TABLES, Lake
from ticklake.catalog.schema import PARTITIONS as CATALOG_PARTITIONS
from ticklake.errors import QueryError
from ticklake.schemas import SCHEMAS as FILE_SCHEMAS

from .conftest import CANDLE_TRADES, NEXT_DAY
from .helpers import PARTITIONS, SCHEMAS, SECOND, T0, trade, write_lake, write_table

Values = tuple[tuple[str, ...], ...]


def pyarrow_truth(root: Path, table: str) -> dict[Values, tuple[int, int, int]]:
    """(files, rows, bytes) per partition, straight from the files."""
    out: dict[Values, tuple[int, int, int]] = {}
    for path in sorted((root / table).rglob("part-*.parquet")):
        parts = path.relative_to(root / table).parts[:-1]
        values = tuple(tuple(part.split("=", 1)) for part in parts)
        files, rows, size = out.get(values, (0, 0, 0))
        out[values] = (files + 1, rows + pq.read_table(path).num_rows, size + path.stat().st_size)
    return out


@pytest.mark.parametrize("table", TABLES)
def test_partitions_count_files_rows_and_bytes(lake: Lake, lake_root: Path, table: str) -> None:
    truth = pyarrow_truth(lake_root, table)
    got = {tuple(p.values.items()): (p.files, p.rows, p.bytes) for p in lake.partitions(table)}
    assert got == truth
    assert all(tuple(p.values) == PARTITIONS[table] for p in lake.partitions(table))


def test_tables_sum_their_partitions_and_know_their_columns(lake: Lake, lake_root: Path) -> None:
    infos = {t.name: t for t in lake.tables()}
    assert list(infos) == list(TABLES)
    for table, info in infos.items():
        truth = pyarrow_truth(lake_root, table)
        assert info.partitions == len(truth)
        assert info.files == sum(f for f, _, _ in truth.values())
        assert info.rows == sum(r for _, r, _ in truth.values())
        assert info.bytes == sum(b for _, _, b in truth.values())
        assert [name for name, _ in info.columns] == [*SCHEMAS[table].names, *PARTITIONS[table]]
        assert info.unreadable_files == 0
        assert info.last_modified is not None
    assert dict(infos["trades"].columns)["price"] == "DECIMAL(18,8)"
    assert dict(infos["trades"].columns)["date"] == "DATE"


def test_freshness_is_the_newest_event_from_footer_statistics(lake: Lake) -> None:
    trades = next(t for t in lake.tables() if t.name == "trades")
    newest = max(t["ts_ns"] for t in CANDLE_TRADES + NEXT_DAY)
    assert trades.max_time_ns == newest
    assert trades.max_time == datetime(2026, 11, 26, tzinfo=UTC)
    by_day = {
        (p.values["symbol"], p.values["date"]): p.max_time_ns for p in lake.partitions("trades")
    }
    assert by_day["BTCUSD", "2026-11-25"] == T0 + 119 * SECOND + 999


def test_an_empty_lake_has_empty_tables(empty_lake: Lake) -> None:
    for info in empty_lake.tables():
        assert (info.partitions, info.files, info.rows, info.bytes) == (0, 0, 0, 0)
        assert info.max_time is None and info.last_modified is None
        assert info.columns
    assert empty_lake.partitions("trades") == []


def test_unreadable_files_are_counted_not_fatal(lake: Lake, lake_root: Path) -> None:
    partition = next((lake_root / "raw").glob("*/*"))
    (partition / "part-00000000000000000090-00000000000000000091.parquet").write_bytes(b"junk")
    raw = next(t for t in lake.tables() if t.name == "raw")
    assert raw.unreadable_files == 1
    assert raw.files == 3
    assert [name for name, _ in raw.columns] == [*SCHEMAS["raw"].names, *PARTITIONS["raw"]]
    with pytest.raises(QueryError, match="too small to be a Parquet file"):
        lake.query("SELECT count(*) FROM raw")


def test_unknown_table_is_a_query_error(lake: Lake) -> None:
    with pytest.raises(QueryError, match="no table 'trade'"):
        lake.partitions("trade")


def test_catalog_over_a_non_local_filesystem(tmp_path: Path) -> None:
    root = write_lake(tmp_path / "bucket" / "lake", trades=CANDLE_TRADES)
    write_table(root, "trades", [trade(T0 + 3, "1", "1", offset=40)])
    fs = pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())
    lake = Lake("s3://bucket/lake", filesystem=fs)
    truth = pyarrow_truth(root, "trades")
    got = {tuple(p.values.items()): (p.files, p.rows, p.bytes) for p in lake.partitions("trades")}
    assert got == truth
    assert lake.files("trades") == sorted(
        f"bucket/lake/{p.relative_to(root).as_posix()}" for p in root.rglob("part-*.parquet")
    )
    assert lake.query("SELECT count(*) FROM trades").rows() == [(len(CANDLE_TRADES) + 1,)]


def test_the_dataset_view_is_what_pyarrow_reads(tmp_path: Path) -> None:
    root = write_lake(tmp_path / "b" / "l", trades=CANDLE_TRADES)
    fs = pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())
    lake = Lake("b/l", filesystem=fs)
    ours = lake.query("SELECT * EXCLUDE (date) FROM trades ORDER BY ts_ns").to_arrow()
    theirs = ds.dataset(root / "trades", partitioning="hive").to_table().sort_by("ts_ns")
    assert ours.column("price").to_pylist() == theirs.column("price").to_pylist()
    assert ours.column("ts_ns").to_pylist() == theirs.column("ts_ns").to_pylist()


def test_the_catalog_layout_matches_the_lake_writer() -> None:
    """The catalog's copy of docs/lake-layout.md agrees with ticklake.schemas."""
    from ticklake import schemas as writer
    from ticklake import tables

    assert {t: s for t, s in FILE_SCHEMAS.items()} == writer.SCHEMAS
    assert CATALOG_PARTITIONS == tables.PARTITIONS
    assert {t: s for t, s in SCHEMAS.items()} == writer.SCHEMAS  # the tests' own copy, too


def test_a_marker_written_by_create_on_a_filesystem(tmp_path: Path) -> None:
    fs = pafs.SubTreeFileSystem(str(tmp_path), pafs.LocalFileSystem())
    Lake.create("s3://bucket/new", filesystem=fs)
    assert (tmp_path / "bucket" / "new" / "_ticklake" / "lake.json").is_file()
    assert Lake("s3://bucket/new", filesystem=fs).query("SELECT count(*) FROM raw").rows() == [(0,)]
