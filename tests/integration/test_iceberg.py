"""The lake committed to Iceberg (pyiceberg, SQLite catalog): the same rows as DuckDB's views.

A lake is recorded from the emulator once (with faults, so ``rejected`` has rows); every test
works on its own copy. pyiceberg's own scan reads the Iceberg tables: partition columns come
from the partition records (the files do not hold them), types are the lake's.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import DateType, DecimalType, LongType, StringType, TimestamptzType

from ticklake.catalog import Lake
from ticklake.catalog.iceberg import (
    TableCommit,
    commit_lake,
    iceberg_schema,
    open_catalog,
    partition_spec,
)
from ticklake.lake.anomalies import AnomalyWriter
from ticklake.lake.compact import compact
from ticklake.lake.storage import LakeStorage
from ticklake.manifest import build
from ticklake.model import Anomaly
from ticklake.spool import CursorStore
from ticklake.tables import PARTITIONS, TABLES, superseded

from ..e2e.conftest import run_cli
from ..seaweed import SeaweedFS
from .test_lake import record_into_lake

Rows = Counter[tuple[object, ...]]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake (and its spool's cursors) from a real recording, plus two anomaly files."""
    base = tmp_path_factory.mktemp("recorded")
    storage = LakeStorage(str(base / "lake"))
    run = asyncio.run(record_into_lake(base, storage))
    assert run.trades and run.rejected
    writer = AnomalyWriter(storage)  # one file per call
    writer.write([anomaly(run.trades[10].ts_exchange_ns, "a1")])
    writer.write([anomaly(run.trades[-10].ts_exchange_ns, "a2")])
    return base


@pytest.fixture
def copy(recorded: Path, tmp_path: Path) -> Path:
    shutil.copytree(recorded / "lake", tmp_path / "lake")
    shutil.copytree(recorded / "spool" / "cursors", tmp_path / "cursors")
    return tmp_path


def anomaly(ts_ns: int, name: str, symbol: str = "BTCUSD") -> Anomaly:
    return Anomaly(
        anomaly_id=name, phase="end", exchange="phemex", symbol=symbol, kind="swing",
        ts_start_ns=ts_ns, ts_detect_ns=ts_ns + 1_000, ts_end_ns=ts_ns + 2_000, direction="up",
        horizon_s=5.0, move_bp=12.5, move_price=10.0, price_before=87_000.0,
        price_after=87_010.0, score=4.2, trades=17, intensity_z=1.5, imbalance=0.25,
        largest_qty=3.0, rcf_score=None, detector_version="test", params_hash="h",
    )


def sqlite_catalog(root: Path) -> tuple[Lake, Catalog]:
    lake = Lake(root / "lake")
    return lake, open_catalog(f"sqlite:///{root}/catalog.db", lake)


def rows(table: pa.Table) -> Rows:
    return Counter(tuple(row.values()) for row in table.to_pylist())


def duckdb_rows(lake: Lake, table: str) -> Rows:
    return rows(lake.query(f"SELECT * FROM {table}").table)


def iceberg_rows(catalog: Catalog, table: str, snapshot_id: int | None = None) -> Rows:
    return rows(catalog.load_table(f"ticklake.{table}").scan(snapshot_id=snapshot_id).to_arrow())


def snapshots(catalog: Catalog) -> dict[str, int | None]:
    out = {}
    for table in TABLES:
        current = catalog.load_table(f"ticklake.{table}").current_snapshot()
        out[table] = current.snapshot_id if current else None
    return out


def by_table(results: list[TableCommit]) -> dict[str, TableCommit]:
    return {result.table.removeprefix("ticklake."): result for result in results}


def assert_same_as_duckdb(lake: Lake, catalog: Catalog) -> None:
    for table in TABLES:
        expected = duckdb_rows(lake, table)
        got = iceberg_rows(catalog, table)
        assert got == expected, f"{table}: {sum(got.values())} vs {sum(expected.values())} rows"


