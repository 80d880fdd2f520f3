"""The book truth (``<truth>.books.jsonl``) is the book the wire describes, at every message.

A raw client rebuilds each book from the wire (``CarefulBook``, decoded here); after every
message it must equal the truth's book at that message's timestamp, at the subscribed depth,
for every family and depth, with books stepped every period (``basic``) or only while watched
(exchange catalogs). The trade truth keeps its trade lines only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.reliability.common import truth_books

from ticklake.emulator import Emulator, EmulatorConfig

# (symbol, channel, params, depth)
SUBSCRIPTIONS = (
    ("BTCUSD", "orderbook", ["BTCUSD", True], 0),
    ("BTCUSDT", "orderbook_p", ["BTCUSDT"], 30),
    ("sBTCUSDT", "orderbook", ["sBTCUSDT", False, 5], 5),
)


async def watch(kit: Any, emu: Emulator, subs: Any, messages: int) -> Any:
    raw = await kit.Raw.open(emu.url)
    for _, channel, params, _ in subs:
        await raw.request(f"{channel}.subscribe", params)
    for symbol, *_ in subs:
        await raw.wait_data(symbol, messages, timeout=15)
    return raw


def check_every_message(kit: Any, raw: Any, emu: Emulator, truth: Any, subs: Any) -> int:
    """Rebuild each book from the wire; equal to the truth after every message."""
    checked = 0
    for symbol, _, _, depth in subs:
        product = emu.products[symbol]
        msgs = kit.book_messages(raw, symbol, product.price_exp, product.qty_exp)
        assert msgs[0].snapshot
        book = kit.CarefulBook(depth)
        for m in msgs:
            book.apply(m)
            assert book.book() == truth.book_at(symbol, m.ts_ns, depth), (symbol, m.sequence)
            checked += 1
        assert book.odd == [(what, m, d) for what, m, d in book.odd if what == "unknown_delete"]
    return checked


@pytest.mark.parametrize("catalog", ["basic", "exchange"])
def test_truth_equals_the_wire_book_at_every_message(kit: Any, tmp_path: Path,
                                                     catalog: str) -> None:
    path = tmp_path / "truth.jsonl"
    runs: list[Any] = []

    async def scenario(emu: Emulator) -> None:
        first = await watch(kit, emu, SUBSCRIPTIONS, 60)
        # A second, later subscriber gets the same truth (its snapshot is of a later instant).
        second = await watch(kit, emu, SUBSCRIPTIONS[:1], 30)
        await first.close()
        await second.close()
        runs.extend([(first, SUBSCRIPTIONS), (second, SUBSCRIPTIONS[:1])])
        runs.append(emu)

    symbols = tuple(s for s, *_ in SUBSCRIPTIONS)
    kit.run(EmulatorConfig(catalog=catalog, symbols=symbols, rate=100, batch_ms=10,
                           book_snapshot_interval=0.3, truth_path=str(path)), scenario)
    emu = runs.pop()
    truth = truth_books(path)
    assert sorted(truth.symbols) == sorted(symbols)
    assert sum(check_every_message(kit, raw, emu, truth, subs) for raw, subs in runs) > 200
    # Each symbol's truth starts with one snapshot record, then updates only.
    records = [json.loads(line) for line in
               path.with_name("truth.books.jsonl").read_text().splitlines()]
    for symbol in symbols:
        kinds = [r["type"] for r in records if r.get("book") == symbol]
        assert kinds[0] == "snapshot" and set(kinds[1:]) == {"update"}
    # The trade truth holds trades only, as it always did.
    for line in path.read_text().splitlines():
        assert list(json.loads(line)) == ["symbol", "ts_ns", "side", "price", "qty"]


def test_truth_record_format(kit: Any, tmp_path: Path) -> None:
    """Exact decimal strings as the wire states them; ts and sequence of the step's messages."""
    path = tmp_path / "truth.jsonl"
    got: dict[str, Any] = {}

    async def scenario(emu: Emulator) -> None:
        raw = await watch(kit, emu, [("BTCUSDT", "orderbook_p", ["BTCUSDT", True], 0)], 20)
        await raw.close()
        got["msgs"] = raw.data("BTCUSDT")

    kit.run(EmulatorConfig(symbols=("BTCUSDT",), batch_ms=10, truth_path=str(path)), scenario)
    records = [json.loads(line) for line in
               (tmp_path / "truth.books.jsonl").read_text().splitlines()]
    books = [r for r in records if "book" in r]
    assert list(books[0]) == ["book", "type", "ts_ns", "sequence", "bids", "asks"]
    snap, first = books[0], got["msgs"][0]
    assert (snap["type"], snap["ts_ns"], snap["sequence"]) == (
        "snapshot", first["timestamp"], first["sequence"])
    # A full-depth snapshot carries the whole book, row for row, in the wire's strings.
    assert snap["bids"] == first["orderbook_p"]["bids"]
    assert snap["asks"] == first["orderbook_p"]["asks"]
    # Every incremental is a step the truth recorded: a change, or an absent level deleted.
    stamps = {(r["ts_ns"], r["sequence"]) for r in records[1:]}
    incs = [m for m in got["msgs"] if m["type"] == "incremental"]
    assert incs and all((m["timestamp"], m["sequence"]) in stamps for m in incs)
    for r in records:
        if "fault" in r:  # the exchange's own deletes of absent levels
            assert r["fault"] == "book_unknown_delete" and r["conn"] is None


def test_no_book_truth_until_somebody_watches(kit: Any, tmp_path: Path) -> None:
    path = tmp_path / "truth.jsonl"

    async def scenario(emu: Emulator) -> None:
        await kit.eventually(lambda: emu.ticks > 20, what="book steps")
        assert (tmp_path / "truth.books.jsonl").read_text() == ""
        raw = await watch(kit, emu, [("BTCUSD", "orderbook", ["BTCUSD"], 30)], 5)
        await raw.close()

    kit.run(EmulatorConfig(symbols=("BTCUSD", "ETHUSD"), batch_ms=10, truth_path=str(path)),
            scenario)
    assert truth_books(path).symbols == ["BTCUSD"]


def test_parquet_truth_has_no_book_truth(kit: Any, tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "truth.parquet"

    async def scenario(emu: Emulator) -> None:
        raw = await watch(kit, emu, [("BTCUSD", "orderbook", ["BTCUSD"], 30)], 5)
        await raw.close()

    kit.run(EmulatorConfig(symbols=("BTCUSD",), batch_ms=10, truth_path=str(path)), scenario)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["truth.parquet"]
