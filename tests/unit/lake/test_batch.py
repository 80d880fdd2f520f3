"""Batch on its own: spool records ``[first, end)`` → Arrow tables per lake table and
partition, exact, and deterministic (the same records and decoder state give the same rows,
which is what makes the writer's redo after a crash write the same files)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from ticklake.feed.phemex import default_products
from ticklake.feed.phemex.control import CONTROL_CONN_ID, DecodeParams, encode_control
from ticklake.feed.phemex.trades import ReplayDecoder, replay_decoder
from ticklake.lake import batch as batch_module
from ticklake.lake.batch import Batch, Partition
from ticklake.model import RawFrame

MIDNIGHT = 1_795_564_800 * 10**9  # 2026-11-25 00:00 UTC
SECOND = 10**9
MS = 10**6
DAY_BEFORE, DAY = "2026-11-24", "2026-11-25"
# docs/lake-layout.md; the partition columns are in the path
TRADE_COLUMNS = ["ts", "ts_ns", "recv_ns", "side", "price", "qty", "sequence", "from_snapshot",
                 "spool_offset", "msg_index"]
BEYOND = "price or quantity beyond decimal(18, 8)"


def message(symbol: str, sequence: int, rows: Sequence[Sequence[object]],
            kind: str = "incremental") -> bytes:
    """A Phemex trade message as on the wire (``trades_p`` for USDⓈ-M: decimal strings)."""
    key = "trades_p" if symbol == "BTCUSDT" else "trades"
    body = {"sequence": sequence, "symbol": symbol, "type": kind, key: [list(r) for r in rows]}
    return json.dumps(body, separators=(",", ":")).encode()


def control() -> bytes:
    return encode_control(DecodeParams.of(default_products(), None))


def decoder(state: bytes = b"", snapshot_size: int | None = None) -> ReplayDecoder:
    return replay_decoder(state, default_products(), snapshot_size)


def build(frames: Iterable[RawFrame], first: int = 0,
          using: ReplayDecoder | None = None) -> Batch:
    batch = Batch(first, first)
    using = using or decoder()
    for frame in frames:
        batch.add_record(using, batch.end, frame.conn_id, frame.recv_ns, frame.payload)
    return batch


def utc(ns: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=ns // 1000)


def rows(tables: dict[str, dict[Partition, pa.Table]], table: str) -> dict[Partition, list[
        dict[str, Any]]]:
    return {key: part.to_pylist() for key, part in tables.get(table, {}).items()}


def by_offset(tables: dict[str, dict[Partition, pa.Table]], table: str) -> list[
        tuple[Partition, dict[str, Any]]]:
    """Every row of ``table`` with its partition, in spool order (then time)."""
    out = [(key, row) for key, part in rows(tables, table).items() for row in part]
    return sorted(out, key=lambda kr: (kr[1]["spool_offset"], kr[1].get("ts_ns", 0),
                                       kr[1].get("reason", "")))


def mixed_frames(messages: int = 30) -> list[RawFrame]:
    """Trades of three symbols across midnight, with a control record, garbage, a trade the
    lake cannot hold and a snapshot: every path of a batch."""
    frames = [RawFrame(CONTROL_CONN_ID, MIDNIGHT - 10 * SECOND, control())]
    ts = MIDNIGHT - messages // 2 * SECOND
    for i in range(messages):
        ts += SECOND
        symbol = ("BTCUSD", "ETHUSD", "BTCUSDT")[i % 3]
        if symbol == "BTCUSDT":
            body = message(symbol, 100 + i, [[ts, "Sell", f"873{i}.5", "0.001"],
                                             [ts, "Sell", f"873{i}.5", "0.001"]])
        elif i == 7:  # one row the lake cannot hold: quarantined, its neighbour kept
            body = message(symbol, 100 + i, [[ts, "Buy", 10**15, 1], [ts, "Sell", 8700000, 2]])
        else:
            body = message(symbol, 100 + i, [[ts, "Buy", 8700000 + i, i + 1]])
        frames.append(RawFrame(1, ts + 3 * MS, body))
        if i == 11:
            frames.append(RawFrame(1, ts + 4 * MS, b"\xff not json"))
    # A new connection's snapshot: the newest row is new, the older one was seen.
    frames.append(RawFrame(2, ts + 5 * MS, message(
        "BTCUSD", 900, [[ts + 1, "Sell", 8800000, 4], [ts - 2 * SECOND, "Buy", 8700027, 28]],
        kind="snapshot")))
    return frames


# -- rows ----------------------------------------------------------------------------------------


def test_trade_rows_are_exact_and_carry_their_provenance() -> None:
    ts = MIDNIGHT + 5 * SECOND
    batch = build([
        RawFrame(CONTROL_CONN_ID, ts - SECOND, control()),
        RawFrame(3, ts + 7 * MS, message("BTCUSD", 41, [[ts, "Buy", 873455000, 12],
                                                        [ts + 1, "Sell", 873450000, 3]])),
        RawFrame(3, ts + 9 * MS, message("BTCUSDT", 42, [[ts + 2, "Sell", "87345.1", "0.012"]])),
    ], first=500)
    tables = batch.tables()
    assert set(tables) == {"trades", "raw"}
    btc = tables["trades"][("phemex", "BTCUSD", DAY)]
    assert btc.schema.names == TRADE_COLUMNS
    assert btc.to_pylist() == [
        {"ts": utc(ts), "ts_ns": ts, "recv_ns": ts + 7 * MS, "side": "buy",
         "price": Decimal("87345.5"), "qty": Decimal(12), "sequence": 41,
         "from_snapshot": False, "spool_offset": 501, "msg_index": 0},
        {"ts": utc(ts + 1), "ts_ns": ts + 1, "recv_ns": ts + 7 * MS, "side": "sell",
         "price": Decimal("87345.0"), "qty": Decimal(3), "sequence": 41,
         "from_snapshot": False, "spool_offset": 501, "msg_index": 1},
    ]
    usdt = tables["trades"][("phemex", "BTCUSDT", DAY)].to_pylist()
    assert [(r["price"], r["qty"], r["side"], r["spool_offset"]) for r in usdt] == [
        (Decimal("87345.1"), Decimal("0.012"), "sell", 502)]
    assert (batch.first, batch.end, batch.records) == (500, 503, 3)
    assert batch.payload_bytes == sum(len(p) for p in tables["raw"][("phemex", DAY)]
                                      .column("payload").to_pylist())


def test_raw_holds_every_record_with_its_connection_offset_and_receive_time() -> None:
    frames = [RawFrame(CONTROL_CONN_ID, MIDNIGHT + 1, control()),
              RawFrame(1, MIDNIGHT + 2, message("BTCUSD", 1, [[MIDNIGHT, "Buy", 8700000, 1]])),
              RawFrame(1, MIDNIGHT + 3, b'{"error":null,"id":1,"result":{"status":"success"}}'),
              RawFrame(2, MIDNIGHT + 4, b"caf\xe9 \xff"),  # not UTF-8: replaced in raw
              RawFrame(1, MIDNIGHT + 5, message("ETHUSD", 2, [[MIDNIGHT, "Sell", 300000, 1]]))]
    tables = build(frames, first=70).tables()
    raw = tables["raw"][("phemex", DAY)].to_pylist()
    assert [(r["spool_offset"], r["conn_id"], r["recv_ns"], r["recv_ts"]) for r in raw] == [
        (70 + i, f.conn_id, f.recv_ns, utc(f.recv_ns)) for i, f in enumerate(frames)]
    assert [r["payload"] for r in raw] == [
        f.payload.decode("utf-8", "replace") for f in frames]
    # The control record and the ack are accepted; only the bytes that are no message are not.
    rejected = rows(tables, "rejected")[("phemex", DAY)]
    assert [(r["spool_offset"], r["conn_id"], r["payload"]) for r in rejected] == [
        (73, 2, "caf\ufffd \ufffd")]


def test_trades_split_by_symbol_and_utc_date_and_raw_by_receive_date() -> None:
    before, after = MIDNIGHT - SECOND, MIDNIGHT + SECOND
    frames = [
        # one message across midnight: its rows go to two dates
        RawFrame(1, MIDNIGHT - 1, message("BTCUSD", 1, [[before, "Buy", 8700000, 1],
                                                        [after, "Buy", 8700001, 2]])),
        RawFrame(1, MIDNIGHT + 2 * SECOND, message("ETHUSD", 2, [[after, "Sell", 300000, 3]])),
        RawFrame(1, MIDNIGHT + 3 * SECOND, b"garbage"),
    ]
    tables = build(frames).tables()
    trades = {key: [(r["ts_ns"], r["spool_offset"]) for r in part]
              for key, part in rows(tables, "trades").items()}
    assert trades == {("phemex", "BTCUSD", DAY_BEFORE): [(before, 0)],
                      ("phemex", "BTCUSD", DAY): [(after, 0)],
                      ("phemex", "ETHUSD", DAY): [(after, 1)]}
    raw = {key: [r["spool_offset"] for r in part] for key, part in rows(tables, "raw").items()}
    assert raw == {("phemex", DAY_BEFORE): [0], ("phemex", DAY): [1, 2]}
    assert list(rows(tables, "rejected")) == [("phemex", DAY)]


def test_a_trade_the_lake_cannot_hold_is_quarantined_and_its_neighbours_kept() -> None:
    ts = MIDNIGHT + SECOND
    frames = [RawFrame(4, ts, message("BTCUSD", 1, [[ts, "Buy", 10**15, 1],  # 1e11 USD
                                                    [ts, "Sell", 8700000, 2]])),
              RawFrame(4, ts + 1, message("BTCUSDT", 2, [[ts, "Buy", "99999999999", "1"]]))]
    tables = build(frames, first=10).tables()
    assert [(k[1], r["side"], r["qty"], r["msg_index"])
            for k, r in by_offset(tables, "trades")] == [("BTCUSD", "sell", Decimal(2), 1)]
    rejected = rows(tables, "rejected")[("phemex", DAY)]
    assert sorted((r["spool_offset"], r["conn_id"], r["reason"], r["payload"])
                  for r in rejected) == [(10, 4, BEYOND, frames[0].payload.decode()),
                                         (11, 4, BEYOND, frames[1].payload.decode())]


def test_a_snapshot_adds_only_unseen_rows_and_a_full_one_that_misses_some_leaves_a_gap() -> None:
    t = [MIDNIGHT + i * SECOND for i in range(9)]
    using = decoder(snapshot_size=3)  # the exchange's capacity, pinned
    frames = [
        RawFrame(1, t[1], message("BTCUSD", 1, [[t[0], "Buy", 8700000, 1]])),
        RawFrame(1, t[2], message("BTCUSD", 2, [[t[1], "Buy", 8700001, 1]])),
        # reconnect: a short snapshot (so complete), its older row seen already
        RawFrame(2, t[3], message("BTCUSD", 10, [[t[2], "Sell", 8700002, 1],
                                                 [t[1], "Buy", 8700001, 1]], "snapshot")),
        # reconnect: a full snapshot that does not reach back to t[2]: t[2]..t[4] suspect
        RawFrame(3, t[8], message("BTCUSD", 20, [[t[6], "Buy", 8700006, 1],
                                                 [t[5], "Buy", 8700005, 1],
                                                 [t[4], "Buy", 8700004, 1]], "snapshot")),
    ]
    tables = build(frames, using=using).tables()
    trades = [(r["ts_ns"], r["from_snapshot"], r["spool_offset"])
              for _, r in by_offset(tables, "trades")]
    assert trades == [(t[0], False, 0), (t[1], False, 1), (t[2], True, 2), (t[4], True, 3),
                      (t[5], True, 3), (t[6], True, 3)]
    gaps = rows(tables, "gaps")
    assert gaps == {("phemex", DAY): [{
        "symbol": "BTCUSD", "from_ns": t[2], "to_ns": t[4], "from_ts": utc(t[2]),
        "to_ts": utc(t[4]), "reason": "snapshot", "detected_ns": t[8], "spool_offset": 3,
        "channel": "trades"}]}


def test_fills_of_one_instant_keep_the_exchanges_order_in_msg_index() -> None:
    # One taker order's fills share an instant: only the place in the message orders them.
    # A snapshot is sent newest first, so its place counts from the end.
    ts = MIDNIGHT + SECOND
    frames = [
        RawFrame(1, ts, message("BTCUSD", 5, [[ts - 9, "Buy", 8700000, 1],
                                              [ts - 9, "Buy", 8700005, 1]], "snapshot")),
        RawFrame(1, ts + 1, message("BTCUSD", 6, [[ts, "Buy", 8700010, 1],
                                                  [ts, "Buy", 8700015, 2],
                                                  [ts, "Buy", 8700020, 3]])),
    ]
    trades = [(r["price"], r["spool_offset"], r["msg_index"])
              for _, r in by_offset(build(frames).tables(), "trades")]
    assert sorted(trades, key=lambda t: (t[1], t[2])) == [
        (Decimal("870.0005"), 0, 0), (Decimal(870), 0, 1),
        (Decimal("870.001"), 1, 0), (Decimal("870.0015"), 1, 1), (Decimal("870.002"), 1, 2)]


def test_add_record_takes_only_the_next_offset() -> None:
    batch = Batch(5, 5)
    with pytest.raises(ValueError, match="expects offset 5, got 6"):
        batch.add_record(decoder(), 6, 1, MIDNIGHT, b"{}")
    batch.add_record(decoder(), 5, 1, MIDNIGHT, b"x")
    with pytest.raises(ValueError, match="expects offset 6, got 5"):
        batch.add_record(decoder(), 5, 1, MIDNIGHT, b"x")
    assert (batch.first, batch.end, batch.records, batch.payload_bytes) == (5, 6, 1, 1)
    assert Batch(9, 9).tables() == {}


# -- determinism: what the redo after a crash relies on -----------------------------------------


def test_the_same_records_from_the_same_state_give_the_same_tables() -> None:
    frames = mixed_frames()
    state = decoder()
    build(frames[:10], using=state)  # a decoder that has seen the records before the batch
    saved = state.state()
    once = build(frames[10:], first=10, using=decoder(saved)).tables()
    again = build(frames[10:], first=10, using=decoder(saved)).tables()
    assert {t: sorted(p) for t, p in once.items()} == {t: sorted(p) for t, p in again.items()}
    for table, partitions in once.items():
        for key, part in partitions.items():
            assert part.equals(again[table][key]), (table, key)


def test_two_batches_resumed_from_the_saved_state_hold_the_rows_of_one() -> None:
    frames = mixed_frames()
    whole = build(frames).tables()
    first = decoder()
    head = build(frames[:17], using=first).tables()
    tail = build(frames[17:], first=17, using=decoder(first.state())).tables()
    for table in ("trades", "raw", "rejected"):
        assert by_offset(head, table) + by_offset(tail, table) == by_offset(whole, table), table
    # 20 BTCUSDT rows, 20 of the others (one of i == 7's two quarantined), 1 from the snapshot
    assert len(by_offset(whole, "trades")) == 41
    assert by_offset(whole, "gaps") == []


def test_rows_sealed_in_small_chunks_equal_rows_kept_whole(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Columns are sealed every CHUNK_ROWS rows; the quarantine then finds its record's text
    and connection in sealed chunks: the tables must not depend on where a chunk ended."""
    frames = mixed_frames(60)
    whole = build(frames).tables()
    monkeypatch.setattr(batch_module, "CHUNK_ROWS", 3)
    chunked = build(frames).tables()
    for table in ("trades", "raw", "rejected", "gaps"):
        assert by_offset(chunked, table) == by_offset(whole, table), table
    assert [r["reason"] for _, r in by_offset(chunked, "rejected")].count(BEYOND) == 1


