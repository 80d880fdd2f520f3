"""Shared pieces of the reliability tests: figures, the lake checked against the truth.

Every test measures a figure and hands it to :func:`figure`, which prints it and, when
``TICKLAKE_FIGURES_DIR`` is set, writes it as ``<name>.json`` there
(``bench/reliability_figures.py`` renders those files as the table in docs/reliability.md).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ticklake.catalog import Lake
from ticklake.live_edge import query_lake

from ..support import Key, read_truth, scaled

FIGURES_ENV = "TICKLAKE_FIGURES_DIR"


def figure(name: str, **values: Any) -> dict[str, Any]:
    """Print the figure a test measured; also write it under $TICKLAKE_FIGURES_DIR if set."""
    record = {"name": name, **values}
    print(f"FIGURE {name}: {json.dumps(values, sort_keys=True)}")
    directory = os.environ.get(FIGURES_ENV)
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]); 0.0 for no values."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.05) -> None:
    """Blocking poll with a scaled deadline (for tests that drive processes, not a loop)."""
    deadline = time.monotonic() + scaled(timeout)
    while not condition():
        if time.monotonic() > deadline:
            msg = f"timed out after {scaled(timeout):.1f}s waiting for {what}"
            raise AssertionError(msg)
        time.sleep(interval)


@dataclass(frozen=True)
class GapRow:
    symbol: str
    from_ns: int
    to_ns: int
    reason: str


def _norm(value: Any) -> Decimal:
    return Decimal(str(value)).normalize()


def _query(root: str, sql: str, spool: Path | None = None) -> list[tuple[Any, ...]]:
    """Rows of the lake, plus the spool's unpublished tail with ``spool``."""
    if spool is None:
        return Lake(root).query(sql, max_rows=50_000_000).rows()
    return query_lake(root, spool, sql, max_rows=50_000_000).rows()


def lake_trades(root: str, spool: Path | None = None) -> Counter[Key]:
    """Every trade of the lake as SQL sees it (the ``trades`` view), exact decimals; with
    ``spool``, the trades recorded but not yet published too."""
    rows = _query(root, "SELECT symbol, ts_ns, side, price, qty FROM trades", spool)
    return Counter((s, int(t), str(side), _norm(p), _norm(q)) for s, t, side, p, q in rows)


def lake_gaps(root: str, spool: Path | None = None) -> list[GapRow]:
    rows = _query(root, "SELECT symbol, from_ns, to_ns, reason FROM gaps", spool)
    return [GapRow(str(s), int(f), int(t), str(r)) for s, f, t, r in rows]


def lake_count(root: str, table: str) -> int:
    return int(Lake(root).query(f"SELECT count(*) FROM {table}").rows()[0][0])


def truth_trades(path: Path) -> Counter[Key]:
    """The trades of an emulator's truth (its books are in another file: see truth_books)."""
    return Counter((s, t, side, p.normalize(), q.normalize())
                   for s, t, side, p, q in read_truth(path))


Side = dict[Decimal, Decimal]  # price -> qty, exact


@dataclass(frozen=True)
class BookFault:
    """One fault record of the book truth: what a client was told that the truth was not."""

    kind: str
    symbol: str
    conn: int | None  # None: the exchange's own (every connection watching the symbol)
    ts_ns: int
    sequence: int
    extra: dict[str, Any]


class TruthBooks:
    """The emulator's true order books, read from its book truth (``<truth>.books.jsonl``).

    :meth:`book_at` replays the symbol's records with ``ts_ns <= T`` (the wire messages of a
    book step carry that step's ``ts_ns``). Queries in increasing time continue from the last
    one; an earlier instant replays from the start.
    """

    def __init__(self, records: Iterable[dict[str, Any]]) -> None:
        self._steps: dict[str, list[tuple[int, bool, Side, Side]]] = {}
        self.faults: list[BookFault] = []
        for r in records:
            if "book" in r:
                self._steps.setdefault(r["book"], []).append(
                    (r["ts_ns"], r["type"] == "snapshot", _side(r["bids"]), _side(r["asks"])))
            elif "fault" in r:
                extra = {k: v for k, v in r.items()
                         if k not in ("fault", "symbol", "conn", "ts_ns", "sequence")}
                self.faults.append(BookFault(r["fault"], r["symbol"], r["conn"], r["ts_ns"],
                                             r["sequence"], extra))
        self._cursor: dict[str, tuple[int, Side, Side]] = {}

    @property
    def symbols(self) -> list[str]:
        return list(self._steps)

    def start_ns(self, symbol: str) -> int | None:
        """The first instant the truth knows the symbol's book (None: never watched)."""
        steps = self._steps.get(symbol)
        return steps[0][0] if steps else None

    def book_at(self, symbol: str, ts_ns: int, depth: int | None = 0) -> tuple[Side, Side]:
        """(bids, asks) of the true book at ``ts_ns``: the best ``depth`` levels (0 or None:
        all). ValueError before the truth's first record of the symbol."""
        steps = self._steps.get(symbol, [])
        if not steps or ts_ns < steps[0][0]:
            msg = f"the truth does not know {symbol}'s book at {ts_ns}"
            raise ValueError(msg)
        i, bids, asks = self._cursor.get(symbol, (0, {}, {}))
        if i > 0 and steps[i - 1][0] > ts_ns:
            i, bids, asks = 0, {}, {}  # an earlier instant: replay from the start
        while i < len(steps) and steps[i][0] <= ts_ns:
            _, snapshot, new_bids, new_asks = steps[i]
            if snapshot:
                bids, asks = {}, {}
            _apply(bids, new_bids)
            _apply(asks, new_asks)
            i += 1
        self._cursor[symbol] = (i, bids, asks)
        return _best(bids, depth, True), _best(asks, depth, False)

    def fault_records(self, kind: str | None = None,
                      symbol: str | None = None) -> list[BookFault]:
        return [f for f in self.faults
                if (kind is None or f.kind == kind) and (symbol is None or f.symbol == symbol)]


