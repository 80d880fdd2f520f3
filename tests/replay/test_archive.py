"""The archive a replay reads: every ``raw`` row once, in archive order, inside the window; the
products from the control records, served so that ticklake's own client reads the scales
the recorder had."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ticklake.emulator.replay.config import ReplayError
from ticklake.emulator.replay.products import Products
from ticklake.emulator.replay.source import Archive
from ticklake.feed.phemex.control import decode_control
from ticklake.feed.phemex.products import parse_products_payload

from .helpers import CONTROL, SECOND, T0, Archived, control, lake_of, raw, trades, write_table


def _payloads(root: Path, lo: int | None = None, hi: int | None = None) -> list[str]:
    return [payload for _, _, _, payload in Archive(str(root)).rows(lo, hi)]


def test_rows_come_in_offset_order_across_files_and_a_compact_file_supersedes_its_parts(
        tmp_path: Path) -> None:
    rows = [raw(T0 + i * SECOND, f"frame {i}", offset=i) for i in range(6)]
    write_table(tmp_path, "raw", rows[3:])  # part-3-6
    write_table(tmp_path, "raw", rows[:3])  # part-0-3
    partition = next((tmp_path / "raw").rglob("date=*"))
    # A compaction that published its merge of 0-3 and crashed before deleting the input.
    (partition / "part-00000000000000000000-00000000000000000003.parquet").rename(
        partition / "compact-00000000000000000000-00000000000000000003.parquet")
    write_table(tmp_path, "raw", rows[:2])  # part-0-2: inside the compact file's range
    (partition / ".part-tmp.parquet").write_bytes(b"a temp file being written")
    assert _payloads(tmp_path) == [f"frame {i}" for i in range(6)]


def test_the_window_is_inclusive_and_spans_date_partitions(tmp_path: Path) -> None:
    day = 86_400 * SECOND
    times = [T0 - 2 * SECOND, T0 + 5, T0 + day, T0 + day + 1, T0 + 2 * day]
    write_table(tmp_path, "raw", [raw(t, str(i), offset=i) for i, t in enumerate(times)])
    assert _payloads(tmp_path) == ["0", "1", "2", "3", "4"]
    assert _payloads(tmp_path, T0 + 5, T0 + day) == ["1", "2"]
    assert _payloads(tmp_path, T0 + day + 1, None) == ["3", "4"]


def test_streams_of_kafka_partitions_are_merged_by_receive_time(tmp_path: Path) -> None:
    """Their offsets count in different logs (the same numbers here): only time orders them."""
    for stream, times in (("ticks.0", (1, 4)), ("ticks.1", (2, 3))):
        [path] = write_table(tmp_path, "raw", [raw(T0 + t, f"{stream}@{t}", offset=i)
                                               for i, t in enumerate(times)])
        path.rename(path.with_name(path.name.replace(".parquet", f"-{stream}.parquet")))
    assert _payloads(tmp_path) == ["ticks.0@1", "ticks.1@2", "ticks.1@3", "ticks.0@4"]


def test_a_missing_lake_or_one_without_raw_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="no lake at"):
        Archive(str(tmp_path / "nothing"))
    (tmp_path / "lake" / "trades").mkdir(parents=True)
    with pytest.raises(ReplayError, match="no raw table"):
        Archive(str(tmp_path / "lake"))


def test_control_records_are_found_whatever_their_connection_id_upper_half(
        tmp_path: Path) -> None:
    archived = Archived()
    archived.control([{"symbol": "BTCUSD", "family": "coin-m", "price_scale": 4,
                       "qty_scale": 0}])
    archived.add(trades("BTCUSD", 1, [[T0, "Buy", 1, 1]]))
    # A Kafka stream folds the recorder's number into the upper 32 bits (lake-layout.md).
    archived.add(control([{"symbol": "ETHUSD", "family": "coin-m", "price_scale": 4,
                           "qty_scale": 0, "value_scale": 4}]), (7 << 32) | CONTROL)
    root = lake_of(tmp_path, archived)
    found = Products.from_control(Archive(str(root)).control_payloads(None))
    assert sorted(found.listings) == ["BTCUSD", "ETHUSD"]
    assert Products.from_control(Archive(str(root)).control_payloads(T0)).listings.keys() == {
        "BTCUSD"}


def test_the_products_payload_gives_ticklake_the_recorded_scales() -> None:
    """Built from the control record, read by the client's own parser: the same table."""
    record = control()
    payload = Products.from_control([record]).body()
    table = parse_products_payload(payload, "replay")
    assert table.problems == ()
    assert table.listing() == decode_control(record.encode()).table().listing()


def test_the_products_payload_reads_as_cryptofeed_and_ccxt_expect() -> None:
    data = json.loads(Products.from_control([control()]).body())["data"]
    rows = {r["symbol"]: r for r in [*data["products"], *data["perpProductsV2"]]}
    assert rows["BTCUSD"]["displaySymbol"] == "BTC / USD"  # cryptofeed: BTC-USD-PERP
    assert (rows["BTCUSD"]["contractUnderlyingAssets"], rows["BTCUSD"]["settleCurrency"]) == (
        "USD", "BTC")  # ccxt: BTC/USD:BTC, inverse
    assert rows["sBTCUSDT"]["displaySymbol"] == "BTC / USDT"
    assert {c["currency"]: c["valueScale"] for c in data["currencies"]}["BTC"] == 8
    assert rows["BTCUSDT"]["type"] == "PerpetualV2"
    assert rows["BTCUSDT"]["indexSymbol"] == ".BTCUSDT"
