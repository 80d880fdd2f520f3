"""Run every benchmark (quick variants by default) and print one JSON document plus a table.

Usage: python bench/run_all.py [--full] [--out results.json] [--only ingest,latency,...]

Quick (``make bench``, under 5 minutes on 2 cores): ingest 1x1 and 10x1 streams, 5 rounds
(ccxt once, 1x1 only: it is slow), latency 10 s per rate, memory 45 s of ``ticklake record``
(one publish), storage 100k trades, query 2M rows over 30 days, the dashboard's day of candles (4.3M
trades; old files + old SQL vs new files + new SQL only), order books (``books.py --quick``:
a 60k-message book stream vs cryptofeed, 364 symbols' books at the real rate for 20 s, a day
lake's ``book_at``), tickers/ticks/klines (``tickers.py --quick``: a quarter day of each),
the Python API's read of a symbol-day into pandas against pyarrow and DuckDB reading the
same files (``api_read.py``).
Full (``--full``): ingest also 1x2 and 10x2 with longer streams, ccxt on
every stream, latency 60 s, memory 10 minutes of ``record`` and ``run``, storage 1M trades,
query 100M rows, every candles variant, books with longer streams and a 6-minute real-rate run.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def run(script: str, *args: str) -> dict[str, Any]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr[-3000:]}
    start = done.stdout.find("{")
    result: dict[str, Any] = json.loads(done.stdout[start:])
    result["wall_s"] = round(time.monotonic() - started, 1)
    return result


def machine() -> dict[str, Any]:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    return {"cpu": fields.get("Model name", "?").strip(), "cpus": fields.get("CPU(s)", "?").strip(),
            "python": platform.python_version(), "kernel": platform.release()}


def table(results: dict[str, Any]) -> str:
    lines = []
    ingest = results.get("ingest", {})
    if "configs" in ingest:
        lines += ["| stream | client | trades/s | CPU s/100k | peak RSS MB | note |",
                  "|---|---|---:|---:|---:|---|"]
        for config in ingest["configs"]:
            name = f"{config['trades_per_message']}/msg x {len(config['symbols'])} sym"
            for client, r in config["results"].items():
                if "error" in r:
                    lines.append(f"| {name} | {client} | error | | | |")
                    continue
                note = ""
                if client == "ccxt":
                    note = f"delivered {r.get('trades_delivered', 0):,} of {r['trades']:,}"
                if client == "ticklake":
                    note = (f"to lake {r.get('trades_per_s_to_lake', 0):,}/s, exact "
                            f"{r.get('lake_exact')}")
                lines.append(f"| {name} | {client} | {r['trades_per_s']:,} | "
                             f"{r['cpu_s_per_100k_trades']} | {r['peak_rss_mb']} | {note} |")
            ratios = {k.removeprefix("ticklake_vs_").removesuffix("_trades_per_s"): v
                      for k, v in config.items() if k.endswith("_trades_per_s")}
            lines.append(f"| {name} | **ticklake ÷ peer** | "
                         + ", ".join(f"{k} {v}x" for k, v in ratios.items()) + " | | | |")
            paired = {k.removeprefix("ticklake_vs_").removesuffix("_trades_per_s_by_round"): v
                      for k, v in config.items() if k.endswith("_trades_per_s_by_round")}
            if paired:
                lines.append(f"| {name} | **ticklake ÷ peer, round by round** | "
                             + ", ".join(f"{k} {'/'.join(map(str, v))}" for k, v in
                                         paired.items()) + " | | | |")
        lines.append("")
    latency = results.get("latency", {})
    if "results" in latency:
        lines += ["| rate | to spool p50/p99/p999 ms | to fsync p99 | to bus p99 | "
                  "to SQL p50/p99/p999 ms |", "|---|---|---|---|---|"]
        for r in latency["results"]:
            s, f, b, q = r["to_spool"], r["to_fsync"], r["to_bus"], r["to_sql"]
            lines.append(f"| {r['rate_trades_per_s']:g}/s | {s.get('p50_ms')}/{s.get('p99_ms')}/"
                         f"{s.get('p999_ms')} | {f.get('p99_ms')} | {b.get('p99_ms')} | "
                         f"{q.get('p50_ms')}/{q.get('p99_ms')}/{q.get('p999_ms')} |")
        lines.append("")
    memory = results.get("memory", {})
    if "results" in memory:
        lines += ["| command | seconds | publish interval s | steady MB | recorder MB | "
                  "children MB | peak MB (publish) | share with writer | growth MB/min |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in memory["results"]:
            lines.append(f"| {r['command']} | {r.get('seconds')} | {r.get('buffer_seconds')} | "
                         f"{r.get('steady_mb')} | {r.get('steady_recorder_mb')} | "
                         f"{r.get('steady_children_mb')} | {r.get('peak_mb')} | "
                         f"{r.get('share_with_writer_process')} | "
                         f"{r.get('growth_mb_per_min')} |")
        lines.append("")
    storage = results.get("storage", {})
    if "batches" in storage:
        lines += ["| JSON B/trade | trades B/trade (batches) | raw B/trade (batches) | "
                  "trades B/trade (compacted) | raw B/trade (compacted) |",
                  "|---:|---:|---:|---:|---:|",
                  f"| {storage['json_bytes_per_trade']} | "
                  f"{storage['batches']['trades_bytes_per_trade']} | "
                  f"{storage['batches']['raw_bytes_per_trade']} | "
                  f"{storage['compacted']['trades_bytes_per_trade']} | "
                  f"{storage['compacted']['raw_bytes_per_trade']} |", ""]
    query = results.get("query", {})
    if "results" in query:
        lines += [f"Query over {query['rows']:,} trades, {query['days']} days (median s):", "",
                  "| query | lake | one Parquet file | CSV |", "|---|---:|---:|---:|"]
        for name, r in query["results"].items():
            lines.append(f"| {name} | {r['lake']['median_s']} | "
                         f"{r['single_parquet']['median_s']} | {r['csv']['median_s']} |")
    candles = results.get("candles", {})
    if "results" in candles:
        lines += ["", f"Dashboard day of candles, {candles['trades']:,} trades, "
                  f"{candles['candles']} candles (median wall s / CPU s):", "",
                  "| lake files + SQL | wall s | CPU s |", "|---|---:|---:|"]
        for name, r in candles["results"].items():
            lines.append(f"| {name} | {r['wall_s']} | {r['cpu_s']} |")
    edge = results.get("live_edge", {})
    if "count" in edge:
        lines += ["", f"Queries at the live edge, {edge['tail_frames']:,}-frame tail "
                  f"({edge['tail_seconds']:g} s at {edge['rate']:g} trades/s, "
                  f"{edge['symbols']} symbols), ms:", "",
                  "| query | incremental p50 | p99 | re-decode p50 | p99 | ratio p50 |",
                  "|---|---:|---:|---:|---:|---:|"]
        for name in ("count", "candles"):
            r = edge[name]
            lines.append(f"| {name} | {r['incremental']['p50_ms']} | "
                         f"{r['incremental']['p99_ms']} | {r['redecode']['p50_ms']} | "
                         f"{r['redecode']['p99_ms']} | {r['ratio_p50']} |")
    lines += _books_table(results.get("books", {}))
    lines += _tickers_table(results.get("tickers", {}))
    return "\n".join(lines)


def _tickers_table(tickers: dict[str, Any]) -> list[str]:
    streams = tickers.get("streams", {})
    if not streams:
        return []
    lines = ["", f"Tickers, ticks, klines: {tickers['seconds']:,} s of frames at 1/s through the "
             "lake writer's decode:", "",
             "| stream | table | frames/s | rows/s | ÷ bare JSON parse | ÷ trades frames/s "
             "| B/row (day file) | B/row (5-min files) |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in streams.items():
        lines.append(f"| {name} | {r['table']} | {r['frames_per_s']:,} | {r['rows_per_s']:,} | "
                     f"{r['vs_bare_json_parse']}x | {r['frames_per_s_vs_trades']} | "
                     f"{r['storage']['day_file_bytes_per_row']} | "
                     f"{r['storage']['five_minute_bytes_per_row']} |")
    return lines


def _books_table(books: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for config in books.get("throughput", []):
        lines += ["", f"Order books, {config['stream']['messages']:,} book messages "
                  f"({config['levels_per_message']} levels each), {', '.join(config['symbols'])}, "
                  "one core:", "",
                  "| client | msgs/s (to spool) | msgs/s to lake | CPU µs/msg | peak RSS MB |",
                  "|---|---:|---:|---:|---:|"]
        for client, r in config["results"].items():
            if "error" in r:
                lines.append(f"| {client} | error | | | |")
                continue
            lines.append(f"| {client} | {r['msgs_per_s']:,} | "
                         f"{r.get('msgs_per_s_to_lake', '')} | {r['cpu_us_per_msg']} | "
                         f"{r['peak_rss_mb']} |")
        lines.append(f"| **ticklake ÷ cryptofeed** | "
                     f"{config.get('ticklake_vs_cryptofeed_paired_median')}x | "
                     f"{config.get('ticklake_vs_cryptofeed_to_lake_paired_median')}x | | |")
    rate = books.get("realrate", {})
    if "steady_cpu_pct_recorders" in rate:
        lines += ["", f"Books of {rate['subscriptions']} symbols at {rate['msgs_per_s_sent']:,} "
                  f"msgs/s ({rate['msgs_per_s_per_symbol']}/s each): recorders "
                  f"{rate['steady_cpu_pct_recorders']}% of one core steady, "
                  f"{rate['all_in_cpu_pct_at_this_rate']}% with the lake writers (all-in)"]
    query = books.get("query", {}).get("published", {})
    if "warm" in query:
        warm, cold = query["warm"], query["cold"]
        lines += ["", f"book_at over a day: warm median {warm['book_at']['median_s']} s "
                  f"(p95 {warm['book_at']['p95_s']}), cold first query "
                  f"{cold['book_at_first_query']['median_s']} s, vs book_updates from the day's "
                  f"start {warm['baseline_updates_from_day_start']['median_s']} s "
                  f"({warm['speedup_vs_baseline_median']}x); book_top 1 h at 1 s "
                  f"{warm['book_top_1h_1s']['median_s']} s"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--only",
                        default="ingest,latency,memory,storage,query,candles,live_edge,books,"
                                "tickers,api")
    args = parser.parse_args()
    only = args.only.split(",")
    results: dict[str, Any] = {"machine": machine(), "full": args.full}
    if "ingest" in only:
        if args.full:
            results["ingest"] = run("ingest.py")
        else:
            main_runs = run("ingest.py", "--quick", "--repeat", "5", "--clients",
                            "bare_websockets,bare_picows,cryptofeed,ticklake",
                            "--configs", "1x1,10x1")
            ccxt = run("ingest.py", "--quick", "--repeat", "1", "--clients", "ccxt",
                       "--configs", "1x1")
            for entry, extra in zip(main_runs.get("configs", []), ccxt.get("configs", []),
                                    strict=False):
                entry["results"]["ccxt"] = extra["results"]["ccxt"]
                for key, _value in extra.items():
                    if key.startswith("ticklake_vs_ccxt"):
                        entry[key] = None
                ours, peer = entry["results"].get("ticklake", {}), extra["results"]["ccxt"]
                if peer.get("trades_per_s") and ours.get("trades_per_s"):
                    entry["ticklake_vs_ccxt_trades_per_s"] = round(
                        ours["trades_per_s"] / peer["trades_per_s"], 2)
            results["ingest"] = main_runs
    if "latency" in only:
        results["latency"] = run("latency.py", "--seconds", "60" if args.full else "10")
    if "memory" in only:
        # Quick: a 31 s publish interval, so that one publish falls inside the 45 s.
        results["memory"] = run("memory.py", "--seconds", "600" if args.full else "45",
                                "--buffer-seconds", "300" if args.full else "31",
                                "--commands", "record,run" if args.full else "record")
    if "storage" in only:
        results["storage"] = run("storage.py", "--trades",
                                 "1000000" if args.full else "100000")
    if "query" in only:
        results["query"] = run("query.py", *(["--full"] if args.full else
                                             ["--rows", "2000000", "--days", "30"]))
    if "candles" in only:
        results["candles"] = run("candles.py", "--rate", "50",
                                 *(["--repeat", "7"] if args.full else ["--corners"]))
    if "live_edge" in only:
        results["live_edge"] = run("live_edge.py", "--queries", "200" if args.full else "60")
    if "books" in only:
        results["books"] = run("books.py", *([] if args.full else ["--quick"]))
    if "tickers" in only:
        results["tickers"] = run("tickers.py", *([] if args.full else ["--quick"]))
    if "api" in only:
        results["api"] = run("api_read.py", "--rate", "50" if args.full else "20")
    text = json.dumps(results, indent=1)
    if args.out is not None:
        args.out.write_text(text)
    print(text)
    print(table(results), file=sys.stderr)


if __name__ == "__main__":
    main()
