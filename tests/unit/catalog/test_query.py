"""Errors are one line, limits hold, results render exactly."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ticklake.catalog import Lake, format_result, run_query
from ticklake.errors import LakeNotFound, QueryError, TicklakeError

from ...support import scaled


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "SELECT * FROM trade",
            "Catalog Error: Table with name trade does not exist! Did you mean",
        ),
        ("SELEC 1", 'Parser Error: syntax error at or near "SELEC"'),
        ("SELECT nope FROM trades", 'Binder Error: Referenced column "nope" not found'),
        ("SELECT 'a'::INT", "Conversion Error: Could not convert string 'a' to INT32"),
        ("SELECT * FROM candles('BTCUSD')", "candles"),
        ("", "empty query"),
    ],
)
def test_bad_sql_gives_one_line_naming_the_problem(lake: Lake, sql: str, expected: str) -> None:
    with pytest.raises(QueryError) as caught:
        lake.query(sql)
    message = str(caught.value)
    assert message.startswith(expected) or expected in message, message
    assert "\n" not in message
    assert "LINE 1" not in message
    assert "^" not in message
    assert caught.value.__cause__ is None
    assert isinstance(caught.value, TicklakeError)


def test_missing_table_suggests_the_view(lake: Lake) -> None:
    with pytest.raises(QueryError, match='Did you mean "trades"'):
        lake.query("SELECT * FROM trade")


def test_missing_lake_says_so(tmp_path: Path) -> None:
    with pytest.raises(LakeNotFound) as caught:
        Lake(tmp_path / "nowhere")
    assert str(caught.value) == (
        f"no ticklake lake at {tmp_path / 'nowhere'} (missing _ticklake/lake.json)"
    )


def test_a_lake_of_another_format_is_refused(tmp_path: Path) -> None:
    (tmp_path / "_ticklake").mkdir()
    (tmp_path / "_ticklake" / "lake.json").write_text('{"format": 2}')
    with pytest.raises(LakeNotFound, match="unsupported lake format 2"):
        Lake(tmp_path)
    (tmp_path / "_ticklake" / "lake.json").write_text("not json")
    with pytest.raises(LakeNotFound, match="cannot read the lake"):
        Lake(tmp_path)


def test_create_is_idempotent(tmp_path: Path) -> None:
    first = Lake.create(tmp_path / "new")
    marker = tmp_path / "new" / "_ticklake" / "lake.json"
    assert json.loads(marker.read_text()) == {"format": 1}
    marker.write_text('{"format": 1, "note": "kept"}')
    Lake.create(tmp_path / "new")
    assert json.loads(marker.read_text())["note"] == "kept"
    assert first.query("SELECT count(*) FROM trades").rows() == [(0,)]


def test_slow_query_is_stopped_at_the_time_limit(lake: Lake) -> None:
    # A join of 10**12 rows: it ends only by being stopped (else the test's own timeout).
    with pytest.raises(QueryError, match=r"time limit of 0\.3 s"):
        lake.query(
            "SELECT count(*) FROM range(1000000000) a, range(1000) b WHERE a.range % 7 = b.range",
            timeout=0.3,
        )
    assert lake.query("SELECT 1", timeout=5).rows() == [(1,)]


def test_a_connection_is_usable_after_a_timeout(lake: Lake) -> None:
    conn = lake.connect()
    try:
        with pytest.raises(QueryError, match="time limit"):
            run_query(conn, "SELECT count(*) FROM range(100000) a, range(100000) b", timeout=0.2)
        assert run_query(conn, "SELECT count(*) FROM trades").rows() == [(9,)]
    finally:
        conn.close()


def test_max_rows_truncates_and_says_so(lake: Lake) -> None:
    result = lake.query("SELECT * FROM range(10) ORDER BY range DESC", max_rows=3)
    assert result.truncated
    assert result.rows() == [(9,), (8,), (7,)]
    exact = lake.query("SELECT * FROM range(3)", max_rows=3)
    assert not exact.truncated
    assert exact.num_rows == 3
    assert lake.query("SELECT * FROM range(5)", max_rows=0).num_rows == 0
    assert result.elapsed >= 0


def test_huge_results_are_not_materialised_past_max_rows(lake: Lake) -> None:
    # 10**10 rows materialised would exceed the time limit (and the memory): a QueryError.
    result = lake.query("SELECT * FROM range(10000000000)", max_rows=5, timeout=scaled(10))
    assert result.truncated and result.num_rows == 5


def test_bad_limits_are_refused(lake: Lake) -> None:
    with pytest.raises(QueryError, match="max_rows"):
        lake.query("SELECT 1", max_rows=-1)
    with pytest.raises(QueryError, match="timeout"):
        lake.query("SELECT 1", timeout=0)


# -- output formats --------------------------------------------------------------------------

SAMPLE = (
    "SELECT ts, ts_ns, price, qty, side, symbol, date FROM trades "
    "WHERE qty = 0.00000001 ORDER BY ts_ns"
)


def test_table_format_is_aligned_and_exact(lake: Lake) -> None:
    text = format_result(lake.query(SAMPLE), "table", None)
    assert text is not None
    lines = text.splitlines()
    assert lines[0].split(" | ")[0].strip() == "ts"
    assert "0.00000001" in lines[2] and "90000.50000000" in lines[3]
    assert "1795651200000000005" in lines[3]
    assert lines[-1] == "(2 rows)"
    assert lines[0].index(" | ") == lines[1].index("-+-")
    truncated = format_result(lake.query("SELECT 1", max_rows=0), "table", None)
    assert truncated is not None and "truncated" in truncated


def test_csv_format(lake: Lake) -> None:
    text = format_result(lake.query(SAMPLE), "csv", None)
    assert text is not None
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["price"] for r in rows] == ["100.00000000", "90000.50000000"]
    assert [r["qty"] for r in rows] == ["0.00000001", "0.00000001"]
    assert rows[1]["ts_ns"] == "1795651200000000005"


def test_json_format_keeps_decimals_and_big_integers_exact(lake: Lake) -> None:
    text = format_result(lake.query(SAMPLE), "json", None)
    assert text is not None
    rows = json.loads(text, parse_float=Decimal)
    assert rows[1] == {
        "ts": "2026-11-26T00:00:00+00:00",
        "ts_ns": 1795651200000000005,
        "price": Decimal("90000.50000000"),
        "qty": Decimal("0.00000001"),
        "side": "sell",
        "symbol": "BTCUSD",
        "date": "2026-11-26",
    }
    nested = format_result(lake.query("SELECT [1, 2] AS l, {'a': NULL} AS s"), "json", None)
    assert nested is not None and json.loads(nested) == [{"l": [1, 2], "s": {"a": None}}]
    assert format_result(lake.query("SELECT 1 WHERE false"), "json", None) == "[]\n"


def test_parquet_format_needs_a_file_and_round_trips(lake: Lake, tmp_path: Path) -> None:
    result = lake.query(SAMPLE)
    with pytest.raises(QueryError, match="output file"):
        format_result(result, "parquet", None)
    out = tmp_path / "out.parquet"
    assert format_result(result, "parquet", out) is None
    assert pq.read_table(out).equals(result.to_arrow())


def test_text_formats_can_go_to_a_file(lake: Lake, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    assert format_result(lake.query(SAMPLE), "csv", out) is None
    assert out.read_text().startswith('"ts","ts_ns"')
    with pytest.raises(QueryError, match="cannot write"):
        format_result(lake.query(SAMPLE), "csv", tmp_path / "missing" / "x.csv")
