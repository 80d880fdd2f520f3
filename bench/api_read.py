"""The Python API's read of one symbol-day into pandas, against reading the same files directly.

Usage: python bench/api_read.py [--rate 20] [--repeat 3]

24 h of BTCUSD trades (``--rate`` per second; 1.7 M at 20/s) are written in the lake layout,
one file per hour, with the lake's Parquet options (``dashboard_latency.write_day``) and a
manifest; the fuller of the two dates they touch is read. The same rows go into pandas
three ways, alternating, in this process:

- ``pyarrow``: ``pq.read_table`` of the day's files, then ``to_pandas``;
- ``duckdb``: ``read_parquet`` of the same files in a plain DuckDB connection;
- ``api``: ``ticklake.open_lake(root).read("trades", symbols=..., since=day, until=day+1)``,
  which plans the files from the manifest, reads through the sandboxed views and sorts into the
  exchange's order (the direct reads do not sort);
- each again with ``as_floats`` (decimals as float64), the form numeric work uses.

Prints JSON: the median seconds of each, and the API's ratio to the faster direct read (the
issue's goal: at most 1.2).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from dashboard_latency import write_day  # noqa: E402

import ticklake  # noqa: E402
from ticklake.lake.storage import LakeStorage  # noqa: E402
from ticklake.manifest import build  # noqa: E402
from ticklake.api import as_floats  # noqa: E402

DAY_NS = 86_400 * 10**9


def timed(runs: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in runs}
    rows: dict[str, int] = {}
    names = list(runs)
    for round_ in range(repeat):
        # Alternating, each round starting with another contender: drift and the memory the
        # previous one freed hit every contender alike.
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:
            gc.collect()
            started = time.perf_counter()
            frame = runs[name]()
            times[name].append(time.perf_counter() - started)
            rows[name] = len(frame)
            del frame
    assert len(set(rows.values())) == 1, rows  # the same rows every way
    return {name: round(statistics.median(values), 3) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "lake"
        rows = write_day(root, args.rate)
        build(LakeStorage(str(root)).manifest_store())  # as every recorded lake has one
        files = sorted(str(p) for p in (root / "trades").rglob("*.parquet"))
        lake = ticklake.open_lake(root)
        days = lake.sql("SELECT ts_ns // 86400000000000 AS day, count(*) AS n FROM trades "
                        "GROUP BY day ORDER BY n DESC").to_pylist()
        since = days[0]["day"] * DAY_NS  # (the 24 h written end now: the fuller date)
        until = since + DAY_NS
        day = since
        window = f"ts_ns >= {since} AND ts_ns < {until}"
        conn = duckdb.connect()

        def direct_pyarrow() -> pa.Table:
            table = pq.read_table(files, filters=[("ts_ns", ">=", since), ("ts_ns", "<", until)])
            return table

        def direct_duckdb() -> pa.Table:
            return conn.sql(f"SELECT * FROM read_parquet({files!r}) WHERE {window}"
                            ).to_arrow_table()

        def api() -> pa.Table:
            return lake.read("trades", symbols=["BTCUSD"], since=since, until=until)

        exact = timed({"pyarrow": lambda: direct_pyarrow().to_pandas(),
                       "duckdb": lambda: direct_duckdb().to_pandas(),
                       "api": lambda: api().to_pandas()}, args.repeat)
        floats = timed({"pyarrow": lambda: as_floats(direct_pyarrow()).to_pandas(),
                        "duckdb": lambda: as_floats(direct_duckdb()).to_pandas(),
                        "api": lambda: as_floats(api()).to_pandas()}, args.repeat)
        arrow = timed({"pyarrow": direct_pyarrow, "duckdb": direct_duckdb, "api": api},
                      args.repeat)
    result = {
        "rows_written": rows, "rows_read": days[0]["n"], "day": datetime.fromtimestamp(day // 10**9, UTC).date().isoformat(),
        "files": len(files), "repeat": args.repeat,
        "median_s": {"pandas_exact_decimals": exact, "pandas_floats": floats,
                     "arrow_only": arrow},
        "api_vs_fastest_direct": {
            name: round(t["api"] / min(t["pyarrow"], t["duckdb"]), 2)
            for name, t in (("pandas_exact_decimals", exact), ("pandas_floats", floats),
                            ("arrow_only", arrow))},
        "goal": "pandas read <= 1.2x the direct read",
    }
    result["goal_met"] = max(result["api_vs_fastest_direct"][k]
                             for k in ("pandas_exact_decimals", "pandas_floats")) <= 1.2
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
