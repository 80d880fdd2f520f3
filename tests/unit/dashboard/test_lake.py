"""The Lake page's endpoints list what the catalog reads from the footers."""

from __future__ import annotations

from pathlib import Path

from ticklake.dashboard import DashboardConfig
from ticklake.tables import TABLES

from .client import request
from .lakes import TRADES_PER_SYMBOL
from .stack import LakeServer


def test_lake_lists_every_table_with_rows_and_schema(server: LakeServer) -> None:
    body = request(f"{server.url}/api/lake").json()
    tables = {t["name"]: t for t in body["tables"]}
    assert set(tables) == set(TABLES)
    trades = tables["trades"]
    assert trades["rows"] == 2 * TRADES_PER_SYMBOL
    assert trades["partitions"] == 4  # 2 symbols x 2 days
    assert trades["files"] == 4 and trades["bytes"] > 0
    assert trades["max_time"].startswith("2026-11-26T")
    assert {"name": "price", "type": "DECIMAL(18,8)"} in trades["columns"]
    assert trades["partition_keys"] == ["exchange", "symbol", "date"]
    assert tables["gaps"]["rows"] == 0 and tables["gaps"]["max_time"] is None


def test_partitions_newest_first(server: LakeServer) -> None:
    body = request(f"{server.url}/api/lake/trades/partitions").json()
    assert body["count"] == 4
    values = [p["values"] for p in body["partitions"]]
    assert values[0] == {"exchange": "phemex", "symbol": "ETHUSD", "date": "2026-11-26"}
    assert sum(p["rows"] for p in body["partitions"]) == 2 * TRADES_PER_SYMBOL
    unknown = request(f"{server.url}/api/lake/passwords/partitions")
    assert unknown.status == 400
    assert unknown.json()["error"].startswith("no table 'passwords' in the lake")


def test_symbols_with_their_ranges(server: LakeServer) -> None:
    body = request(f"{server.url}/api/symbols").json()
    assert body["symbols"] == ["BTCUSD", "ETHUSD"]
    assert body["live"] == []
    assert body["ranges"]["BTCUSD"]["since_ms"] == 1_795_564_800_000  # 2026-11-25 00:00 UTC


def test_no_lake_is_a_one_line_error(tmp_path: Path) -> None:
    missing = LakeServer(DashboardConfig(str(tmp_path / "nothing"), None, port=0)).start()
    try:
        reply = request(f"{missing.url}/api/lake")
        assert reply.status == 400
        assert reply.json()["error"].startswith("no ticklake lake at")
        assert request(f"{missing.url}/api/symbols").json()["symbols"] == []
        info = request(f"{missing.url}/api/info").json()
        assert info["recording"] is False
        page = request(f"{missing.url}/")
        assert page.status == 200 and b"/vendor/plotly.min.js" in page.body
        assert "default-src 'self'" in page.headers["content-security-policy"]
    finally:
        missing.stop()