def test_trades_with_partitions_are_the_partitioned_tables_in_one() -> None:
    batch = build(mixed_frames())
    together = batch.trades_with_partitions()
    assert together is not None
    split = batch.tables()["trades"]
    assert together.num_rows == sum(t.num_rows for t in split.values())
    for key, part in split.items():
        mask = [(r["exchange"], r["symbol"], r["date"]) == key
                for r in together.select(["exchange", "symbol", "date"]).to_pylist()]
        assert together.filter(pa.array(mask)).select(TRADE_COLUMNS).equals(part), key
    assert Batch(0, 0).trades_with_partitions() is None


def test_book_messages_become_exact_rows_and_a_level_beyond_the_decimals_is_rejected() -> None:
    def book(symbol: str, key: str, bids: list[list[object]], asks: list[list[object]],
             kind: str = "snapshot") -> bytes:
        sequence = 9 if kind == "snapshot" else 10
        return json.dumps({key: {"asks": asks, "bids": bids}, "depth": 30, "sequence": sequence,
                           "symbol": symbol, "timestamp": MIDNIGHT + 5, "type": kind}).encode()

    frames = [
        RawFrame(1, MIDNIGHT + 6, book("BTCUSD", "book", [[900005000, 120]], [[900010000, 7]])),
        RawFrame(1, MIDNIGHT + 7, book("BTCUSDT", "orderbook_p", [], [["90002.25", "0.5"]])),
        RawFrame(1, MIDNIGHT + 8, book("sBTCUSDT", "book", [[9000012000000, 150000]], [])),
        RawFrame(1, MIDNIGHT + 9, book("BTCUSD", "book", [[10**17, 1]], [], "incremental")),
    ]
    tables = build(frames).tables()
    got = {(k[1], r["side"], r["price"], r["qty"], r["action"], r["spool_offset"])
           for k, r in by_offset(tables, "book_updates")}
    assert got == {
        ("BTCUSD", "bid", Decimal("90000.5"), Decimal(120), "snapshot", 0),  # price scale 4
        ("BTCUSD", "ask", Decimal("90001"), Decimal(7), "snapshot", 0),
        ("BTCUSDT", "ask", Decimal("90002.25"), Decimal("0.5"), "snapshot", 1),  # strings
        ("sBTCUSDT", "bid", Decimal("90000.12"), Decimal("0.0015"), "snapshot", 2),  # 1e8 ints
    }
    assert {k[2] for k, _ in by_offset(tables, "book_updates")} == {DAY}
    (rejected,) = [r for _, r in by_offset(tables, "rejected")]
    assert rejected["spool_offset"] == 3
    assert rejected["reason"].endswith("beyond decimal(18, 8)")


