"""Run the reliability tests and render their figures as the table in docs/reliability.md.

    .venv/bin/python bench/reliability_figures.py --run ci      # tests/reliability, not long
    .venv/bin/python bench/reliability_figures.py --run long    # the long variants only
    .venv/bin/python bench/reliability_figures.py --render DIR  # table from DIR/*.json

Each test writes one JSON figure into ``$TICKLAKE_FIGURES_DIR`` (tests/reliability/common.py);
``--run`` points that at ``bench/results/reliability-<mode>/`` and then renders. ``--update``
replaces the table between the markers in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"
MARKERS = {"ci": "not long", "long": "long", "all": "long or not long"}


def _storm(f: dict[str, Any]) -> str:
    return (f"{f['faults']} faults ({len(f['kinds'])} kinds), {f['symbols']} symbols, "
            f"{f['truth']:,} trades: lost silently {f['lost_silently']}, duplicated "
            f"{f['duplicated']}, {f['gaps']} gaps covering {f['lost_in_reported_gaps']} "
            f"unrecoverable; reconnect p50 {f['reconnect_ms_p50']:.0f} ms / p99 "
            f"{f['reconnect_ms_p99']:.0f} ms (budget {f['connect_budget']}); "
            f"{f['rejected_in_lake']} garbage frames in `rejected`")


def _stall(f: dict[str, Any]) -> str:
    return (f"silence timeout {f['silence_timeout_s']} s (pong {f['pong_timeout_s']} s): "
            f"detected ≤ {f['detected_s_max']} s, streaming again ≤ "
            f"{f['reconnected_s_max']} s ({f['stalls']} stalls)")


def _crash(f: dict[str, Any]) -> str:
    caught = f["caught"]
    moments = ", ".join(f"{k} {v}" for k, v in sorted(caught.items()) if not k.startswith("st"))
    pending = caught.get("state: publish pending (intent > cursor)", 0)
    return (f"{f['kills']} kill -9 ({moments}; {pending} left a publish pending): "
            f"{f['acknowledged_frames']:,} acknowledged frames, "
            f"{f['lake_raw_rows']:,} in `raw` exactly once, duplicated {f['duplicated']}, "
            f"lost silently {f['lost_silently']}, unreadable files {f['unreadable_files']}, "
            f"{f['compact_files']} compact files")


def _store(f: dict[str, Any]) -> str:
    return (f"store down {f['store_fault_s']} s, backlog {f['backlog_frames']:,} frames: RSS "
            f"{f['rss_mib_before']} → max {f['rss_mib_max_during']} MiB (growth "
            f"{f['rss_mib_growth_last_vs_first_third']} MiB), exchange connections "
            f"{f['exchange_connections']}, heartbeat drops {f['heartbeat_drops']}, drained in "
            f"{f['drain_s']} s; lost {f['lost_silently'] + f['lost_in_reported_gaps']}, "
            f"duplicated {f['duplicated']} of {f['truth']:,}")


def _disk(f: dict[str, Any]) -> str:
    if "exit_code" in f:
        return (f"spool on {f['tmpfs']} tmpfs: stopped after {f['stopped_after_s']} s, exit "
                f"{f['exit_code']}, `{f['error']}`; tracebacks printed: "
                f"{f['tracebacks_printed']}; restart resumed, {f['frames']:,} frames once, "
                f"lost silently {f['lost_silently']}, duplicated {f['duplicated']}")
    return (f"lake on {f['tmpfs']} tmpfs: recording went on, publishing resumed "
            f"{f['resumed_after_s']} s after space returned; lost "
            f"{f['lost_silently'] + f['lost_in_reported_gaps']}, duplicated {f['duplicated']}")


def _fuzz(f: dict[str, Any]) -> str:
    if "verdicts" in f:
        verdicts = ", ".join(f"{k} {v:,}" for k, v in sorted(f["verdicts"].items()))
        return (f"{f['inputs']:,} frames ({verdicts}): "
                f"crashes {f['crashes']}, {f['lake_rejected']:,} rows in `rejected`, "
                f"{f['trades_live_equal_lake']:,} trades live = lake")
    return (f"{f['inputs']:,} damaged spools "
            f"({', '.join(f'{k} {v:,}' for k, v in sorted(f['outcomes'].items()))}): crashes "
            f"{f['crashes']}")


def _bad(f: dict[str, Any]) -> str:
    failing = "; failing: " + ", ".join(f"`{c}`" for c in f["failing"]) if f["failing"] else ""
    return (f"{f['one_line_exit_2']}/{f['cases']} cases one line + exit 2 over "
            f"{', '.join(f['commands'])}{failing}")


def _security(f: dict[str, Any]) -> str:
    name = f["name"]
    if name == "security_secrets":
        leaks = ", ".join("/".join(x) for x in f["leaks"]) or "none"
        return (f"{len(f['scenarios'])} scenarios at DEBUG, {len(f['secrets'])} secrets "
                f"grepped: leaks {leaks}")
    if name == "security_dashboard_token":
        return (f"bound 0.0.0.0, reached on the non-loopback address: {f['refused']} requests "
                f"without/with a wrong token → 401; with it → {f['with_token']}")
    return f"{f['refused']} escapes refused (one line, nothing written)"


ITEMS: list[tuple[str, str, Callable[[dict[str, Any]], str]]] = [
    ("fault_storm", "1 fault storm → lake", _storm),
    ("silent_stall", "2 silent stall", _stall),
    ("crash_kill9", "3 kill -9", _crash),
    ("slow_sink", "4 slow object store", _store),
    ("disk_full", "5 disk full", _disk),
    ("store_outage", "6 object-store outage", _store),
    ("fuzz", "7 fuzzing", _fuzz),
    ("bad_input", "8 bad input", _bad),
    ("security", "9 security", _security),
]


def render(directory: Path) -> str:
    figures = [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]
    lines = ["| item | figure | measured |", "|---|---|---|"]
    for prefix, item, fmt in ITEMS:
        for f in sorted((f for f in figures if f["name"].startswith(prefix)),
                        key=lambda f: f["name"]):
            try:
                text = fmt(f)
            except (KeyError, TypeError) as exc:
                text = f"(cannot render: {exc})"
            lines.append(f"| {item} | `{f['name']}` | {text} |")
    return "\n".join(lines) + "\n"


def update_doc(table: str, command: str) -> None:
    text = DOC.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n\n{command}\n\n{table}\n{END}{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--run", choices=sorted(MARKERS))
    group.add_argument("--render", type=Path)
    parser.add_argument("--update", action="store_true", help="rewrite docs/reliability.md")
    args = parser.parse_args()
    if args.run:
        directory = ROOT / "bench" / "results" / f"reliability-{args.run}"
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("*.json"):
            old.unlink()
        started = time.monotonic()
        code = subprocess.call(
            [sys.executable, "-m", "pytest", "tests/reliability", "-m", MARKERS[args.run],
             "-q", "-p", "no:cacheprovider"],
            cwd=ROOT, env={**os.environ, "TICKLAKE_FIGURES_DIR": str(directory)})
        print(f"pytest exit {code} in {time.monotonic() - started:.0f} s")
    else:
        directory = args.render
    table = render(directory)
    print(table)
    if args.update:
        update_doc(table, f"`.venv/bin/python bench/reliability_figures.py "
                          f"--run {args.run or 'ci'} --update`")


if __name__ == "__main__":
    main()
