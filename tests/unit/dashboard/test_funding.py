"""``/api/funding`` (the History page's funding pane) against an independent computation over
the lake's ``tickers`` files, and against the catalog's ``funding`` macro."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from ticklake.dashboard.funding import COLUMNS

from ..catalog.helpers import SECOND, T0
from .client import request, sql
from .lakes import SPAN_NS
from .stack import LakeServer

MS = 1_000_000


def expected_funding(lake: Path, symbol: str, since_ns: int, until_ns: int,
                     step_ns: int) -> dict[str, list[Any]]:
    """The last update with a funding rate per epoch-aligned bucket, by pyarrow and Python."""
    dataset = ds.dataset(lake / "tickers", format="parquet", partitioning="hive")
    table = dataset.to_table(filter=(ds.field("symbol") == symbol)
                             & (ds.field("ts_ns") >= since_ns) & (ds.field("ts_ns") < until_ns))
    rows = sorted((r for r in table.to_pylist() if r["funding_rate"] is not None),
                  key=lambda r: (r["ts_ns"], r["spool_offset"]))
    buckets: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        buckets[row["ts_ns"] // step_ns].append(row)
    out: dict[str, list[Any]] = {k: [] for k in ("t", *COLUMNS, "updates")}
    for key in sorted(buckets):
        out["t"].append(key * step_ns // MS)
        for name in COLUMNS:
            out[name].append(float(buckets[key][-1][name]))
        out["updates"].append(len(buckets[key]))
    return out


@pytest.mark.parametrize(("since_ns", "until_ns", "buckets"), [
    (T0, T0 + SPAN_NS, 1_000),  # the whole lake, across the date partition
    (T0 + 23 * 3_600 * SECOND, T0 + 25 * 3_600 * SECOND, 50),  # straddles midnight
    (T0, T0 + 3_600 * SECOND, 1_000),  # finer than the updates: one per bucket, most empty
])
def test_funding_equals_an_independent_computation(
    server: LakeServer, lake: Path, since_ns: int, until_ns: int, buckets: int,
) -> None:
    reply = request(f"{server.url}/api/funding?symbol=BTCUSD&since={since_ns // MS}"
                    f"&until={until_ns // MS}&buckets={buckets}")
    assert reply.status == 200, reply.body
    body = reply.json()
    step_ns = int(body["step_ms"] * MS)
    expected = expected_funding(lake, "BTCUSD", since_ns, until_ns, step_ns)
    assert len(expected["t"]) > 10
    assert {k: body[k] for k in expected} == expected
    if until_ns - since_ns == SPAN_NS:
        assert min(body["funding_rate"]) < 0 < max(body["funding_rate"])
    if since_ns == T0 and step_ns < 60 * SECOND:  # T0 + 7 s has two updates: the later won
        assert body["funding_rate"][0] == 0.00031 and body["updates"][0] == 2


def test_funding_agrees_with_the_funding_macro(server: LakeServer) -> None:
    since, until = T0 + 2 * 3_600 * SECOND, T0 + 5 * 3_600 * SECOND
    body = request(f"{server.url}/api/funding?symbol=BTCUSD&since={since // MS}"
                   f"&until={until // MS}&step=5m").json()
    reply = sql(server.url, f"""
        SELECT epoch_ms(bucket) AS t, funding_rate, pred_funding_rate, updates
        FROM funding('BTCUSD', INTERVAL 5 MINUTE, since := make_timestamptz({since // 1000}),
                     until := make_timestamptz({until // 1000}))""")
    assert reply.status == 200, reply.body
    rows = reply.json()["rows"]
    assert len(rows) == 36
    assert [r[0] for r in rows] == body["t"]
    assert [float(r[1]) for r in rows] == body["funding_rate"]
    assert [float(r[2]) for r in rows] == body["pred_funding_rate"]
    assert [r[3] for r in rows] == body["updates"]


def test_a_symbol_without_tickers_answers_no_rows(server: LakeServer) -> None:
    reply = request(f"{server.url}/api/funding?symbol=ETHUSD&since={T0 // MS}"
                    f"&until={(T0 + SPAN_NS) // MS}&buckets=100")
    assert reply.status == 200, reply.body
    body = reply.json()
    assert body["t"] == [] and body["funding_rate"] == []


def test_bad_parameters_get_one_line(server: LakeServer) -> None:
    reply = request(f"{server.url}/api/funding?symbol=BTC%27USD")
    assert reply.status == 400
    assert reply.json()["error"].startswith("symbol must be letters, digits")
