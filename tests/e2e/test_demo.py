"""``ticklake demo`` (what ``make demo`` runs): the whole pipeline against the built-in
emulator, faults included, leaves a lake with trades and order books a user can query."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import run_cli


def test_the_demo_records_trades_and_books_through_its_faults(tmp_path: Path) -> None:
    demo = run_cli("demo", "--duration", "12", "--port", "0", "--no-tape", "--fault-every", "2",
                   "--swing-every", "0", timeout=90, cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "Traceback" not in demo.stderr

    def sql(query: str) -> list[dict[str, object]]:
        result = run_cli("sql", query, "--format", "json", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    (counts,) = sql("SELECT (SELECT count(*) FROM trades) AS trades, "
                    "(SELECT count(DISTINCT symbol) FROM book_updates) AS books, "
                    "(SELECT count(*) FROM book_snapshots) AS snapshots")
    assert counts["trades"] > 100 and counts["books"] == 2 and counts["snapshots"] > 0, counts
    for symbol in ("BTCUSD", "BTCUSDT"):
        # The last recorded book: both sides, best bid below best ask.
        levels = sql(f"SELECT side, price FROM book_at('{symbol}', (SELECT max(ts) FROM "
                     f"book_updates WHERE symbol = '{symbol}'), 1)")
        prices = {row["side"]: float(str(row["price"])) for row in levels}
        assert set(prices) == {"bid", "ask"} and prices["bid"] < prices["ask"], (symbol, levels)
