"""The SQL endpoint over HTTP: every refusal the issue lists, limits, exact values, CSV."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest

from ticklake.live_edge import query_lake

from .client import request, sql
from .conftest import QUERY_TIMEOUT
from .stack import LakeServer

READ_ONLY = "only read-only queries run here"
OUTSIDE = "refused, only the lake's tables can be read"
PASSWD = f'{OUTSIDE}: Permission Error: Cannot access file "/etc/passwd"'


@pytest.mark.parametrize(("statement", "refusal"), [
    ("INSERT INTO trades SELECT * FROM trades",
     f"refused: INSERT statements are not allowed; {READ_ONLY}"),
    ("CREATE TABLE x AS SELECT 1", f"refused: CREATE statements are not allowed; {READ_ONLY}"),
    ("DROP VIEW trades", f"refused: DROP statements are not allowed; {READ_ONLY}"),
    ("ATTACH '/tmp/other.db' AS other", f"refused: ATTACH statements are not allowed; {READ_ONLY}"),
    ("INSTALL httpfs", f"refused: INSTALL/LOAD statements are not allowed; {READ_ONLY}"),
    ("LOAD httpfs", f"refused: INSTALL/LOAD statements are not allowed; {READ_ONLY}"),
    ("COPY trades TO '/tmp/stolen.csv'", f"refused: COPY statements are not allowed; {READ_ONLY}"),
    ("SET threads = 1", "refused: SET/RESET/USE/PRAGMA x = y statements are not allowed"),
    ("PRAGMA threads = 1", "refused: SET/RESET/USE/PRAGMA x = y statements are not allowed"),
    ("SELECT * FROM read_csv('/etc/passwd')", PASSWD),
    ("SELECT * FROM read_text('/etc/passwd')", PASSWD),
    ("SELECT 1; SELECT 2", "one statement at a time, got 2"),
    ("SELECT * FROM query('SELECT 1')", "refused: query() is not allowed here"),
    ("SELEC 1", 'Parser Error: syntax error at or near "SELEC"'),
])
def test_refusals_are_one_line_400s(server: LakeServer, statement: str, refusal: str) -> None:
    reply = sql(server.url, statement)
    assert reply.status == 400
    message = reply.json()["error"]
    assert message.startswith(refusal)
    assert "\n" not in message and "Traceback" not in message


def test_a_huge_result_is_cut_at_max_rows_and_flagged(server: LakeServer) -> None:
    reply = sql(server.url, "SELECT * FROM range(100000)")
    assert reply.status == 200
    body = reply.json()
    assert body["truncated"] is True
    assert len(body["rows"]) == 500  # the server's max_rows


def test_a_slow_query_is_stopped_at_the_time_limit(server: LakeServer) -> None:
    reply = sql(server.url, "SELECT count(*) FROM range(1000000000000)")
    assert reply.status == 400
    assert reply.json()["error"] == (
        f"query stopped: it exceeded the time limit of {QUERY_TIMEOUT:g} s")


def test_values_are_exact_and_equal_to_query_lake(server: LakeServer, lake: Path) -> None:
    statement = ("SELECT symbol, count(*) AS n, sum(qty) AS volume, max(price) AS top, "
                 "max(ts_ns) AS last_ns FROM trades GROUP BY symbol ORDER BY symbol")
    body = sql(server.url, statement).json()
    expected = query_lake(str(lake), None, statement)
    assert body["columns"] == expected.columns
    assert body["types"] == expected.types
    rows = [[v if not isinstance(v, Decimal) else format(v, "f") for v in row]
            for row in expected.rows()]
    # ts_ns exceeds 2**53: it travels as text so JavaScript cannot round it
    rows = [[*row[:4], str(row[4])] for row in rows]
    assert body["rows"] == rows
    assert body["truncated"] is False


def test_csv_export_downloads_the_result(server: LakeServer) -> None:
    statement = "SELECT symbol, count(*) AS n FROM trades GROUP BY symbol ORDER BY symbol"
    for reply in (
        request(f"{server.url}/api/sql.csv?" + _q(statement)),
        request(f"{server.url}/api/sql.csv", method="POST", data=_q(statement).encode(),
                headers={"content-type": "application/x-www-form-urlencoded"}),
    ):
        assert reply.status == 200
        assert reply.headers["content-type"].startswith("text/csv")
        assert "attachment" in reply.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(reply.body.decode())))
        assert rows == [["symbol", "n"], ["BTCUSD", "2000"], ["ETHUSD", "2000"]]
    refused = request(f"{server.url}/api/sql.csv?" + _q("DROP VIEW trades"))
    assert refused.status == 400 and refused.json()["error"].startswith("refused: DROP")


@pytest.mark.parametrize(("data", "message"), [
    (b"{not json", "the request body is not JSON"),
    (b"[1, 2]", "the request body must be a JSON object"),
    (b'{"sql": ""}', "give the query as 'sql'"),
    (b'{"sql": 42}', "give the query as 'sql'"),
])
def test_malformed_requests_get_one_line(server: LakeServer, data: bytes, message: str) -> None:
    reply = request(f"{server.url}/api/sql", method="POST", data=data,
                    headers={"content-type": "application/json"})
    assert reply.status == 400
    assert reply.json()["error"].startswith(message)


def _q(statement: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"sql": statement})