def test_commit_matches_duckdb_row_for_row_and_a_rerun_changes_nothing(copy: Path) -> None:
    lake, catalog = sqlite_catalog(copy)
    first = by_table(commit_lake(lake, catalog))
    for table in TABLES:
        assert first[table].added == first[table].files == len(lake.files(table))
        assert (first[table].snapshot_id is None) == (first[table].files == 0)
    assert first["trades"].files and first["raw"].files and first["rejected"].files
    assert first["anomalies"].files == 2
    assert_same_as_duckdb(lake, catalog)
    assert sum(duckdb_rows(lake, "trades").values()) > 300

    # Types are the lake's; the partition columns exist, typed, though no file holds them.
    trades = catalog.load_table("ticklake.trades")
    fields = {f.name: f.field_type for f in trades.schema().fields}
    assert fields["ts"] == TimestamptzType() and fields["ts_ns"] == LongType()
    assert fields["price"] == fields["qty"] == DecimalType(18, 8)
    assert fields["exchange"] == fields["symbol"] == StringType()
    assert fields["date"] == DateType()
    assert [f.name for f in trades.spec().fields] == list(PARTITIONS["trades"])
    scanned = trades.scan(selected_fields=("ts", "price", "date")).to_arrow().schema
    assert scanned.field("ts").type == pa.timestamp("us", tz="UTC")
    assert scanned.field("price").type == pa.decimal128(18, 8)
    assert scanned.field("date").type == pa.date32()
    # Partition pruning works on the path-only columns.
    symbol = next(iter(duckdb_rows(lake, "trades")))[-2]
    one = rows(trades.scan(row_filter=f"symbol = '{symbol}'").to_arrow())
    assert one == rows(lake.query(f"SELECT * FROM trades WHERE symbol = '{symbol}'").table)

    # Idempotent: a second run makes no snapshot and changes no row.
    before = snapshots(catalog)
    again = by_table(commit_lake(lake, catalog))
    assert all(r.snapshot_id is None and r.added == r.removed == 0 for r in again.values())
    assert snapshots(catalog) == before
    assert_same_as_duckdb(lake, catalog)


def test_incremental_commits_follow_compaction_exactly_with_time_travel(copy: Path) -> None:
    lake, catalog = sqlite_catalog(copy)
    storage = LakeStorage(str(copy / "lake"))
    commit_lake(lake, catalog)
    first_anomalies = iceberg_rows(catalog, "anomalies")
    first = snapshots(catalog)

    # A new file: only its table gets a snapshot, adding only that file.
    late = lake.query("SELECT max(ts_ns) FROM trades").table[0][0].as_py()
    AnomalyWriter(storage).write([anomaly(late, "a3", "BTCUSDT")])
    second = by_table(commit_lake(lake, catalog))
    assert (second["anomalies"].added, second["anomalies"].removed) == (1, 0)
    assert all(second[t].snapshot_id is None for t in TABLES if t != "anomalies")
    assert_same_as_duckdb(lake, catalog)
    # Time travel: the first snapshot still reads the first state.
    assert iceberg_rows(catalog, "anomalies", first["anomalies"]) == first_anomalies
    assert sum(iceberg_rows(catalog, "anomalies").values()) == 3

    # Compaction, stopped between its publish and its deletes (the crash window): the compact
    # files and their inputs both exist. The commit swaps the inputs for the compact file in
    # one snapshot, so no reader sees a trade twice.
    saved = copy / "inputs"
    shutil.copytree(copy / "lake", saved)
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    stats = compact(storage, CursorStore(copy / "cursors"), today=tomorrow)
    assert stats.files_merged > 0
    restored = restore_inputs(saved, copy / "lake")
    assert restored and all(lake.files(t) for t in ("trades", "raw"))
    before_compaction = snapshots(catalog)
    third = by_table(commit_lake(lake, catalog))
    assert third["trades"].removed > 0 and third["trades"].added > 0
    assert all(third[t].files == len(lake.files(t)) for t in TABLES)
    assert_same_as_duckdb(lake, catalog)
    operation = catalog.load_table("ticklake.trades").current_snapshot()
    assert operation is not None and operation.summary is not None
    assert operation.summary.operation.value == "overwrite"
    # The history before the compaction reads the same rows through the old files.
    trades_before = iceberg_rows(catalog, "trades", before_compaction["trades"])
    assert trades_before == duckdb_rows(lake, "trades")

    # The compactor's next run deletes the inputs: nothing changes for Iceberg.
    for path in restored:
        path.unlink()
    assert by_table(commit_lake(lake, catalog))["trades"].snapshot_id is None
    assert_same_as_duckdb(lake, catalog)

    # A file deleted behind ticklake's back is dropped from its table once the manifest is
    # rebuilt from the files (`ticklake manifest`).
    gone = lake.files("anomalies")[0]
    os.unlink(gone)
    assert build(storage.manifest_store()).removed == 1
    fourth = by_table(commit_lake(lake, catalog))
    assert (fourth["anomalies"].added, fourth["anomalies"].removed) == (0, 1)
    assert_same_as_duckdb(lake, catalog)


