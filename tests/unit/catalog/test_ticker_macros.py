"""funding() and basis(): the last ticker update of each bucket, exact, for one symbol, read
from the files of the window's days only."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ticklake.catalog import Lake
from ticklake.manifest import ManifestStore, build

from .helpers import SECOND, T0, ticker, write_table

DAY = 86_400 * SECOND
MINUTE = 60 * SECOND


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root = tmp_path_factory.mktemp("tickers") / "lake"
    (root / "_ticklake").mkdir(parents=True)
    (root / "_ticklake" / "lake.json").write_text('{"format": 1}')
    rows = [
        # minute 0: two updates, the later one wins (written first, and by time, not offset)
        ticker("BTCUSD", T0 + 30 * SECOND, "market24h", offset=2, last="90000",
               mark_price="90009", index_price="90000.5", funding_rate="0.0001",
               pred_funding_rate="0.00012"),
        ticker("BTCUSD", T0 + 10 * SECOND, "market24h", offset=1, last="89000",
               mark_price="1", index_price="1", funding_rate="0.5", pred_funding_rate="0.5"),
        # minute 1: a negative funding rate, mark below last
        ticker("BTCUSD", T0 + MINUTE + 5, "market24h", offset=3, last="90100",
               mark_price="90091", index_price="90090", funding_rate="-0.000125",
               pred_funding_rate="-0.0001"),
        # another symbol, and a spot row that has neither mark nor funding
        ticker("ETHUSD", T0 + 20 * SECOND, "market24h", offset=4, last="3000",
               mark_price="3001", index_price="3000", funding_rate="0.0003"),
        ticker("sBTCUSDT", T0 + 20 * SECOND, "spot_market24h", offset=5, last="90000",
               bid="89999", ask="90001"),
        # the next day
        ticker("BTCUSD", T0 + DAY + 1, "market24h", offset=6, last="91000",
               mark_price="91000", index_price="91000", funding_rate="0.0001"),
    ]
    write_table(root, "tickers", rows, files=2)
    build(ManifestStore(str(root)))
    return Lake(root)


def test_funding_history_is_the_last_update_of_each_bucket(lake: Lake) -> None:
    rows = lake.query("SELECT * FROM funding('BTCUSD', INTERVAL 1 MINUTE, "
                      "until := '2026-11-26')").table.to_pylist()
    assert [(r["funding_rate"], r["pred_funding_rate"], r["mark_price"], r["index_price"],
             r["updates"]) for r in rows] == [
        (Decimal("0.0001"), Decimal("0.00012"), Decimal(90009), Decimal("90000.5"), 2),
        (Decimal("-0.000125"), Decimal("-0.0001"), Decimal(90091), Decimal(90090), 1),
    ]
    assert lake.query("SELECT count(*) FROM funding('sBTCUSDT', '1 minute')").rows() == [(0,)]


def test_basis_is_mark_against_last_and_index(lake: Lake) -> None:
    rows = lake.query("SELECT * FROM basis('BTCUSD', '1 minute', since := '2026-11-25', "
                      "until := '2026-11-26')").table.to_pylist()
    assert [(r["last"], r["mark_price"], r["basis"]) for r in rows] == [
        (Decimal(90000), Decimal(90009), Decimal(9)),
        (Decimal(90100), Decimal(90091), Decimal(-9)),
    ]
    assert rows[0]["basis_bp"] == pytest.approx(1.0)
    assert rows[0]["premium_bp"] == pytest.approx(8.5 / 90000.5 * 1e4)


def test_a_window_reads_the_files_of_its_days_only(lake: Lake) -> None:
    database = lake.database()
    sql = "SELECT * FROM funding('BTCUSD', '1 hour', since := '2026-11-26')"
    assert len(database.scan_files(sql)["tickers"]) == 1  # of 3 BTCUSD files, 5 in all
    assert len(lake.entries("tickers")) == 5
    assert [r[1] for r in database.query(sql).rows()] == [Decimal("0.0001")]
