"""``/api/book_top`` (the History page's mid and spread) on a lake the real pipeline recorded
from the emulator: every instant is the catalog's ``book_top`` macro and the exchange's true
top of book; a symbol without books answers nothing, not an error; at the live edge the
spool's unpublished books are served."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ticklake.dashboard import DashboardConfig
from ticklake.dashboard.book_top import COLUMNS, MAX_SPAN_NS
from ticklake.dashboard.candles import MAX_BUCKETS, choose_step
from ticklake.live_edge import query_lake

from ...integration.test_book_lake import true_book
from ...support import scaled
from .book_lake import BOOK_SYMBOLS, NO_BOOK, BookLake, record_book_lake
from .client import request
from .stack import LakeServer, LiveStack

MS = 1_000_000


@pytest.fixture(scope="module")
def book_lake(tmp_path_factory: pytest.TempPathFactory) -> BookLake:
    return record_book_lake(tmp_path_factory.mktemp("book-lake"))


@pytest.fixture(scope="module")
def board(book_lake: BookLake) -> Iterator[LakeServer]:
    server = LakeServer(DashboardConfig(str(book_lake.root), None, port=0)).start()
    try:
        yield server
    finally:
        server.stop()


def get(server: LakeServer | str, query: str) -> dict[str, Any]:
    base = server if isinstance(server, str) else server.url
    reply = request(f"{base.rstrip('/')}/api/book_top?{query}")
    assert reply.status == 200, reply.body
    body = reply.json()
    assert isinstance(body, dict)
    return body


def macro(root: Path, symbol: str, first_ms: int, until_ms: int, step_ms: int,
          spool: Path | None = None) -> dict[str, list[Any]]:
    """``book_top`` asked directly (``ticklake sql``'s path), as columns of doubles."""
    result = query_lake(
        str(root), spool,
        f"SELECT epoch_ms(ts) AS t, {', '.join(COLUMNS)} FROM book_top('{symbol}', "
        f"INTERVAL '{step_ms} milliseconds', make_timestamptz({first_ms * 1_000}), "
        f"make_timestamptz({until_ms * 1_000}))", max_rows=100_000)
    columns: dict[str, list[Any]] = {"t": result.table["t"].to_pylist()}
    for name in COLUMNS:
        columns[name] = [None if v is None else float(v) for v in result.table[name].to_pylist()]
    return columns


def decimals(value: Decimal) -> int:
    return max(0, -int(value.normalize().as_tuple().exponent))


@pytest.mark.parametrize("symbol", BOOK_SYMBOLS)
@pytest.mark.parametrize("buckets", [1_200, 97])
def test_every_instant_is_the_macro_and_the_true_top_of_book(
        board: LakeServer, book_lake: BookLake, symbol: str, buckets: int) -> None:
    since, until = book_lake.book_span_ms(symbol)
    body = get(board, f"symbol={symbol}&since={since}&until={until}&buckets={buckets}")
    step_ns, label = choose_step((until - since) * MS, buckets)
    step = step_ns // MS
    assert (body["step"], body["step_ms"], body["limited"]) == (label, step, False)
    # Every candle start in the window: the recording has no book gap, so none is missing.
    first = -(-since // step) * step
    assert body["t"] == list(range(first, until, step))
    assert len(body["t"]) <= buckets
    assert {k: body[k] for k in ("t", *COLUMNS)} == macro(book_lake.root, symbol, first, until,
                                                          step)
    digits = 0
    for i, t in enumerate(body["t"]):
        bids, asks = book_lake.truth.book_at(symbol, t * MS, 1)
        ((bid, bid_qty),), ((ask, ask_qty),) = bids.items(), asks.items()
        assert (body["bid"][i], body["bid_qty"][i], body["ask"][i], body["ask_qty"][i]) == (
            float(bid), float(bid_qty), float(ask), float(ask_qty)), (symbol, t)
        assert body["mid"][i] == (float(bid) + float(ask)) / 2
        assert body["spread"][i] == float(ask - bid) > 0
        assert body["spread_bp"][i] == pytest.approx(float((ask - bid) / ((ask + bid) / 2)) * 1e4)
        digits = max(digits, decimals(bid), decimals(ask))
    assert body["price_decimals"] == digits


def test_a_fixed_step(board: LakeServer, book_lake: BookLake) -> None:
    since, until = book_lake.book_span_ms("BTCUSD")
    body = get(board, f"symbol=BTCUSD&since={since}&until={until}&step=1s")
    assert body["step"] == "1s" and body["t"] and all(t % 1_000 == 0 for t in body["t"])
    first = -(-since // 1_000) * 1_000
    assert {k: body[k] for k in ("t", *COLUMNS)} == macro(book_lake.root, "BTCUSD", first, until,
                                                          1_000)


@pytest.mark.parametrize("symbol", [NO_BOOK, "SOLUSD"])
def test_a_symbol_without_books_answers_no_rows(board: LakeServer, book_lake: BookLake,
                                                symbol: str) -> None:
    since, until = book_lake.book_span_ms("BTCUSD")
    if symbol == NO_BOOK:  # it traded in the window; it has no book
        candles = request(f"{board.url}/api/candles?symbol={symbol}&since={since}&until={until}")
        assert sum(candles.json()["n"]) > 0
    body = get(board, f"symbol={symbol}&since={since}&until={until}")
    assert body["limited"] is False and body["price_decimals"] is None
    assert all(body[k] == [] for k in ("t", *COLUMNS))


def test_a_window_longer_than_the_limit_is_not_asked(board: LakeServer,
                                                     book_lake: BookLake) -> None:
    _, until = book_lake.book_span_ms("BTCUSD")
    since = until - MAX_SPAN_NS // MS - 1
    started = time.monotonic()
    body = get(board, f"symbol=BTCUSD&since={since}&until={until}")
    assert time.monotonic() - started < scaled(1)
    assert body["limited"] is True and body["max_span_ms"] == MAX_SPAN_NS // MS
    assert body["t"] == [] and body["price_decimals"] is None
    exactly = get(board, f"symbol=BTCUSD&since={since + 1}&until={until}")  # at the limit: asked
    assert exactly["limited"] is False and exactly["t"]


@pytest.mark.parametrize(("query", "message"), [
    ("symbol=BTC%27USD", "symbol must be letters, digits"),
    ("symbol=BTCUSD&since=20&until=10", "since must be before until"),
    ("symbol=BTCUSD&until=soon", "until must be epoch milliseconds or an ISO 8601 time"),
    ("symbol=BTCUSD&buckets=0", f"buckets must be 1..{MAX_BUCKETS}"),
    ("symbol=BTCUSD&step=3s", "step must be one of"),
    ("symbol=BTCUSD&step=1ms&since=0&until=10000", "1ms buckets over this range are too many"),
])
def test_bad_parameters_get_one_line(board: LakeServer, query: str, message: str) -> None:
    reply = request(f"{board.url}/api/book_top?{query}")
    assert reply.status == 400
    assert reply.json()["error"].startswith(message)


def test_the_live_edge_serves_the_spools_unpublished_books(tmp_path: Path) -> None:
    """Nothing is published yet (a long lake buffer): the books come from the spool's tail.
    Once the market halts, every later instant is the exchange's book as it stands."""
    stack = LiveStack(tmp_path, rate=40.0, buffer_seconds=600.0,
                      feed={"channels": ("trades", "book")}, book_snapshot_interval=1.0).start()
    try:
        emulator = stack.emulator
        assert emulator is not None
        deadline = time.monotonic() + scaled(20)
        while True:  # the recorder's first snapshot, then a moment of book
            now = time.time_ns() // MS
            rows = get(stack.url, f"symbol=BTCUSD&since={now - 2_000}&until={now}&step=100ms")
            if len(rows["t"]) >= 10:
                break
            assert time.monotonic() < deadline, rows
            time.sleep(0.2)
        stack.call(emulator.halt)
        halted = time.time_ns() // MS
        time.sleep(0.5)  # the last messages reach the recorder and its spool
        bids, asks = stack.call(true_book, emulator, "BTCUSD", 1)
        ((bid, _),), ((ask, _),) = bids.items(), asks.items()
        now = time.time_ns() // MS
        body = get(stack.url, f"symbol=BTCUSD&since={halted + 200}&until={now}&step=100ms")
        assert body["t"] and body["t"][-1] >= now - 100
        assert set(body["bid"]) == {float(bid)} and set(body["ask"]) == {float(ask)}
        assert not list((tmp_path / "lake").glob("book_*/**/*.parquet"))  # all from the tail
    finally:
        stack.stop()

