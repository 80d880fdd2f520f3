"""The DuckDB file for BI tools: read through SQLAlchemy (duckdb-engine) as Superset would."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from ticklake.catalog import Lake
from ticklake.catalog.export import export_duckdb, lockdown
from ticklake.errors import QueryError

from .conftest import CANDLE_TRADES, NEXT_DAY

SQL = "SELECT bucket, open, high, low, close, volume, trades FROM candles('BTCUSD', '1 minute')"


def engine_for(path: Path, lake_root: Path) -> sa.Engine:
    """What docs/bi-tools.md tells a BI tool to configure: read-only, then the lockdown."""
    engine = sa.create_engine(f"duckdb:///{path}", connect_args={"read_only": True})

    @sa.event.listens_for(engine, "connect")
    def confine(dbapi_connection: object, _record: object) -> None:
        for statement in lockdown(lake_root):
            dbapi_connection.execute(statement)  # type: ignore[attr-defined]

    return engine


def test_views_and_macros_answer_like_the_embedded_catalog(
    lake: Lake, lake_root: Path, tmp_path: Path
) -> None:
    path = tmp_path / "lake.duckdb"
    counts = export_duckdb(lake, path)
    assert counts["trades"] == 3 and counts["anomalies"] == 1
    with engine_for(path, lake_root).connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.text(SQL + " ORDER BY bucket"))]
        assert rows == [tuple(r) for r in lake.query(SQL + " ORDER BY bucket").rows()]
        total = conn.execute(sa.text("SELECT count(*) FROM trades")).scalar()
        assert total == len(CANDLE_TRADES) + len(NEXT_DAY)
        assert conn.execute(sa.text("SELECT count(*) FROM gaps")).scalar() == 1
        for table in ("trades", "raw", "gaps", "rejected", "anomalies"):
            names = [c for c, *_ in conn.execute(sa.text(f"DESCRIBE {table}"))]
            assert names == [c for c, _ in next(
                t for t in lake.tables() if t.name == table).columns]


def test_new_files_show_up_and_compaction_inputs_are_skipped(
    lake: Lake, lake_root: Path, tmp_path: Path
) -> None:
    path = tmp_path / "lake.duckdb"
    export_duckdb(lake, path)
    engine = engine_for(path, lake_root)
    (first, *_) = sorted((lake_root / "trades").rglob("part-*.parquet"))
    lo, hi = first.stem.split("-")[1:]
    # A compaction that published its merged file but has not yet deleted the input.
    shutil.copy(first, first.with_name(f"compact-{lo}-{hi}.parquet"))
    with engine.connect() as conn:
        total = conn.execute(sa.text("SELECT count(*) FROM trades")).scalar()
    assert total == len(CANDLE_TRADES) + len(NEXT_DAY)
    assert lake.query("SELECT count(*) FROM trades").rows()[0][0] == total


def test_the_bi_connection_is_read_only_and_confined_to_the_lake(
    lake: Lake, lake_root: Path, tmp_path: Path
) -> None:
    path = tmp_path / "lake.duckdb"
    export_duckdb(lake, path)
    refused = {
        "CREATE TABLE x AS SELECT 1": "read-only",
        "SELECT * FROM read_text('/etc/passwd')": "disabled by configuration",
        "SET enable_external_access = true": "configuration has been locked",
        f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'": "disabled by configuration",
    }
    engine = engine_for(path, lake_root)
    for statement, reason in refused.items():
        with engine.connect() as conn, pytest.raises(sa.exc.DBAPIError) as caught:
            conn.execute(sa.text(statement))
        assert reason in str(caught.value), statement
    assert not (tmp_path / "out.csv").exists()


def test_a_remote_lake_is_refused_with_one_line(tmp_path: Path) -> None:
    lake = Lake.create(tmp_path / "bucket")
    lake.local = False
    with pytest.raises(QueryError, match="needs a local lake"):
        export_duckdb(lake, tmp_path / "x.duckdb")
