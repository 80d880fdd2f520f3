"""Every way out of the lake is refused, with a one-line message naming the problem."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ticklake.catalog import Lake, check_sql
from ticklake.errors import QueryError

from .conftest import CANDLE_TRADES, GAPS, NEXT_DAY, RAW, REJECTED
from .helpers import write_lake

N_TRADES = len(CANDLE_TRADES) + len(NEXT_DAY)

# (sql, a word the refusal must contain). {root} is the lake, {tmp} a directory outside it.
ESCAPES = [
    ("SELECT * FROM read_csv('/etc/passwd')", "/etc/passwd"),
    ("SELECT * FROM read_csv_auto('/etc/passwd', sep = ':')", "/etc/passwd"),
    ("SELECT * FROM read_parquet('{tmp}/outside.parquet')", "outside.parquet"),
    ("SELECT * FROM read_parquet('{root}/trades/../../outside.parquet')", "outside.parquet"),
    ("SELECT * FROM read_parquet('{root}/trades2/x.parquet')", "trades2"),
    ("SELECT * FROM read_parquet('{tmp}/*.parquet')", "Permission"),
    ("SELECT * FROM glob('/*')", "/*"),
    ("SELECT * FROM glob('{tmp}/*')", "Permission"),
    ("SELECT * FROM read_text('/etc/passwd')", "/etc/passwd"),
    ("SELECT * FROM read_blob('/etc/passwd')", "/etc/passwd"),
    ("SELECT * FROM read_text('{root}/_ticklake/lake.json')", "lake.json"),
    ("SELECT * FROM read_json('{tmp}/x.json')", "x.json"),
    ("SELECT * FROM sniff_csv('/etc/passwd')", "/etc/passwd"),
    ("SELECT * FROM parquet_metadata('{tmp}/outside.parquet')", "outside.parquet"),
    ("SELECT * FROM read_parquet('https://example.com/x.parquet')", "https://"),
    ("SELECT * FROM read_csv('s3://bucket/x.csv')", "s3://"),
    ("SELECT * FROM read_duckdb('{tmp}/x.db')", "x.db"),
    ("COPY (SELECT 1) TO '{root}/trades/x.csv'", "COPY"),
    ("COPY (SELECT 1) TO '{tmp}/x.csv'", "COPY"),
    ("COPY trades FROM '/etc/passwd'", "COPY"),
    ("EXPORT DATABASE '{tmp}/export'", "EXPORT"),
    ("ATTACH '{tmp}/x.db' AS x", "ATTACH"),
    ("ATTACH ':memory:' AS m", "ATTACH"),
    ("DETACH memory", "DETACH"),
    ("INSTALL httpfs", "INSTALL/LOAD"),
    ("LOAD httpfs", "INSTALL/LOAD"),
    ("LOAD '{tmp}/evil.duckdb_extension'", "INSTALL/LOAD"),
    ("SET threads = 1", "SET"),
    ("RESET threads", "SET"),
    ("SET enable_external_access = true", "SET"),
    ("SET allowed_directories = ['/']", "SET"),
    ("SET lock_configuration = false", "SET"),
    ("SET VARIABLE x = 1", "SET"),
    ("USE memory", "SET"),
    ("PRAGMA threads = 1", "SET"),
    ("PRAGMA enable_profiling", "PRAGMA"),
    ("CREATE TABLE t AS SELECT 1", "CREATE"),
    ("CREATE OR REPLACE VIEW trades AS SELECT 1 AS x", "CREATE"),
    ("CREATE MACRO m() AS 1", "CREATE"),
    ("CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 's')", "CREATE"),
    ("INSERT INTO trades SELECT * FROM trades", "INSERT"),
    ("UPDATE trades SET price = 0", "UPDATE"),
    ("DELETE FROM trades", "DELETE"),
    ("TRUNCATE trades", "DELETE"),
    ("DROP VIEW trades", "DROP"),
    ("ALTER VIEW trades RENAME TO t", "ALTER"),
    ("CALL checkpoint()", "CALL"),
    ("CHECKPOINT", "CALL"),
    ("CALL enable_logging()", "CALL"),
    ("SELECT * FROM checkpoint()", "checkpoint()"),
    ("SELECT * FROM enable_profiling()", "enable_profiling()"),
    ("SELECT * FROM query('SELECT 1')", "query()"),
    ("SELECT * FROM trades WHERE 1 IN (SELECT * FROM query('SELECT 1'))", "query()"),
    ("SELECT * FROM json_execute_serialized_sql('x')", "json_execute_serialized_sql()"),
    ("EXPLAIN ANALYZE COPY (SELECT 1) TO '{root}/trades/y.csv'", "EXPLAIN"),
    ("EXPLAIN COPY (SELECT 1) TO '{tmp}/y.csv'", "EXPLAIN"),
    ("EXPLAIN ANALYZE /* x */ CREATE TABLE t AS SELECT 1", "EXPLAIN"),
    ("SELECT 1; DROP VIEW trades", "one statement"),
    ("SELECT 1; SELECT 2", "one statement"),
    ("BEGIN", "BEGIN"),
    ("VACUUM", "VACUUM"),
    ("PREPARE p AS SELECT 1", "PREPARE"),
    ("SELECT * FROM duckdb_secrets()", "Permission"),
]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, Path]:
    """One lake for the whole module: a refused query must leave it untouched anyway."""
    tmp_path = tmp_path_factory.mktemp("sandbox")
    root = write_lake(
        tmp_path / "lake", trades=CANDLE_TRADES + NEXT_DAY, raw=RAW, gaps=GAPS, rejected=REJECTED
    )
    pq.write_table(pa.table({"secret": ["outside"]}), tmp_path / "outside.parquet")
    (tmp_path / "x.json").write_text('{"secret": 1}')
    (tmp_path / "lake" / "trades2").mkdir()
    pq.write_table(pa.table({"secret": ["sibling"]}), tmp_path / "lake" / "trades2" / "x.parquet")
    return Lake(root), tmp_path


@pytest.mark.parametrize(("template", "named"), ESCAPES, ids=[sql for sql, _ in ESCAPES])
def test_escape_is_refused_and_the_lake_still_answers(
    shared: tuple[Lake, Path], template: str, named: str
) -> None:
    lake, outside = shared
    sql = template.replace("{root}", lake.base).replace("{tmp}", str(outside))
    with pytest.raises(QueryError) as caught:
        lake.query(sql)
    message = str(caught.value)
    assert "\n" not in message
    assert named in message, message
    assert "Traceback" not in message
    for written in ("x.csv", "y.csv", "x.db", "export"):
        assert not (outside / written).exists()
        assert not (Path(lake.base) / "trades" / written).exists()
    assert lake.query("SELECT count(*) FROM trades").rows() == [(N_TRADES,)]


def test_python_variables_are_not_visible_to_sql(lake: Lake) -> None:
    secret_table = pa.table({"password": ["hunter2"]})
    with pytest.raises(QueryError, match="secret_table"):
        lake.query("SELECT * FROM secret_table")
    assert secret_table.num_rows == 1


def test_the_connection_itself_is_sandboxed_by_duckdb_settings(lake: Lake) -> None:
    conn = lake.connect()
    try:
        with pytest.raises(duckdb.PermissionException):
            conn.sql("SELECT * FROM read_csv('/etc/passwd')").fetchall()
        with pytest.raises(duckdb.Error, match="locked"):
            conn.execute("SET enable_external_access = true")
        with pytest.raises(duckdb.Error, match="locked"):
            conn.execute("SET allowed_directories = ['/']")
        with pytest.raises(duckdb.Error):
            conn.execute("LOAD httpfs")
        settings = dict(
            conn.sql(
                "SELECT name, value FROM duckdb_settings() WHERE name IN ("
                "'enable_external_access', 'lock_configuration', 'autoinstall_known_extensions',"
                "'autoload_known_extensions', 'python_enable_replacements', 'TimeZone')"
            ).fetchall()
        )
        assert settings == {
            "enable_external_access": "false",
            "lock_configuration": "true",
            "autoinstall_known_extensions": "false",
            "autoload_known_extensions": "false",
            "python_enable_replacements": "false",
            "TimeZone": "UTC",
        }
        assert conn.sql("SELECT count(*) FROM trades").fetchall() == [(N_TRADES,)]
    finally:
        conn.close()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "select 1;",
        "SELECT 1 -- trailing comment",
        "WITH x AS (SELECT 1 AS a) SELECT * FROM x",
        "FROM trades SELECT price LIMIT 1",
        "VALUES (1), (2)",
        "TABLE trades",
        "DESCRIBE trades",
        "SHOW TABLES",
        "SUMMARIZE trades",
        "EXPLAIN SELECT * FROM trades",
        "EXPLAIN ANALYZE SELECT count(*) FROM trades",
        "explain /* c */ analyze select 1",
        "EXPLAIN (FORMAT json) SELECT count(*) FROM trades",
        "PIVOT trades ON side IN ('buy', 'sell') USING count(*) GROUP BY symbol",
        "SELECT * FROM candles('BTCUSD', INTERVAL 1 MINUTE)",
        "SELECT * FROM read_parquet('{root}/trades/*/*/*/*.parquet')",
        "SELECT * FROM query_table('trades')",
        "SELECT * FROM duckdb_settings()",
    ],
)
def test_read_only_statements_are_allowed(shared: tuple[Lake, Path], sql: str) -> None:
    lake, _ = shared
    lake.query(sql.replace("{root}", lake.base))


def test_check_sql_returns_the_single_statement(lake: Lake) -> None:
    conn = lake.connect()
    try:
        assert check_sql(conn, "  SELECT 42;  ").strip().rstrip(";") == "SELECT 42"
        with pytest.raises(QueryError, match="empty query"):
            check_sql(conn, "  -- nothing\n")
    finally:
        conn.close()
