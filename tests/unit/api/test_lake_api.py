"""The Python API's lake half against small lakes in the documented layout: rows, order,
pruning, macros, parameters and the one-line errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ticklake
from ticklake.api import MACRO_NAMES, as_floats, open_lake, to_ns
from ticklake.api.arrow_read import in_order
from ticklake.catalog import Lake
from ticklake.errors import LakeNotFound, QueryError

from ..catalog.helpers import SECOND, T0, trade, write_lake

DAY = 86_400 * SECOND
HOUR = 3_600 * SECOND


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return write_lake_rows(tmp_path / "lake")


def write_lake_rows(root: Path) -> Path:
    """Two symbols over three days, a trade every 20 minutes; one message of three fills of
    one taker order (same instant) written out of order, so only ``msg_index`` orders them."""
    rows = []
    for i in range(3 * 72):
        rows.append(trade(T0 + i * 20 * 60 * SECOND, str(100 + i), "1", offset=2 * i, index=0))
        rows.append(trade(T0 + i * 20 * 60 * SECOND + 1, str(200 + i), "2", symbol="ETHUSD",
                          side="sell", offset=2 * i + 1, index=0))
    fills = T0 + DAY + 5 * SECOND
    rows += [trade(fills, "7", "1", offset=1000, index=2), trade(fills, "5", "1", offset=1000,
                                                               index=0),
             trade(fills, "6", "1", offset=1000, index=1)]
    return write_lake(root, trades=rows)


def test_read_keeps_the_symbols_and_window_asked_in_the_exchanges_order(root: Path) -> None:
    lake = ticklake.open_lake(root)
    day = lake.read("trades", symbols=["BTCUSD"], since=T0 + DAY, until=T0 + 2 * DAY)
    ts = day.column("ts_ns").to_pylist()
    assert set(day.column("symbol").to_pylist()) == {"BTCUSD"}
    assert min(ts) >= T0 + DAY and max(ts) < T0 + 2 * DAY
    assert len(ts) == 72 + 3 and ts == sorted(ts)
    at = [p for t, p in zip(ts, day.column("price").to_pylist(), strict=True)
          if t == T0 + DAY + 5 * SECOND]
    assert at == [Decimal(5), Decimal(6), Decimal(7)]  # by msg_index, not as written
    both = lake.read("trades", symbols=("BTCUSD", "ETHUSD"), since="2026-11-26T00:00:00Z",
                     until=date(2026, 11, 27), columns=["ts_ns", "symbol", "price"])
    assert both.column_names == ["ts_ns", "symbol", "price"]
    assert both.num_rows == 2 * 72 + 3
    assert both.column("ts_ns").to_pylist() == sorted(both.column("ts_ns").to_pylist())
    everything = lake.read("trades")
    assert everything.num_rows == 2 * 3 * 72 + 3


def test_a_filtered_read_opens_only_the_files_it_needs(root: Path) -> None:
    lake = open_lake(root)
    assert len(lake.files("trades")) == 6  # 2 symbols x 3 days
    files = lake.files("trades", symbols=["ETHUSD"], since=T0 + DAY + HOUR,
                       until=T0 + DAY + 2 * HOUR)
    assert files == [f for f in lake.files("trades")
                     if "symbol=ETHUSD" in f and "date=2026-11-26" in f]


def test_scan_streams_bounded_batches_of_the_same_rows(root: Path) -> None:
    lake = open_lake(root)
    reader = lake.scan("trades", symbols=["BTCUSD"], batch_rows=50)
    batches = list(reader)
    assert max(b.num_rows for b in batches) <= 50 and len(batches) > 3
    scanned, read = pa.Table.from_batches(batches), lake.read("trades", symbols=["BTCUSD"])
    assert scanned.schema == read.schema  # the same types (SQL's wider qty narrowed back)
    assert scanned.to_pylist() == read.to_pylist()


def test_macros_and_sql_with_parameters(root: Path) -> None:
    lake = open_lake(root)
    fills = T0 + DAY + 5 * SECOND
    bars = lake.candles("BTCUSD", "1 second", since=fills, until=fills + SECOND).to_pylist()
    assert [(b["open"], b["close"], b["trades"]) for b in bars] == [
        (Decimal(5), Decimal(7), 3)]  # the order's first and last fills
    same = Lake(str(root)).query(
        "SELECT * FROM candles('BTCUSD', INTERVAL 20 MINUTE)").table
    assert lake.macro("candles", "BTCUSD", timedelta(minutes=20)).equals(same)
    assert {"candles", "vwap", "funding", "kline_check", "book_at"} <= set(MACRO_NAMES)
    sold = lake.sql("SELECT count(*) AS n, sum(qty) AS q FROM trades WHERE side = $1",
                    ["sell"]).to_pylist()
    assert sold == [{"n": 216, "q": Decimal(432)}]
    named = lake.sql("SELECT count(*) AS n FROM trades WHERE symbol = $s AND price >= $p",
                     {"s": "ETHUSD", "p": 400})
    assert named.column("n").to_pylist() == [16]


def test_as_floats_turns_decimals_into_doubles_for_pandas(root: Path) -> None:
    exact = open_lake(root).read("trades", symbols=["ETHUSD"], columns=["price", "qty", "side",
                                                                        "symbol"])
    assert [str(f.type) for f in exact.schema] == [
        "decimal128(18, 8)", "decimal128(18, 8)",  # the files' types, exact
        "dictionary<values=string, indices=int8, ordered=0>",
        "dictionary<values=string, indices=int32, ordered=0>"]
    table = as_floats(exact)
    assert [f.type for f in table.schema][:2] == [pa.float64(), pa.float64()]
    frame = table.to_pandas()
    assert frame["price"].iloc[0] == 200.0 and frame["qty"].sum() == 2.0 * 216
    assert frame["side"].dtype == "category" and set(frame["side"]) == {"sell"}
    assert set(frame["symbol"]) == {"ETHUSD"}


def test_times_are_read_in_every_documented_form() -> None:
    noon = T0 + 12 * HOUR
    assert to_ns("2026-11-25T12:00:00Z") == to_ns("2026-11-25 12:00") == noon
    assert to_ns(datetime(2026, 11, 25, 12, tzinfo=UTC)) == to_ns(datetime(2026, 11, 25, 12))  # noqa: DTZ001
    assert to_ns(date(2026, 11, 25)) == T0 and to_ns(noon) == noon
    assert to_ns(datetime(2026, 11, 25, 12, 0, 0, 123456, tzinfo=UTC)) == noon + 123_456_000


@pytest.mark.parametrize(("call", "message"), [
    (lambda lake: lake.read("trade"), "no table 'trade'; the lake's tables: trades, raw"),
    (lambda lake: lake.read("trades", columns=["px"]), "trades has no column 'px'"),
    (lambda lake: lake.read("raw", symbols=["BTCUSD"]), "raw has no symbol column"),
    (lambda lake: lake.read("trades", since="yesterday"), "since: cannot read 'yesterday'"),
    (lambda lake: lake.read("trades", until=True), "until: True is not a time"),
    (lambda lake: lake.macro("candle", "BTCUSD"), "no macro 'candle'; the lake's macros:"),
    (lambda lake: lake.macro("candles", "BTCUSD", object()), "cannot pass <object"),
])
def test_bad_arguments_name_the_problem_in_one_line(root: Path, call: object,
                                                    message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")) as info:
        call(open_lake(root))  # type: ignore[operator]
    assert "\n" not in str(info.value)


def test_bad_sql_and_a_missing_lake_are_one_line_errors(root: Path, tmp_path: Path) -> None:
    lake = open_lake(root)
    with pytest.raises(QueryError, match="nope"):
        lake.sql("SELECT nope FROM trades")
    with pytest.raises(QueryError, match="only read-only queries"):
        lake.sql("DELETE FROM trades")
    with pytest.raises(LakeNotFound):
        open_lake(tmp_path / "nowhere")


def test_the_package_exposes_the_api_lazily() -> None:
    import subprocess
    import sys

    code = ("import sys, ticklake; assert 'pyarrow' not in sys.modules; "
            "ticklake.open_lake; assert 'pyarrow' in sys.modules; "
            "from ticklake.api import record; print(record.__name__); "
            "import ticklake.api.lake, ticklake.api.live, ticklake.api.attach; "
            "assert all(callable(getattr(ticklake, n)) for n in "
            "('open_lake', 'record', 'follow'))")  # (no submodule shadows a function)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "record"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.none() | st.integers(0, 2)),
                max_size=30))
def test_in_order_sorts_by_time_offset_and_place_only_when_needed(
        rows: list[tuple[int, int, int | None]]) -> None:
    table = pa.table({"ts_ns": pa.array([r[0] for r in rows], pa.int64()),
                      "spool_offset": pa.array([r[1] for r in rows], pa.int64()),
                      "msg_index": pa.array([r[2] for r in rows], pa.int16()),
                      "row": pa.array(range(len(rows)), pa.int64())})
    got = in_order(table, ["ts_ns", "spool_offset", "msg_index"])

    def key(r: dict[str, int | None]) -> tuple[int, ...]:
        return (r["ts_ns"], r["spool_offset"], r["msg_index"] or 0)  # type: ignore[return-value]
    assert [key(r) for r in got.to_pylist()] == sorted(key(r) for r in table.to_pylist())
    if [key(r) for r in table.to_pylist()] == sorted(key(r) for r in table.to_pylist()):
        assert got is table  # already in order: not copied