def test_a_crossed_book_is_rejected_with_a_marker_row_then_a_gap_at_the_next_snapshot() -> None:
    def book(kind: str, sequence: int, bids: list[list[int]], ts: int) -> bytes:
        asks = [[900010000, 7]] if kind == "snapshot" else []
        return json.dumps({"book": {"asks": asks, "bids": bids}, "depth": 30,
                           "sequence": sequence, "symbol": "BTCUSD", "timestamp": ts,
                           "type": kind}).encode()

    frames = [
        RawFrame(1, MIDNIGHT + 6, book("snapshot", 9, [[900005000, 1]], MIDNIGHT + 5)),
        RawFrame(1, MIDNIGHT + 8, book("incremental", 10, [[900020000, 1]], MIDNIGHT + 7)),
        RawFrame(1, MIDNIGHT + 10, book("snapshot", 12, [[900000000, 2]], MIDNIGHT + 9)),
    ]
    tables = build(frames).tables()
    got = [(r["spool_offset"], r["action"], r["side"], r["price"], r["qty"])
           for _, r in by_offset(tables, "book_updates")]
    assert [g for g in got if g[1] != "snapshot"] == [
        (1, "update", "bid", Decimal("90002"), Decimal(1)),  # as received, crossing
        (1, "invalid", None, Decimal(0), Decimal(0)),
    ]
    (rejected,) = [r for _, r in by_offset(tables, "rejected")]
    assert (rejected["spool_offset"], rejected["reason"]) == (
        1, "order book invalid: crossed book: bid 900020000 >= ask 900010000")
    (gap,) = [r for _, r in by_offset(tables, "gaps")]
    assert (gap["channel"], gap["from_ns"], gap["to_ns"]) == ("book", MIDNIGHT + 5, MIDNIGHT + 9)


