"""Order-book faults: each has exactly its wire effect on one client, is a labelled record of
the book truth, and never touches the true book.

A raw client decodes the wire itself (``book_messages``) and rebuilds each book as a careful
client would (``CarefulBook``: ignores snapshots older than what it applied, applies a late
incremental's levels that no later message set, notes deletes of levels it does not hold and
snapshots that differ from its book). The truth's book (``truth_books``) is the referee.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.reliability.common import BookFault, TruthBooks, truth_books

from ticklake.emulator import Emulator, EmulatorConfig

CFG = EmulatorConfig(symbols=("BTCUSD", "BTCUSDT", "sBTCUSDT"), rate=100, batch_ms=10,
                     book_snapshot_interval=60.0)
CHANNEL = {"BTCUSD": "orderbook", "BTCUSDT": "orderbook_p", "sBTCUSDT": "orderbook"}


def config(tmp_path: Path, **changes: Any) -> EmulatorConfig:
    return replace(CFG, truth_path=str(tmp_path / "truth.jsonl"), **changes)


async def watching(kit: Any, emu: Emulator, *books: tuple[str, int]) -> Any:
    """A raw connection following (symbol, depth) books, each past a few messages."""
    raw = await kit.Raw.open(emu.url)
    for symbol, depth in books:
        await raw.request(f"{CHANNEL[symbol]}.subscribe", [symbol, False, depth])
    for symbol, _ in books:
        await raw.wait_data(symbol, 10)
    return raw


async def recorded(kit: Any, emu: Emulator, kind: str, n: int = 1) -> list[BookFault]:
    """Wait until the book truth holds ``n`` records of ``kind`` (it is flushed as written)."""
    path = Path(str(emu.config.truth_path))

    def records() -> list[BookFault]:
        return truth_books(path).fault_records(kind)

    await kit.eventually(lambda: len(records()) >= n, what=f"{n} {kind} records")
    return records()


def messages(kit: Any, emu: Emulator, raw: Any, symbol: str) -> list[Any]:
    product = emu.products[symbol]
    return kit.book_messages(raw, symbol, product.price_exp, product.qty_exp)


def differing(book: tuple[dict[Any, Any], dict[Any, Any]],
              truth: tuple[dict[Any, Any], dict[Any, Any]]) -> set[tuple[str, Decimal]]:
    """(side, price) of the levels in which two books differ."""
    out = set()
    for name, mine, true in (("bid", book[0], truth[0]), ("ask", book[1], truth[1])):
        out |= {(name, p) for p in mine.keys() | true.keys() if mine.get(p) != true.get(p)}
    return out


def touched(m: Any) -> set[tuple[str, Decimal]]:
    return {("bid", p) for p in m.bids} | {("ask", p) for p in m.asks}


def one_fault(kit: Any, tmp_path: Path, book: tuple[str, int], kind: str,
              target: str) -> tuple[BookFault, list[Any]]:
    """Watch one book, inject one fault, and take the fault's record and the messages sent
    up to five after it."""
    got: dict[str, Any] = {}
    symbol = book[0]

    async def scenario(emu: Emulator) -> None:
        raw = await watching(kit, emu, book)
        assert emu.inject(kind, target) == 1
        (fault,) = await recorded(kit, emu, kind)
        await raw.wait_data(symbol, len(raw.data(symbol)) + 5)
        await raw.close()
        got.update(fault=fault, msgs=messages(kit, emu, raw, symbol))

    kit.run(config(tmp_path), scenario)
    return got["fault"], got["msgs"]


def test_book_drop_diverges_in_exactly_the_dropped_levels_until_the_snapshot(
        kit: Any, tmp_path: Path) -> None:
    got: dict[str, Any] = {}

    async def scenario(emu: Emulator) -> None:
        raw = await watching(kit, emu, ("BTCUSD", 0))
        assert emu.inject("book_drop", "1") == 1
        (drop,) = await recorded(kit, emu, "book_drop")
        await kit.eventually(lambda: any(m["type"] == "snapshot" and m["timestamp"] > drop.ts_ns
                                         for m in raw.data("BTCUSD")), what="a later snapshot")
        await raw.close()
        got.update(drop=drop, msgs=messages(kit, emu, raw, "BTCUSD"))

    kit.run(config(tmp_path, book_snapshot_interval=0.5), scenario)
    drop, msgs = got["drop"], got["msgs"]
    truth = truth_books(tmp_path / "truth.jsonl")
    assert (drop.symbol, drop.conn) == ("BTCUSD", 1)
    assert drop.sequence not in {m.sequence for m in msgs if not m.snapshot}, "not sent"
    # The levels the dropped step changed are wrong on the client until sent again.
    pending = differing(truth.book_at("BTCUSD", drop.ts_ns - 1), truth.book_at("BTCUSD",
                                                                                drop.ts_ns))
    assert pending
    book = kit.CarefulBook()
    healed_by_snapshot = False
    for m in msgs:
        book.apply(m)
        true = truth.book_at("BTCUSD", m.ts_ns)
        if m.ts_ns < drop.ts_ns or healed_by_snapshot:
            assert book.book() == true
            continue
        if m.snapshot:
            healed_by_snapshot = True
            assert book.book() == true
            assert [w for w, _, _ in book.odd if w != "unknown_delete"] == (
                ["diverged"] if pending else [])
            continue
        pending -= touched(m)
        assert differing(book.book(), true) == pending
    assert healed_by_snapshot


def test_book_stale_snapshot_is_an_earlier_instant_of_the_true_book(
        kit: Any, tmp_path: Path) -> None:
    stale, msgs = one_fault(kit, tmp_path, ("BTCUSDT", 30), "book_stale_snapshot", "all")
    truth = truth_books(tmp_path / "truth.jsonl")
    snaps = [i for i, m in enumerate(msgs) if m.snapshot]
    assert len(snaps) == 2 and snaps[0] == 0
    i = snaps[1]
    m = msgs[i]
    assert (m.sequence, m.ts_ns) == (stale.sequence, stale.ts_ns)
    before = msgs[:i]
    assert stale.extra["sent_after_sequence"] == max(b.sequence for b in before) > m.sequence
    assert m.ts_ns < before[-1].ts_ns <= stale.extra["sent_ts_ns"]
    assert (m.bids, m.asks) == truth.book_at("BTCUSDT", m.ts_ns, 30), "the book as it was then"
    # A careful client ignores it and stays right; it is its only oddity besides absent deletes.
    book, latest = kit.CarefulBook(30), 0
    for each in msgs:
        book.apply(each)
        latest = max(latest, each.ts_ns)
        assert book.book() == truth.book_at("BTCUSDT", latest, 30)
    assert [(w, x) for w, x, _ in book.odd if w != "unknown_delete"] == [("stale", m)]


def test_book_out_of_order_swaps_two_incrementals(kit: Any, tmp_path: Path) -> None:
    swap, msgs = one_fault(kit, tmp_path, ("BTCUSD", 0), "book_out_of_order", "1")
    truth = truth_books(tmp_path / "truth.jsonl")
    seqs = [m.sequence for m in msgs]
    backwards = [j for j in range(1, len(seqs)) if seqs[j] < seqs[j - 1]]
    assert len(backwards) == 1
    late, first = msgs[backwards[0]], msgs[backwards[0] - 1]
    assert not late.snapshot and not first.snapshot
    assert (late.sequence, late.ts_ns) == (swap.sequence, swap.ts_ns)
    assert (first.sequence, first.ts_ns) == (swap.extra["after_sequence"],
                                              swap.extra["after_ts_ns"])
    book, latest = kit.CarefulBook(), 0
    for m in msgs:
        book.apply(m)
        latest = max(latest, m.ts_ns)
        if m is not first:  # until the late one arrives, the client lacks its levels
            assert book.book() == truth.book_at("BTCUSD", latest)
    assert [(w, x) for w, x, _ in book.odd if w != "unknown_delete"] == [("backwards", late)]


def test_book_unknown_delete_on_demand(kit: Any, tmp_path: Path) -> None:
    got: dict[str, Any] = {}

    async def scenario(emu: Emulator) -> None:
        raw = await watching(kit, emu, ("BTCUSD", 0), ("sBTCUSDT", 5))
        assert emu.inject("book_unknown_delete", "sBTCUSDT", count=3) == 1
        await recorded(kit, emu, "book_unknown_delete", 3)
        await raw.wait_data("sBTCUSDT", len(raw.data("sBTCUSDT")) + 3)
        await raw.close()
        got.update(msgs=messages(kit, emu, raw, "sBTCUSDT"))

    kit.run(config(tmp_path), scenario)
    msgs = got["msgs"]
    truth = truth_books(tmp_path / "truth.jsonl")
    armed = [f for f in truth.fault_records("book_unknown_delete") if f.conn is not None]
    assert [(f.symbol, f.conn) for f in armed] == [("sBTCUSDT", 1)] * 3
    book = kit.CarefulBook(5)
    for m in msgs:
        book.apply(m)
        assert book.book() == truth.book_at("sBTCUSDT", m.ts_ns, 5), "the truth is untouched"
    odd = {(x.sequence, d) for w, x, d in book.odd if w == "unknown_delete"}
    for f in armed:
        (m,) = [m for m in msgs if m.sequence == f.sequence]
        price = Decimal(f.extra["price"])
        levels = m.bids if f.extra["side"] == "bid" else m.asks
        assert levels[price] == 0 and m.ts_ns == f.ts_ns
        for ts in (f.ts_ns - 1, f.ts_ns):  # the level exists neither before nor after
            bids, asks = truth.book_at("sBTCUSDT", ts)
            assert price not in (bids if f.extra["side"] == "bid" else asks)
        assert (f.sequence, (f.extra["side"], price)) in odd


def test_book_faults_through_the_control_endpoint(kit: Any, tmp_path: Path) -> None:
    got: dict[str, Any] = {}

    async def scenario(emu: Emulator) -> None:
        btc = await watching(kit, emu, ("BTCUSD", 0))
        usdt = await watching(kit, emu, ("BTCUSDT", 0))
        base = f"http://127.0.0.1:{emu.port}/control/fault"
        status, body = await kit.aget(f"{base}?kind=book_drop&target=BTCUSD&count=2")
        assert (status, json.loads(body)) == (200, {"ok": True, "affected": 1})
        for bad in ("kind=book_drop&target=NOPE", "kind=close&target=BTCUSD",
                    "kind=book_drop&count=0", "kind=book_nonsense"):
            status, _ = await kit.aget(f"{base}?{bad}")
            assert status == 400, bad
        status, body = await kit.aget(f"{base}?kind=book_out_of_order&target=next")
        assert json.loads(body) == {"ok": True, "affected": 1}
        late = await watching(kit, emu, ("BTCUSDT", 0))
        await recorded(kit, emu, "book_drop", 2)
        await recorded(kit, emu, "book_out_of_order")
        state = emu.state()["faults_injected"]
        assert (state["book_drop"], state["book_out_of_order"]) == (1, 1)
        for raw in (btc, usdt, late):
            await raw.close()
        got.update(usdt=messages(kit, emu, usdt, "BTCUSDT"),
                   late=messages(kit, emu, late, "BTCUSDT"))

    kit.run(config(tmp_path), scenario)
    truth = truth_books(tmp_path / "truth.jsonl")
    armed = [(f.kind, f.symbol, f.conn) for f in truth.faults if f.conn is not None]
    assert sorted(armed) == [("book_drop", "BTCUSD", 1), ("book_drop", "BTCUSD", 1),
                             ("book_out_of_order", "BTCUSDT", 3)]
    for msgs, backwards in ((got["usdt"], 0), (got["late"], 1)):
        seqs = [m.sequence for m in msgs]
        assert sum(b < a for a, b in itertools.pairwise(seqs)) == backwards


KINDS = ("book_drop", "book_stale_snapshot", "book_out_of_order", "book_unknown_delete")


@pytest.mark.parametrize("seed", [7, 11])
def test_every_inconsistency_a_client_sees_is_a_recorded_fault(kit: Any, tmp_path: Path,
                                                               seed: int) -> None:
    """Faults of every kind on two connections (full and depth-10 books): each oddity a careful
    client finds is explained by a fault record of its connection (or the exchange's own), and
    every record's effect is on the wire."""
    got: dict[str, Any] = {}
    books = {1: (("BTCUSD", 0), ("BTCUSDT", 0)), 2: (("BTCUSD", 10),)}

    async def scenario(emu: Emulator) -> None:
        raws = {conn: await watching(kit, emu, *subs) for conn, subs in books.items()}
        for i in range(16):
            emu.inject(KINDS[i % len(KINDS)], "all")
            ticks = emu.ticks
            await kit.eventually(lambda t=ticks: emu.ticks >= t + 8, what="a few steps")
        await kit.eventually(lambda: all(not c.plan.book for c in emu.clients.values()),
                             what="every armed fault fired")
        emu.halt()
        for raw in raws.values():
            await raw.close()
        got.update({(conn, s): messages(kit, emu, raws[conn], s)
                    for conn, subs in books.items() for s, _ in subs})

    kit.run(config(tmp_path, seed=seed, book_snapshot_interval=0.3), scenario)
    truth = truth_books(tmp_path / "truth.jsonl")
    assert {f.kind for f in truth.faults if f.conn is not None} == set(KINDS)
    for conn, subs in books.items():
        for symbol, depth in subs:
            check_accounting(kit, truth, conn, symbol, depth, got[conn, symbol])


def check_accounting(kit: Any, truth: TruthBooks, conn: int, symbol: str, depth: int,
                     msgs: list[Any]) -> None:
    mine = [f for f in truth.fault_records(symbol=symbol) if f.conn == conn]
    drops = [f for f in mine if f.kind == "book_drop"]
    book = kit.CarefulBook(depth)
    for m in msgs:
        book.apply(m)
    last_snapshot = msgs[0].ts_ns
    for what, m, detail in book.odd:
        if what == "diverged":  # only a dropped incremental since the last check explains it
            assert any(last_snapshot <= f.ts_ns <= m.ts_ns for f in drops), (conn, symbol, m)
        elif what == "unknown_delete":
            side, price = detail
            assert any(f.kind == "book_unknown_delete" and f.sequence == m.sequence
                       and f.conn in (None, conn) and f.extra["side"] == side
                       and Decimal(f.extra["price"]) == price
                       for f in truth.fault_records(symbol=symbol)) or any(
                f.ts_ns <= m.ts_ns for f in drops), (conn, symbol, m, detail)
        else:
            kind = {"stale": "book_stale_snapshot", "backwards": "book_out_of_order"}[what]
            assert any(f.kind == kind and (f.sequence, f.ts_ns) == (m.sequence, m.ts_ns)
                       for f in mine), (conn, symbol, what, m)
        if m.snapshot and what != "stale":
            last_snapshot = m.ts_ns
    # ... and every record of this connection did what it says on the wire.
    seen = {what: {(m.sequence, m.ts_ns) for w, m, _ in book.odd if w == what}
            for what in ("stale", "backwards")}
    # (a stale snapshot may describe the very instant whose incremental was dropped)
    sent = {m.sequence for m in msgs if not m.snapshot}
    for f in mine:
        if f.kind == "book_drop":
            assert f.sequence not in sent
        elif f.kind == "book_stale_snapshot":
            assert (f.sequence, f.ts_ns) in seen["stale"]
        elif f.kind == "book_out_of_order":
            assert (f.sequence, f.ts_ns) in seen["backwards"]
        else:
            (m,) = [m for m in msgs if m.sequence == f.sequence and not m.snapshot]
            levels = m.bids if f.extra["side"] == "bid" else m.asks
            assert levels[Decimal(f.extra["price"])] == 0


def test_scheduled_book_faults(kit: Any, tmp_path: Path) -> None:
    """``ticklake emulate --faults book_drop,book_stale_snapshot --fault-every N`` arms them
    on every connection, like the other kinds."""
    async def scenario(emu: Emulator) -> None:
        raw = await watching(kit, emu, ("BTCUSD", 0))
        await recorded(kit, emu, "book_drop", 2)
        await recorded(kit, emu, "book_stale_snapshot", 2)
        await raw.close()

    kit.run(config(tmp_path, fault_every=0.05,
                   fault_kinds=("book_drop", "book_stale_snapshot")), scenario)
