"""Scan planning: a planned statement answers exactly as one over every file, from fewer files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ticklake.catalog import Lake
from ticklake.catalog.connection import LakeDatabase
from ticklake.manifest import ManifestStore, build

from .helpers import SECOND, T0, raw, trade, write_table

DAY = 86_400 * SECOND
SYMBOLS = ("BTCUSD", "ETHUSD", "sBTCUSDT")


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, LakeDatabase]:
    root = tmp_path_factory.mktemp("planner") / "lake"
    (root / "_ticklake").mkdir(parents=True)
    (root / "_ticklake" / "lake.json").write_text('{"format": 1}')
    rows, offset = [], 0
    for day in range(4):
        for hour in range(0, 24, 3):
            for symbol in SYMBOLS:
                offset += 1
                ts = T0 + day * DAY + hour * 3600 * SECOND + offset
                rows.append(trade(ts, f"{100 + offset}", "1.5", "buy" if offset % 2 else "sell",
                                  symbol=symbol, offset=offset))
    write_table(root, "trades", rows, files=4)
    write_table(root, "raw", [raw(T0 + d * DAY + 7, "x", offset=1000 + d) for d in range(4)])
    build(ManifestStore(str(root)))
    lake = Lake(root)
    return lake, lake.database()


def everything(lake: Lake, sql: str) -> list[tuple[object, ...]]:
    conn = lake.connect()
    try:
        return sorted(map(tuple, conn.sql(sql).fetchall()), key=repr)
    finally:
        conn.close()


QUERIES = [
    # (statement, files of trades it may read: None = every file)
    ("SELECT count(*), sum(qty) FROM trades WHERE symbol = 'ETHUSD'", 16),
    ("SELECT count(*) FROM trades WHERE 'ETHUSD' = symbol AND date = DATE '2026-11-26'", 4),
    ("SELECT count(*) FROM trades t WHERE t.symbol IN ('BTCUSD', 'ETHUSD') "
     "AND date >= '2026-11-27'", 16),
    ("SELECT count(*) FROM trades WHERE ts >= TIMESTAMPTZ '2026-11-26 12:00:00+00' "
     "AND ts < '2026-11-26 15:00:00'", 3),
    ("SELECT count(*) FROM trades WHERE ts_ns BETWEEN 1795651200000000000 AND 1795651200000000000 "
     "+ 3600000000000", 3),
    ("SELECT count(*) FROM trades WHERE ts > CAST('2026-11-28' AS TIMESTAMPTZ) "
     "- INTERVAL 1 DAY", 24),
    ("SELECT count(*) FROM trades WHERE symbol = 'BTCUSD' OR symbol = 'ETHUSD'", None),
    ("SELECT count(*) FROM trades WHERE symbol = lower('BTCUSD')", None),
    ("SELECT count(*) FROM trades WHERE price > 150", None),
    # every reference counts: a subquery's table, a CTE that shadows the table's name
    ("SELECT count(*) FROM trades WHERE symbol = 'BTCUSD' AND price > "
     "(SELECT avg(price) FROM trades WHERE symbol = 'ETHUSD')", 32),
    ("WITH trades AS (SELECT * FROM main.trades WHERE symbol = 'sBTCUSDT') "
     "SELECT count(*) FROM trades WHERE symbol = 'BTCUSD'", 32),
    ("SELECT count(*) FROM trades a JOIN trades b USING (spool_offset) WHERE a.symbol = 'BTCUSD'",
     None),
    ("SELECT * FROM candles('ETHUSD', INTERVAL 1 HOUR, since := '2026-11-26', "
     "until := '2026-11-27')", 4),
    ("SELECT * FROM trade_counts(INTERVAL 1 DAY)", None),
    ("SELECT * FROM vwap('BTCUSD', '1 day')", 16),
    ("SELECT count(*) FROM raw", 0),
    ("SUMMARIZE SELECT symbol, qty FROM trades WHERE symbol = 'BTCUSD'", 16),
    ("SELECT count(*) FROM trades WHERE symbol = 'NOPE'", 0),
    ("SELECT count(*) FROM trades WHERE date = '2026-11-26' AND date = '2026-11-27'", 0),
]


@pytest.mark.parametrize(("sql", "files"), QUERIES)
def test_a_planned_statement_answers_as_one_over_every_file(
        planned: tuple[Lake, LakeDatabase], sql: str, files: int | None) -> None:
    lake, database = planned
    result = database.query(sql)
    assert sorted(result.rows(), key=repr) == everything(lake, sql)
    scanned = database.scan_files(sql).get("trades", [])
    total = len(lake.entries("trades"))
    assert total == 48
    assert len(scanned) == (total if files is None else files)


def test_a_statement_the_planner_cannot_read_reads_every_file(
        planned: tuple[Lake, LakeDatabase]) -> None:
    _, database = planned
    assert {t: len(f) for t, f in database.scan_files("SELEC nonsense").items()}["trades"] == 48


def test_views_no_plan_set_up_refuse_to_answer(planned: tuple[Lake, LakeDatabase]) -> None:
    _, database = planned
    cursor = database.conn.cursor()
    try:
        with pytest.raises(Exception, match="without a scan plan"):
            cursor.sql("SELECT count(*) FROM trades").fetchall()
    finally:
        cursor.close()


def test_a_lake_without_a_manifest_is_listed(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    (root / "_ticklake").mkdir(parents=True)
    (root / "_ticklake" / "lake.json").write_text('{"format": 1}')
    write_table(root, "trades", [trade(T0 + i, "1", "1", symbol=s, offset=i)
                                 for i, s in enumerate(SYMBOLS)])
    lake = Lake(root)
    assert lake.manifest is None
    assert lake.query("SELECT count(*) FROM trades WHERE symbol = 'ETHUSD'").rows() == [(1,)]