def test_a_table_missing_a_new_lake_column_evolves_its_schema(copy: Path) -> None:
    """A table created before tables.py gained a column: the commit adds it (schema
    evolution) and maps its name, so the files' values of that column are read, not nulls."""
    lake, catalog = sqlite_catalog(copy)
    current = iceberg_schema("trades")
    older = Schema(*[f for f in current.fields if f.name != "from_snapshot"])
    catalog.create_namespace("ticklake")
    catalog.create_table("ticklake.trades", schema=older,
                         partition_spec=partition_spec("trades", older))
    commit_lake(lake, catalog, tables=["trades"])
    table = catalog.load_table("ticklake.trades")
    assert "from_snapshot" in table.schema().column_names
    columns = ["spool_offset", "ts_ns", "from_snapshot"]  # the new column comes last in Iceberg
    got = rows(table.scan(selected_fields=tuple(columns)).to_arrow().select(columns))
    assert got == rows(lake.query(f"SELECT {', '.join(columns)} FROM trades").table)
    assert None not in {row[2] for row in got}


def test_importing_ticklake_does_not_import_pyiceberg() -> None:
    code = ("import sys, ticklake.cli, ticklake.catalog, ticklake.pipeline; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pyiceberg'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def restore_inputs(saved: Path, lake: Path) -> list[Path]:
    """Copy back the compaction inputs that compaction deleted; returns their paths."""
    restored = []
    for original in saved.rglob("*.parquet"):
        target = lake / original.relative_to(saved)
        if not target.exists():
            shutil.copy2(original, target)
            restored.append(target)
    for path in restored:  # each restored file is one the compact file covers
        assert path.name in superseded(p.name for p in path.parent.glob("*.parquet"))
    return restored


def test_cli_commits_once_and_refuses_bad_input_on_one_line(copy: Path) -> None:
    lake = str(copy / "lake")
    uri = f"sqlite:///{copy}/cli.db"
    first = run_cli("catalog", "--lake", lake, "--iceberg", uri, cwd=copy)
    assert first.returncode == 0, first.stderr
    assert "ticklake.trades: snapshot " in first.stdout
    second = run_cli("catalog", "--lake", lake, "--iceberg", uri, cwd=copy)
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("unchanged") == len(TABLES)
    catalog = open_catalog(uri, Lake(lake))
    table: Table = catalog.load_table("ticklake.trades")
    assert len(table.snapshots()) == 1
    assert rows(table.scan().to_arrow()) == duckdb_rows(Lake(lake), "trades")

    secret = "do-not-print-this-secret"
    for args in (["--iceberg", "ftp://catalog"], ["--iceberg", "sqlite://"],
                 ["--iceberg", f"sqlite:///{copy}/no/such/dir/c.db"],
                 ["--iceberg", uri, "--iceberg-option", "novalue"],
                 ["--iceberg", f"rest+http://user:{secret}@127.0.0.1:9/cat",
                  "--iceberg-option", f"s3.secret-access-key={secret}"]):
        bad = run_cli("catalog", "--lake", lake, *args, cwd=copy)
        assert bad.returncode == 2, (args, bad.stderr)
        assert bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1, bad.stderr
        assert secret not in bad.stderr + bad.stdout


@pytest.fixture
def seaweed_iceberg(tmp_path: Path) -> Iterator[SeaweedFS]:
    server = SeaweedFS(tmp_path / "seaweedfs", iceberg=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_rest_catalog_over_an_s3_lake(recorded: Path, seaweed_iceberg: SeaweedFS,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """SeaweedFS: the lake in one bucket, Iceberg metadata through its REST catalog (SigV4)."""
    for key, value in seaweed_iceberg.env().items():  # the lake's own object-store settings
        monkeypatch.setenv(key, value)
    fs = seaweed_iceberg.filesystem()
    pafs.copy_files(str(recorded / "lake"), "lake/recorded",
                    source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)
    lake = Lake("s3://lake/recorded", filesystem=fs)
    catalog = open_catalog(
        f"rest+http://127.0.0.1:{seaweed_iceberg.iceberg_port}", lake, "s3://tables/",
        {"rest.sigv4-enabled": "true", "rest.signing-region": "us-east-1",
         "rest.signing-name": "s3tables"})
    first = by_table(commit_lake(lake, catalog))
    assert first["trades"].files == len(lake.files("trades")) > 0
    assert catalog.load_table("ticklake.trades").scan().to_arrow().num_rows > 300
    assert_same_as_duckdb(lake, catalog)
    again = by_table(commit_lake(lake, catalog))
    assert all(r.snapshot_id is None for r in again.values())


def test_compaction_swaps_iceberg_to_the_merged_files_before_deleting(copy: Path) -> None:
    lake, catalog = sqlite_catalog(copy)
    storage = LakeStorage(str(copy / "lake"))
    commit_lake(lake, catalog)
    listed_before = {t: len(lake.files(t)) for t in ("trades", "raw")}
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    swapped: list[int] = []

    def commit_before_delete() -> None:
        results = by_table(commit_lake(lake, catalog))
        swapped.append(results["trades"].removed)

    stats = compact(storage, CursorStore(copy / "cursors"), today=tomorrow,
                    before_delete=commit_before_delete)
    assert stats.files_merged > 0 and stats.files_deleted >= stats.files_merged
    assert swapped and swapped[0] > 0  # Iceberg dropped the inputs while they still existed
    assert all(len(lake.files(t)) < listed_before[t] for t in listed_before)
    assert_same_as_duckdb(lake, catalog)  # every file Iceberg lists is there: no missing file


def test_compaction_keeps_its_inputs_when_the_iceberg_commit_fails(copy: Path) -> None:
    storage = LakeStorage(str(copy / "lake"))
    before = sorted(p.name for p in (copy / "lake").rglob("part-*.parquet"))
    trades = duckdb_rows(Lake(str(copy / "lake")), "trades")
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)

    def unreachable_catalog() -> None:
        msg = "catalog unreachable"
        raise OSError(msg)

    with pytest.raises(OSError, match="unreachable"):
        compact(storage, CursorStore(copy / "cursors"), today=tomorrow,
                before_delete=unreachable_catalog)
    assert sorted(p.name for p in (copy / "lake").rglob("part-*.parquet")) == before
    # The compact files hide their inputs: every trade still read exactly once.
    assert duckdb_rows(Lake(str(copy / "lake")), "trades") == trades


def test_cli_compact_commits_iceberg(copy: Path) -> None:
    lake = str(copy / "lake")
    uri = f"sqlite:///{copy}/compact.db"
    done = run_cli("compact", "--lake", lake, "--spool", str(copy),
                   "--iceberg", uri, cwd=copy)
    assert done.returncode == 0, done.stderr
    assert "compacted" in done.stdout
    catalog = open_catalog(uri, Lake(lake))
    assert rows(catalog.load_table("ticklake.trades").scan().to_arrow()) == duckdb_rows(
        Lake(lake), "trades")
