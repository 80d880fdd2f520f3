"""book_at / book_top / book_depth on hand-made book rows: the rebuild rule of
docs/lake-layout.md, level by level, and the files a book question reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from ticklake.catalog import Lake
from ticklake.manifest import ManifestStore, build

from .helpers import SECOND, T0, book_snapshot, book_update, gap, write_table

HOUR = 3600 * SECOND
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def at(ns: int) -> str:
    """A TIMESTAMPTZ literal (a constant the scan planner reads; a function call it does not)."""
    return f"TIMESTAMPTZ '{EPOCH + timedelta(microseconds=ns // 1000):%Y-%m-%d %H:%M:%S.%f}Z'"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    root = tmp_path_factory.mktemp("books") / "lake"
    (root / "_ticklake").mkdir(parents=True)
    (root / "_ticklake" / "lake.json").write_text('{"format": 1}')
    s = "BTCUSD"
    updates = [
        # offset 10: the subscribe snapshot; the cadence snapshot at T0 + 1 s holds it (+ 11).
        book_update(s, T0, "bid", "100", "1", offset=10, action="snapshot"),
        book_update(s, T0, "bid", "99", "2", offset=10, action="snapshot"),
        book_update(s, T0, "ask", "101", "3", offset=10, action="snapshot"),
        book_update(s, T0 + SECOND // 2, "ask", "102", "4", offset=11),
        # after the cadence snapshot: the best bid deleted, a level added then trimmed at once
        book_update(s, T0 + 3 * SECOND // 2, "bid", "100", "0", offset=13),
        book_update(s, T0 + 3 * SECOND // 2, "ask", "103", "1", offset=13),
        book_update(s, T0 + 3 * SECOND // 2, "ask", "103", "0", offset=13, action="trim"),
        # a periodic snapshot replaces everything
        book_update(s, T0 + 2 * SECOND, "bid", "98", "5", offset=15, action="snapshot"),
        book_update(s, T0 + 2 * SECOND, "ask", "99", "6", offset=15, action="snapshot"),
        # inside the gap below: never served
        book_update(s, T0 + 5 * SECOND, "bid", "50", "1", offset=20),
        book_update(s, T0 + 6 * SECOND, "bid", "97", "1", offset=21, action="snapshot"),
        book_update(s, T0 + 6 * SECOND, "ask", "98", "1", offset=21, action="snapshot"),
        # BTCUSDT: found crossed at 2 s (its gap not written yet), a snapshot at 3 s
        book_update("BTCUSDT", T0, "bid", "100", "1", offset=50, action="snapshot"),
        book_update("BTCUSDT", T0, "ask", "101", "1", offset=50, action="snapshot"),
        book_update("BTCUSDT", T0 + SECOND, "bid", "99", "1", offset=52),
        book_update("BTCUSDT", T0 + 2 * SECOND, "bid", "102", "1", offset=53),
        book_update("BTCUSDT", T0 + 2 * SECOND, "bid", "0", "0", offset=53, action="invalid"),
        book_update("BTCUSDT", T0 + 3 * SECOND, "bid", "90", "1", offset=54, action="snapshot"),
        book_update("BTCUSDT", T0 + 3 * SECOND, "ask", "91", "1", offset=54, action="snapshot"),
        # another symbol, another day
        book_update("ETHUSD", T0 + 24 * HOUR, "bid", "10", "1", offset=30, action="snapshot"),
        book_update("ETHUSD", T0 + 24 * HOUR + SECOND, "bid", "11", "2", offset=40,
                    action="snapshot"),
    ]
    snapshots = [
        book_snapshot(s, T0, "bid", 1, "100", "1", offset=11, reason="subscribe"),
        book_snapshot(s, T0, "bid", 2, "99", "2", offset=11, reason="subscribe"),
        book_snapshot(s, T0, "ask", 1, "101", "3", offset=11, reason="subscribe"),
        book_snapshot(s, T0 + SECOND, "bid", 1, "100", "1", offset=13),
        book_snapshot(s, T0 + SECOND, "bid", 2, "99", "2", offset=13),
        book_snapshot(s, T0 + SECOND, "ask", 1, "101", "3", offset=13),
        book_snapshot(s, T0 + SECOND, "ask", 2, "102", "4", offset=13),
        book_snapshot("ETHUSD", T0 + 24 * HOUR, "bid", 1, "10", "1", offset=31,
                      reason="subscribe"),
    ]
    write_table(root, "book_updates", updates)
    write_table(root, "book_snapshots", snapshots)
    book_gap = gap(s, T0 + 4 * SECOND, T0 + 6 * SECOND, offset=21) | {"channel": "book"}
    write_table(root, "gaps", [book_gap, gap(s, T0, T0 + 10 * SECOND, offset=3)])
    build(ManifestStore(str(root)))
    return Lake(root)


def book(lake: Lake, ns: int, depth: int = 30) -> list[tuple[str, int, D, D]]:
    return [tuple(r) for r in lake.query(  # type: ignore[misc]
        f"SELECT side, level, price, qty FROM book_at('BTCUSD', {at(ns)}, {depth})").rows()]


def test_the_book_at_an_instant_follows_the_documented_rule(lake: Lake) -> None:
    assert book(lake, T0 - 1000) == []  # before the first snapshot
    subscribe = [("bid", 1, D(100), D(1)), ("bid", 2, D(99), D(2)), ("ask", 1, D(101), D(3))]
    assert book(lake, T0) == subscribe
    assert book(lake, T0 + SECOND // 2) == [*subscribe, ("ask", 2, D(102), D(4))]
    # From the cadence snapshot of 1 s: a delete, and an added level trimmed in its message.
    assert book(lake, T0 + 3 * SECOND // 2) == [
        ("bid", 1, D(99), D(2)), ("ask", 1, D(101), D(3)), ("ask", 2, D(102), D(4))]
    assert book(lake, T0 + 3 * SECOND // 2, depth=1) == [
        ("bid", 1, D(99), D(2)), ("ask", 1, D(101), D(3))]
    assert book(lake, T0 + 3 * SECOND) == [("bid", 1, D(98), D(5)), ("ask", 1, D(99), D(6))]
    # Inside a book gap nothing; a trades gap does not matter; at its end the new book.
    assert book(lake, T0 + 5 * SECOND) == []
    assert book(lake, T0 + 6 * SECOND) == [("bid", 1, D(97), D(1)), ("ask", 1, D(98), D(1))]
    # Within the lookback (2 minutes by default) of the last snapshot the book stands; beyond
    # it, no book (the recording ended); a longer lookback reaches back further.
    assert book(lake, T0 + 6 * SECOND + 119 * SECOND) == book(lake, T0 + 6 * SECOND)
    assert book(lake, T0 + 6 * SECOND + 121 * SECOND) == []
    assert lake.query(f"SELECT count(*) FROM book_at('BTCUSD', {at(T0 + 2 * HOUR)}, "
                      "lookback := INTERVAL 3 HOUR)").rows() == [(2,)]


def test_an_invalid_row_leaves_no_book_until_the_next_snapshot(lake: Lake) -> None:
    def best(ns: int) -> list[tuple[object, ...]]:
        return [tuple(r) for r in lake.query(
            f"SELECT side, price FROM book_at('BTCUSDT', {at(ns)}, 1)").rows()]

    assert best(T0 + 3 * SECOND // 2) == [("bid", D(100)), ("ask", D(101))]
    assert best(T0 + 2 * SECOND) == best(T0 + 5 * SECOND // 2) == []  # never the crossed book
    assert best(T0 + 3 * SECOND) == [("bid", D(90)), ("ask", D(91))]


def test_a_book_starts_from_a_snapshot_message_without_book_snapshots(lake: Lake) -> None:
    """Cadence snapshots off: ETHUSD has no book_snapshots row after its first message."""
    got = lake.query(f"SELECT side, level, price, qty FROM book_at('ETHUSD', "
                     f"{at(T0 + 24 * HOUR + 2 * SECOND)})").rows()
    assert [tuple(r) for r in got] == [("bid", 1, D(11), D(2))]


def test_top_of_book_and_depth_over_time(lake: Lake) -> None:
    rows = lake.query(
        f"SELECT epoch_ns(ts) - {T0}, bid, ask, spread, mid, top_imbalance FROM book_top("
        f"'BTCUSD', INTERVAL 1 SECOND, {at(T0)}, {at(T0 + 7 * SECOND)})").rows()
    assert rows == [
        (0, D(100), D(101), D(1), 100.5, -0.5),
        (SECOND, D(100), D(101), D(1), 100.5, -0.5),
        (2 * SECOND, D(98), D(99), D(1), 98.5, (5 - 6) / 11),
        (3 * SECOND, D(98), D(99), D(1), 98.5, (5 - 6) / 11),
        # 4 s: the gap's open start (the book was verified then); 5 s inside it: no row
        (4 * SECOND, D(98), D(99), D(1), 98.5, (5 - 6) / 11),
        (6 * SECOND, D(97), D(98), D(1), 97.5, 0.0),
    ]
    depth = lake.query(
        f"SELECT epoch_ns(ts) - {T0}, bid_depth, ask_depth, imbalance FROM book_depth("
        f"'BTCUSD', INTERVAL 1 SECOND, 100, {at(T0 + SECOND // 2)}, {at(T0 + 2 * SECOND)})"
    ).rows()
    # 0.5 s: mid 100.5, ±1% = [99.495, 101.505]; 1.5 s: the best bid is 99, mid 100
    assert depth == [(SECOND // 2, D(1), D(3), -0.5), (3 * SECOND // 2, D(2), D(3), -0.2)]


def test_a_book_question_reads_only_its_symbols_files_near_the_instant(lake: Lake) -> None:
    database = lake.database()
    for sql in (f"SELECT * FROM book_at('BTCUSD', {at(T0 + SECOND)})",
                f"SELECT * FROM book_top('BTCUSD', '1 second', {at(T0)}, {at(T0 + SECOND)})"):
        files = database.scan_files(sql)
        assert [Path(f).parts[-3] for f in files["book_updates"]] == ["symbol=BTCUSD"]
        assert [Path(f).parts[-3] for f in files["book_snapshots"]] == ["symbol=BTCUSD"]
    far = database.scan_files(f"SELECT * FROM book_at('ETHUSD', {at(T0 + 3 * HOUR)})")
    assert far["book_updates"] == far["book_snapshots"] == []
    # now() bounds the window from below (the lake's books are days old: none is read) ...
    for sql in ("SELECT * FROM book_at('BTCUSD', now())",
                "SELECT * FROM book_top('BTCUSD', '1 second', now() - INTERVAL 1 MINUTE, now())"):
        assert database.scan_files(sql)["book_updates"] == []
    # ... and never from above, where the statement's later now() could need more.
    assert len(database.scan_files(
        f"SELECT * FROM book_top('BTCUSD', '1 second', {at(T0)}, now())")["book_updates"]) == 1