def _side(rows: list[list[str]]) -> Side:
    return {Decimal(price): Decimal(qty) for price, qty in rows}


def _apply(levels: Side, changes: Side) -> None:
    for price, qty in changes.items():
        if qty:
            levels[price] = qty
        else:
            levels.pop(price, None)


def _best(levels: Side, depth: int | None, descending: bool) -> Side:
    ordered = sorted(levels.items(), reverse=descending)
    return dict(ordered[:depth] if depth else ordered)


def truth_books(path: Path) -> TruthBooks:
    """The book truth of an emulator run: ``path`` is its trade truth (``truth.jsonl``, whose
    books are in ``truth.books.jsonl`` beside it) or the books file itself. The trade file
    holds trades only, so ``truth_trades`` is unaffected by books."""
    path = Path(path)
    if not path.name.endswith(".books.jsonl"):
        stem = path.stem if path.suffix == ".jsonl" else path.name
        path = path.with_name(f"{stem}.books.jsonl")
    with path.open(encoding="utf-8") as lines:
        return TruthBooks(json.loads(line) for line in lines if line.strip())


@dataclass
class LakeVsTruth:
    """The lake's trades against the emulator's ground truth, trade for trade."""

    truth: int
    recorded: int
    duplicated: int
    invented: int
    lost_in_reported_gaps: int
    lost_silently: int
    gaps: int

    def summary(self) -> dict[str, int]:
        return dict(self.__dict__)


def compare_lake(root: str, truth_path: Path, start_ns: dict[str, int] | None = None,
                 spool: Path | None = None) -> LakeVsTruth:
    """Compare; trades before ``start_ns[symbol]`` (before recording began) are not owed.

    ``duplicated`` counts rows recorded more often than the exchange made them, ``invented``
    rows it never made; a missing trade is "in a reported gap" only when a ``gaps`` row of
    its symbol covers its timestamp. With ``spool``: what SQL sees at the live edge (the
    lake plus the spool's unpublished tail), for a recording still running.
    """
    truth_all = truth_trades(truth_path)
    start = start_ns or {}
    truth = Counter({k: n for k, n in truth_all.items() if k[1] >= start.get(k[0], 0)})
    recorded = lake_trades(root, spool)
    gaps = lake_gaps(root, spool)
    extra = recorded - truth_all
    duplicated = sum(n for k, n in extra.items() if k in truth_all)
    invented = sum(n for k, n in extra.items() if k not in truth_all)
    missing = truth - recorded
    in_gaps = silent = 0
    for key, n in missing.items():
        if any(g.symbol == key[0] and g.from_ns <= key[1] <= g.to_ns for g in gaps):
            in_gaps += n
        else:
            silent += n
    return LakeVsTruth(sum(truth.values()), sum(recorded.values()), duplicated, invented,
                       in_gaps, silent, len(gaps))


def wait_recorded(root: str, spool: Path, truth_path: Path, timeout: float = 60) -> None:
    """Wait until a running recorder holds every trade the exchange made (in its lake or
    its spool) or a reported gap covers it: after a halt, before stopping the recorder."""
    def recorded() -> bool:
        return compare_lake(root, truth_path, spool=spool).lost_silently == 0

    wait_for(recorded, timeout, "every trade made before the halt to be recorded",
             interval=0.25)


def rss_bytes(pid: int) -> int:
    """Resident set size of a process and all its descendants (from /proc), in bytes."""
    total = 0
    for each in [pid, *_descendants(pid)]:
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out
