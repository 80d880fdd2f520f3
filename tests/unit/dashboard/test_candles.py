"""Candles from the API equal an independent computation over the lake's Parquet files."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from ticklake.dashboard.candles import MAX_BUCKETS, STEPS, choose_step

from ..catalog.helpers import SECOND, T0
from .client import request
from .lakes import SPAN_NS
from .stack import LakeServer

MS = 1_000_000


def expected_candles(lake: Path, symbol: str, since_ns: int, until_ns: int,
                     step_ns: int) -> dict[str, list[Any]]:
    """OHLCV per epoch-aligned bucket, by pyarrow and Python (no DuckDB involved)."""
    dataset = ds.dataset(lake / "trades", format="parquet", partitioning="hive")
    table = dataset.to_table(filter=(ds.field("symbol") == symbol)
                             & (ds.field("ts_ns") >= since_ns) & (ds.field("ts_ns") < until_ns))
    rows = sorted(table.select(["ts_ns", "spool_offset", "price", "qty", "side"]).to_pylist(),
                  key=lambda r: (r["ts_ns"], r["spool_offset"]))
    buckets: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        buckets[row["ts_ns"] // step_ns].append(row)
    out: dict[str, list[Any]] = {k: [] for k in ("t", "o", "h", "l", "c", "bv", "sv", "n")}
    for key in sorted(buckets):
        group = buckets[key]
        prices = [r["price"] for r in group]
        out["t"].append(key * step_ns // MS)
        out["o"].append(float(prices[0]))
        out["h"].append(float(max(prices)))
        out["l"].append(float(min(prices)))
        out["c"].append(float(prices[-1]))
        out["bv"].append(float(sum((r["qty"] for r in group if r["side"] == "buy"), Decimal(0))))
        out["sv"].append(float(sum((r["qty"] for r in group if r["side"] == "sell"), Decimal(0))))
        out["n"].append(len(group))
    return out


@pytest.mark.parametrize(("since_ns", "until_ns", "buckets"), [
    (T0, T0 + SPAN_NS, 1_000),  # the whole lake, across the date partition
    (T0 + 3_600 * SECOND, T0 + 3 * 3_600 * SECOND, 300),
    (T0 + 23 * 3_600 * SECOND, T0 + 25 * 3_600 * SECOND, 50),  # straddles midnight
])
def test_candles_equal_an_independent_computation(
    server: LakeServer, lake: Path, since_ns: int, until_ns: int, buckets: int,
) -> None:
    reply = request(f"{server.url}/api/candles?symbol=BTCUSD&since={since_ns // MS}"
                    f"&until={until_ns // MS}&buckets={buckets}")
    assert reply.status == 200, reply.body
    body = reply.json()
    step_ns, label = choose_step(until_ns - since_ns, buckets)
    assert (body["step"], body["step_ms"]) == (label, step_ns / MS)
    assert len(body["t"]) <= buckets
    expected = expected_candles(lake, "BTCUSD", since_ns, until_ns, step_ns)
    assert body["t"] == expected["t"]
    assert body["n"] == expected["n"]
    for column in ("o", "h", "l", "c", "bv", "sv"):
        assert body[column] == pytest.approx(expected[column], rel=1e-12), column


def test_a_fixed_step_and_an_offset_seam(server: LakeServer, lake: Path) -> None:
    since, until = T0, T0 + 600 * SECOND
    reply = request(f"{server.url}/api/candles?symbol=ETHUSD&since={since // MS}"
                    f"&until={until // MS}&step=1m&before_offset=2100")
    body = reply.json()
    assert body["step"] == "1m"
    # ETHUSD rows have spool offsets 2000.. (conftest): only the first 100 are below the seam
    dataset = ds.dataset(lake / "trades", format="parquet", partitioning="hive")
    offsets = dataset.to_table(filter=(ds.field("symbol") == "ETHUSD")
                               & (ds.field("ts_ns") < until)
                               & (ds.field("spool_offset") < 2100)).num_rows
    assert sum(body["n"]) == offsets


def test_the_bucket_keeps_any_range_within_the_limit() -> None:
    year = 365 * 86_400 * SECOND
    for span in (SECOND, 3_600 * SECOND, 86_400 * SECOND, year):
        step, _ = choose_step(span, 1_000)
        assert -(-span // step) <= 1_000
        finer = [s for s, _ in STEPS if s < step]
        assert not finer or -(-span // finer[-1]) > 1_000  # the finest that fits
    assert choose_step(10 * year, 10)[1] == "1w"  # beyond the ladder: its coarsest step


@pytest.mark.parametrize(("query", "message"), [
    ("symbol=BTC%27USD", "symbol must be letters, digits"),
    ("symbol=BTCUSD&since=20&until=10", "since must be before until"),
    ("symbol=BTCUSD&since=yesterday", "since must be epoch milliseconds or an ISO 8601 time"),
    ("symbol=BTCUSD&since=inf", "since must be epoch milliseconds"),
    ("symbol=BTCUSD&since=-5", "since '-5' is outside 1970..2262"),
    ("symbol=BTCUSD&buckets=0", f"buckets must be 1..{MAX_BUCKETS}"),
    ("symbol=BTCUSD&buckets=many", "buckets must be an integer"),
    ("symbol=BTCUSD&step=3s", "step must be one of"),
    ("symbol=BTCUSD&step=1ms&since=0&until=1000000000", "1ms buckets over this range are too many"),
    ("symbol=BTCUSD&before_offset=-1", "before_offset must be >= 0"),
])
def test_bad_parameters_get_one_line(server: LakeServer, query: str, message: str) -> None:
    reply = request(f"{server.url}/api/candles?{query}")
    assert reply.status == 400
    assert reply.json()["error"].startswith(message)


def test_iso_times_are_accepted(server: LakeServer) -> None:
    reply = request(f"{server.url}/api/candles?symbol=BTCUSD&since=2026-11-25T00:00:00Z"
                    "&until=2026-11-25T01:00:00&buckets=60")
    assert reply.status == 200
    assert reply.json()["since_ms"] == T0 // MS
    assert reply.json()["step"] == "1m"
