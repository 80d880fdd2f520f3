"""The dashboard's day of candles: ``/api/candles``' SQL over a day of trades, old vs new.

Usage: python bench/candles.py [--rate 50] [--repeat 5] [--corners]

A day of BTCUSD trades at ``--rate`` per second (~4.3 M at 50/s; ``dashboard_latency.py``'s
generator, the lake layout, one file per hour) written twice: with the lake's Parquet options
and with the options it had before (FIXED_LEN_BYTE_ARRAY decimals, dictionaries everywhere).
Then the candles query the History page asks for (the default 1,000 buckets over the day:
2-minute candles), the SQL of before and now, on both lakes: wall time through the catalog
(``Lake.query``, a fresh connection each time, as the dashboard's query path does) and the
process CPU time (steadier than wall time on a shared machine), median of ``--repeat``.
Every variant must return the same candles (compared within a display tolerance). JSON.
``--corners``: only old files + old SQL and new files + new SQL (the quick ``make bench``).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

from dashboard_latency import write_day

from ticklake.catalog import Lake
from ticklake.dashboard.candles import Window, candles_sql, choose_step
from ticklake.lake.storage import PARQUET_OPTIONS

_ORDER = "CAST(ts_ns AS HUGEINT) * 10000000000000000000 + spool_offset"


def before_sql(w: Window, first_day: str, last_day: str) -> str:
    """The query before this change (commit 70250c4), kept to compare in the same run."""
    return f"""
SELECT (ts_ns // {w.step_ns}) * {w.step_ns // 1_000_000} AS t,
       CAST(arg_min(price, {_ORDER}) AS DOUBLE) AS o,
       CAST(max(price) AS DOUBLE) AS h,
       CAST(min(price) AS DOUBLE) AS l,
       CAST(arg_max(price, {_ORDER}) AS DOUBLE) AS c,
       CAST(coalesce(sum(qty) FILTER (WHERE side = 'buy'), 0) AS DOUBLE) AS bv,
       CAST(coalesce(sum(qty) FILTER (WHERE side = 'sell'), 0) AS DOUBLE) AS sv,
       count(*) AS n
FROM trades
WHERE symbol = '{w.symbol}' AND ts_ns >= {w.since_ns} AND ts_ns < {w.until_ns}
  AND date >= DATE '{first_day}' AND date <= DATE '{last_day}'
GROUP BY 1 ORDER BY 1
"""


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


Rows = list[dict[str, object]]


def timed(lake_root: str, sql: str, repeat: int) -> tuple[dict[str, float], Rows]:
    wall, cpu, rows = [], [], []
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), _cpu()
        rows = Lake(lake_root).query(sql, max_rows=10_000).table.to_pylist()
        wall.append(time.perf_counter() - started)
        cpu.append(_cpu() - cpu_started)
    return {"wall_s": round(statistics.median(wall), 3),
            "cpu_s": round(statistics.median(cpu), 3)}, rows


def same(a: list[dict[str, object]], b: list[dict[str, object]]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        for key in x:
            u, v = x[key], y[key]
            if isinstance(u, float) and isinstance(v, float):
                if abs(u - v) > 1e-9 * max(1.0, abs(u)):
                    return False
            elif u != v:
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--corners", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        lakes = {"lake_now": Path(tmp) / "lake", "lake_before": Path(tmp) / "old"}
        trades = write_day(lakes["lake_now"], args.rate)
        write_day(lakes["lake_before"], args.rate, dict(PARQUET_OPTIONS))
        until = time.time_ns() // 10**9 * 10**9
        since = until - 86_400 * 10**9
        step, label = choose_step(until - since, 1_000)
        window = Window("BTCUSD", since, until, step)
        day = time.strftime("%Y-%m-%d", time.gmtime(since // 10**9))
        last = time.strftime("%Y-%m-%d", time.gmtime((until - 1) // 10**9))
        results: dict[str, dict[str, float]] = {}
        candles = 0
        all_same = True
        for lake_name, root in lakes.items():  # (each lake has its own day: compare within)
            Lake(str(root)).query("SELECT count(*) FROM trades")  # warm the page cache
            reference: Rows = []
            for sql_name, sql in (("sql_before", before_sql(window, day, last)),
                                  ("sql_now", candles_sql(window))):
                if args.corners and (lake_name == "lake_now") != (sql_name == "sql_now"):
                    continue
                results[f"{lake_name}+{sql_name}"], rows = timed(str(root), sql, args.repeat)
                reference, candles = reference or rows, len(rows)
                all_same = all_same and same(reference, rows)
        floor, _ = timed(str(lakes["lake_now"]), "SELECT 1", args.repeat)
    before, now = results["lake_before+sql_before"], results["lake_now+sql_now"]
    print(json.dumps({
        "bench": "candles", "trades": trades, "step": label, "candles": candles,
        "results": results, "connection_floor": floor,
        "speedup_wall": round(before["wall_s"] / now["wall_s"], 2),
        "speedup_cpu": round(before["cpu_s"] / now["cpu_s"], 2),
        "same_candles": all_same, "goal": "a day of candles < 0.5 s",
    }, indent=1))


if __name__ == "__main__":
    main()