def test_book_rows_sealed_in_small_chunks_across_midnight_equal_the_decoders_events(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Levels, trims, cadence snapshots and an invalid marker of two symbols, sealed every 7
    rows and split at midnight: each row is what the decoder's events say, in spool order,
    numbered best first in ``book_snapshots``."""
    import random

    from ticklake.feed.events import BookInvalid, BookSnapshot, BookUpdated

    monkeypatch.setattr(batch_module, "CHUNK_ROWS", 7)
    rng = random.Random(5)
    control_record = encode_control(DecodeParams.of(default_products(), None, 3, 1000))
    frames = [RawFrame(CONTROL_CONN_ID, MIDNIGHT - 10 * SECOND, control_record)]
    for i in range(120):
        symbol = ("BTCUSD", "BTCUSDT")[i % 2]
        kind = "snapshot" if i < 2 or i % 37 == 0 else "incremental"
        bids = [[900_000_000 - 5_000 * rng.randrange(8), rng.randrange(3)] for _ in range(3)]
        asks = [[900_010_000 + 5_000 * rng.randrange(8), rng.randrange(3)] for _ in range(3)]
        if i == 61:
            bids = [[900_100_000, 1]]  # crosses the asks: invalid until the next snapshot
        if symbol == "BTCUSDT":
            key = "orderbook_p"
            book = {"bids": [[f"{p / 1e4:.1f}", str(q)] for p, q in bids],
                    "asks": [[f"{p / 1e4:.1f}", str(q)] for p, q in asks]}
        else:
            key, book = "book", {"bids": bids, "asks": asks}
        ts = MIDNIGHT - 30 * SECOND + i * SECOND // 2
        body = {key: book, "depth": 30, "sequence": 100 + i, "symbol": symbol,
                "timestamp": ts, "type": kind}
        frames.append(RawFrame(1, ts + MS, json.dumps(body).encode()))
    tables = build(frames).tables()

    want: dict[str, list[tuple[Any, ...]]] = {"book_updates": [], "book_snapshots": []}
    reference = decoder()
    for offset, frame in enumerate(frames):
        for event in reference.decode(frame.payload, frame.conn_id, frame.recv_ns):
            if isinstance(event, BookUpdated):
                scale = default_products().require(event.symbol).price_scale
                action = "snapshot" if event.snapshot else "update"
                levels = [("bid", p, q, action) for p, q in event.bids]
                levels += [("ask", p, q, action) for p, q in event.asks]
                levels += [("bid", p, 0, "trim") for p in event.trimmed_bids]
                levels += [("ask", p, 0, "trim") for p in event.trimmed_asks]
                want["book_updates"] += [
                    (event.symbol, event.ts_ns, event.sequence, side,
                     Decimal(p).scaleb(-scale), Decimal(q).scaleb(-event.qty_scale), act, offset)
                    for side, p, q, act in levels]
            elif isinstance(event, BookInvalid):
                want["book_updates"].append((event.symbol, event.ts_ns, event.sequence, None,
                                             Decimal(0), Decimal(0), "invalid", offset))
            elif isinstance(event, BookSnapshot):
                through = offset if event.after_message else offset - 1
                for side, levels in (("bid", event.bids), ("ask", event.asks)):
                    want["book_snapshots"] += [
                        (event.symbol, event.ts_ns, event.reason, side, n,
                         Decimal(p).scaleb(-event.price_scale),
                         Decimal(q).scaleb(-event.qty_scale), through, offset)
                        for n, (p, q) in enumerate(levels, 1)]
    assert any(r[6] == "trim" for r in want["book_updates"])
    assert any(r[6] == "invalid" for r in want["book_updates"])
    assert any(r[2] == "cadence" for r in want["book_snapshots"])
    for name, columns in (
            ("book_updates", ["ts_ns", "sequence", "side", "price", "qty", "action",
                              "spool_offset"]),
            ("book_snapshots", ["ts_ns", "reason", "side", "level", "price", "qty",
                                "through_offset", "spool_offset"])):
        got = []
        for (_, symbol, date), part in sorted(tables[name].items()):
            assert {utc(ns).date().isoformat() for ns in part["ts_ns"].to_pylist()} == {date}
            got += [(symbol, *row.values()) for row in part.select(columns).to_pylist()]
        expected = sorted(want[name], key=lambda r: (r[0], r[1] >= MIDNIGHT))
        assert got == expected, name
        assert {d for _, _, d in tables[name]} == {DAY_BEFORE, DAY}


def test_tickers_and_ticks_become_exact_rows_per_symbol_and_a_bad_frame_is_quarantined() -> None:
    params = DecodeParams.of(default_products(), None, ticker_symbols={"BTCUSD", "BTCUSDT"})
    pack = {"data": [["BTCUSDT", "90000", "91000.5", "89000", "90500.1", "12345678901.5",
                      "1117222000000.25", "40", "90499.9", "90501", "-0.000125", "0.00005",
                      "90500", "90500.2", "28800"]],
            "fields": ["symbol", "openRp", "highRp", "lowRp", "lastRp", "volumeRq", "turnoverRv",
                       "openInterestRv", "indexRp", "markRp", "fundingRateRr",
                       "predFundingRateRr", "bidRp", "askRp", "fundingIntervalRq"],
            "method": "perp_market24h_pack_p.update", "timestamp": MIDNIGHT - 1,
            "type": "snapshot"}
    tick = {"tick": {"last": -12500, "scale": 8, "symbol": ".BTCFR8H", "timestamp": MIDNIGHT}}
    beyond = {"tick_p": {"last": "99999999999", "symbol": ".BTCUSDT", "timestamp": MIDNIGHT}}
    frames = [RawFrame(CONTROL_CONN_ID, MIDNIGHT, encode_control(params))] + [
        RawFrame(1, MIDNIGHT + 5, json.dumps(body).encode()) for body in (pack, tick, beyond)]
    tables = build(frames).tables()
    ((key, ticker),) = rows(tables, "tickers").items()
    assert key == ("phemex", "BTCUSDT", DAY_BEFORE)  # the exchange's time, not the receive time
    assert ticker == [{
        "ts": utc(MIDNIGHT - 1), "ts_ns": MIDNIGHT - 1, "recv_ns": MIDNIGHT + 5,
        "channel": "perp_market24h_pack_p", "open": Decimal(90000), "high": Decimal("91000.5"),
        "low": Decimal(89000), "last": Decimal("90500.1"), "bid": Decimal(90500),
        "ask": Decimal("90500.2"), "index_price": Decimal("90499.9"),
        "mark_price": Decimal(90501), "volume": Decimal("12345678901.5"),
        "turnover": Decimal("1117222000000.25"),  # beyond decimal(18, 8): a wide column
        "open_interest": Decimal(40), "funding_rate": Decimal("-0.000125"),
        "pred_funding_rate": Decimal("0.00005"), "extra": '{"fundingIntervalRq":"28800"}',
        "spool_offset": 1,
    }]
    assert rows(tables, "ticks") == {("phemex", ".BTCFR8H", DAY): [{
        "ts": utc(MIDNIGHT), "ts_ns": MIDNIGHT, "recv_ns": MIDNIGHT + 5, "channel": "tick",
        "value": Decimal("-0.000125"), "spool_offset": 2}]}
    ((_, rejected),) = by_offset(tables, "rejected")
    assert rejected["spool_offset"] == 3
    assert rejected["reason"] == "tick_p .BTCUSDT.last: beyond the lake's decimal"


def test_every_version_of_an_exchange_bar_is_a_row_in_its_start_day() -> None:
    snapshot = {"kline": [[MIDNIGHT // SECOND - 60, 60, 900000000, 900000000, 901000000,
                           899000000, 900500000, 12, 13]],
                "sequence": 7, "symbol": "BTCUSD", "type": "snapshot"}
    update = {"kline": [[MIDNIGHT // SECOND - 60, 60, 900000000, 900000000, 902000000,
                         899000000, 901000000, 15, 16]],
              "sequence": 9, "symbol": "BTCUSD", "type": "incremental"}
    frames = [RawFrame(1, MIDNIGHT + i, json.dumps(body).encode())
              for i, body in enumerate((snapshot, update))]
    tables = build(frames).tables()
    ((key, bars),) = rows(tables, "klines").items()
    assert key == ("phemex", "BTCUSD", DAY_BEFORE)
    assert [(b["ts_ns"], b["interval_s"], b["high"], b["close"], b["volume"], b["turnover"],
             b["sequence"], b["from_snapshot"], b["spool_offset"]) for b in bars] == [
        (MIDNIGHT - 60 * SECOND, 60, Decimal("90100"), Decimal("90050"), Decimal(12),
         Decimal("0.00000013"), 7, True, 0),
        (MIDNIGHT - 60 * SECOND, 60, Decimal("90200"), Decimal("90100"), Decimal(15),
         Decimal("0.00000016"), 9, False, 1),
    ]
