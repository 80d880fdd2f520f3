"""The live edge: a self-describing spool decoded incrementally, seen once across the seam."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa

from ticklake.feed.phemex import Family, Product, ProductTable, default_products
from ticklake.feed.phemex.control import CONTROL_CONN_ID, DecodeParams, encode_control
from ticklake.lake.storage import LakeStorage
from ticklake.lake.tail import Seam, SpoolTail, read_tail
from ticklake.lake.writer import CURSOR, BufferingHints, LakeWriter
from ticklake.live_edge import LiveEdge
from ticklake.model import RawFrame
from ticklake.spool import Spool, SpoolWriter

S = 1_000_000_000
T0 = 1_800_000_000 * S
# Not among the shipped defaults: only the spool's control record makes them decodable.
EXTRA = [Product("Z001USD", Family.COIN_M, 4, 0), Product("sZ003USDT", Family.SPOT, 8, 6),
         Product("Z002USDT", Family.USD_M, 8, 8)]
KEYS = {Family.COIN_M: "trades", Family.SPOT: "trades", Family.USD_M: "trades_p"}


def control(products: list[Product]) -> RawFrame:
    params = DecodeParams.of(ProductTable(products, source="test"), None)
    return RawFrame(CONTROL_CONN_ID, T0, encode_control(params))


def trade_frame(product: Product, n: int, conn_id: int = 7) -> RawFrame:
    ts = T0 + n * 1_000_000
    row: list[object] = [ts, "Buy" if n % 2 else "Sell", 1_000_000 + n, 3 + n]
    if product.family is Family.USD_M:
        row = [ts, row[1], f"{100 + n}.5", "0.001"]
    message = {"sequence": 1000 + n, "symbol": product.symbol,
               "type": "snapshot" if n == 0 else "incremental", KEYS[product.family]: [row]}
    return RawFrame(conn_id, ts + 5_000_000, json.dumps(message).encode())


def record(writer: SpoolWriter, first: int, count: int) -> None:
    for n in range(first, first + count):
        writer.append(trade_frame(EXTRA[n % len(EXTRA)], n))


def trade_keys(tables: dict[str, pa.Table]) -> Counter[tuple[object, ...]]:
    rows = tables["trades"].select(["symbol", "ts_ns", "price", "qty"]).to_pylist()
    return Counter(tuple(r.values()) for r in rows)


def test_a_spool_names_its_products_so_any_reader_decodes_every_symbol(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    with spool.writer() as writer:
        writer.append(control(EXTRA))
        record(writer, 0, 30)
    tails, seam = read_tail(spool, spool.cursors, default_products())  # knows none of them
    assert seam.cursor == 0 and seam.in_progress is None
    assert "rejected" not in tails
    symbols = Counter(tails["trades"]["symbol"].to_pylist())
    assert symbols == {"Z001USD": 10, "Z002USDT": 10, "sZ003USDT": 10}
    spot = tails["trades"].filter(pa.compute.equal(tails["trades"]["symbol"], "sZ003USDT"))
    assert str(spot["qty"][0].as_py()) == "0.00000400"  # 4 units at the control's scale 6
    # The control record stays in raw: the lake alone can be decoded again.
    assert CONTROL_CONN_ID in tails["raw"]["conn_id"].to_pylist()


def test_without_a_control_record_unknown_symbols_are_rejected_not_guessed(
        tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    with spool.writer() as writer:
        record(writer, 0, 3)
    tails, _ = read_tail(spool, spool.cursors, default_products())
    assert "trades" not in tails
    assert tails["rejected"].num_rows == 3


def test_a_malformed_control_record_is_quarantined(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    with spool.writer() as writer:
        writer.append(RawFrame(CONTROL_CONN_ID, T0, b'{"ticklake": "decode-params"}'))
        writer.append(control(EXTRA))
        record(writer, 0, 3)
    tails, _ = read_tail(spool, spool.cursors, default_products())
    (reason,) = tails["rejected"]["reason"].to_pylist()
    assert "control record not valid" in reason
    assert tails["trades"].num_rows == 3


def test_the_tail_decodes_only_what_arrived_and_equals_a_full_read(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    tail = SpoolTail(spool, spool.cursors, default_products())
    with spool.writer() as writer:
        writer.append(control(EXTRA))
        record(writer, 0, 100)
        writer.sync()
        first, _ = tail.refresh()
        assert tail.decoded == 101 and first["trades"].num_rows == 100
        for step in range(5):
            record(writer, 100 + 20 * step, 20)
            writer.sync()
            tails, _ = tail.refresh()
        assert tail.decoded == 201  # each refresh read only the new records
        again, _ = tail.refresh()
        assert tail.decoded == 201
    full, _ = read_tail(spool, spool.cursors, default_products())
    assert trade_keys(tails) == trade_keys(full) == trade_keys(again)
    assert tails["raw"].num_rows == full["raw"].num_rows == 201


def test_published_rows_leave_the_tail_and_the_edge_sees_each_trade_once(
        tmp_path: Path) -> None:
    spool_dir, lake_root = tmp_path / "spool", tmp_path / "lake"
    spool = Spool(spool_dir)
    lake = LakeWriter(spool, spool.cursors, LakeStorage(str(lake_root)), default_products(),
                      BufferingHints(size_mib=64, interval=3600))
    edge = LiveEdge(str(lake_root), spool_dir)
    sql = "SELECT symbol, count(*) FROM trades GROUP BY symbol ORDER BY symbol"
    expected = [("Z001USD", 20), ("Z002USDT", 20), ("sZ003USDT", 20)]
    with spool.writer() as writer:
        writer.append(control(EXTRA))
        record(writer, 0, 30)
        writer.sync()
        assert edge.query(sql).rows() == [(s, n // 2) for s, n in expected]
        lake.poll()
        assert lake.publish() and lake.committed_offset == 31  # the writer publishes 31
        record(writer, 30, 30)
        writer.sync()
        assert edge.query(sql).rows() == expected  # files + the tail past the cursor
        tails, seam = edge.tails()
        assert seam.cursor == 31 and tails["trades"].num_rows == 30
        assert edge.query("SELECT count(*) FROM rejected").rows() == [(0,)]
        lake.poll()
        lake.publish()
        assert edge.query(sql).rows() == expected  # all in files now, nothing twice
        assert "trades" not in edge.tails()[0]


def test_a_publish_in_progress_is_not_seen_twice(tmp_path: Path) -> None:
    """Files written for a batch whose cursor is not committed yet are left out (the tail
    still holds those rows); files this spool did not write are always in."""
    spool_dir, lake_root = tmp_path / "spool", tmp_path / "lake"
    spool = Spool(spool_dir)
    storage = LakeStorage(str(lake_root))
    lake = LakeWriter(spool, spool.cursors, storage, default_products(),
                      BufferingHints(size_mib=64, interval=3600))
    with spool.writer() as writer:
        writer.append(control(EXTRA))
        record(writer, 0, 30)
    lake.poll()
    lake.publish()
    cursor = spool.cursors.load(CURSOR)
    spool.cursors.commit(CURSOR, 0, b"")  # as if the crash came between files and cursor
    edge = LiveEdge(str(lake_root), spool_dir)
    assert edge.tails()[1] == Seam(0, (0, 31))
    assert edge.query("SELECT count(*) FROM trades").rows() == [(30,)]
    spool.cursors.commit(CURSOR, *cursor)
    assert edge.query("SELECT count(*) FROM trades").rows() == [(30,)]
    # Another spool (no cursor at all) beside the same lake: the lake's files all count.
    other = tmp_path / "other-spool"
    with Spool(other).writer() as writer:
        writer.append(control(EXTRA))
        record(writer, 100, 3)
    assert LiveEdge(str(lake_root), other).query(
        "SELECT count(*) FROM trades").rows() == [(33,)]
