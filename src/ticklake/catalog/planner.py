"""Scan planning: which files a statement can need, from its own filters, before DuckDB binds.

What a metastore does for Trino or Athena: the engine hands it the partition predicates and
gets back only the partitions (here, files) that can hold matching rows. DuckDB has no hook
for that, so the statement's parsed tree (``json_serialize_sql``: the parser only, ~1 ms) is
read for every reference to a lake table:

- ``FROM t WHERE c1 AND c2 ...`` where ``t`` is the SELECT's only source: each conjunct that
  compares a partition column (``exchange``, ``symbol``, ``date``) or a time column (``ts``,
  ``ts_ns``, ``recv_ts``, ...) with a constant becomes a test on the file's partition values
  or min/max (``ticklake.manifest``); other conjuncts are ignored (they only filter more);
- the macros (``candles('X', step, since := ..., until := ...)``) by their arguments;
- anything else (a join, a PIVOT, DESCRIBE, a table function this module does not know)
  reads every file of the tables it names.

A table's files are those any of its references can need (OR). Pruning may only ever keep
too many files, never too few: an unreadable tree falls back to every file of every table,
and views no plan set up raise an error rather than answer from nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import duckdb

from ticklake.catalog.schema import PARTITIONS, TABLES
from ticklake.manifest import RANGE_COLUMNS, TIMESTAMP_TWINS

# Every file of the table: no condition on it could be derived.
EVERYTHING = None

_MACROS = {"candles": "trades", "vwap": "trades", "imbalance": "trades",
           "trade_counts": "trades", "funding": "tickers", "basis": "tickers",
           "exchange_bars": "klines"}
_MACRO_SYMBOL_ARG = {"candles": 0, "vwap": 0, "imbalance": 0, "funding": 0, "basis": 0,
                     "exchange_bars": 0}
# Book macros: the positions of their window's first and last instant; they read a symbol's
# book rows from `lookback` before it (the snapshot to start from) and every book gap.
_BOOK_MACROS = {"book_levels": (1, 2), "book_at": (1, 1), "book_top": (2, 3),
                "book_depth": (3, 4)}
_BOOK_TABLES = ("book_snapshots", "book_updates")
_DEFAULT_LOOKBACK = "INTERVAL 2 MINUTE"
# Table functions that read no lake table (generators).
_HARMLESS = frozenset({"range", "generate_series", "unnest", "repeat", "glob"})
_FLIP = {"COMPARE_EQUAL": "=", "COMPARE_GREATERTHAN": "<", "COMPARE_GREATERTHANOREQUALTO": "<=",
         "COMPARE_LESSTHAN": ">", "COMPARE_LESSTHANOREQUALTO": ">="}
_OPS = {"COMPARE_EQUAL": "=", "COMPARE_GREATERTHAN": ">", "COMPARE_GREATERTHANOREQUALTO": ">=",
        "COMPARE_LESSTHAN": "<", "COMPARE_LESSTHANOREQUALTO": "<="}
# The statement's start time, a constant within it.
_NOW = frozenset({"now", "get_current_timestamp", "transaction_timestamp"})
# Deterministic functions a constant may use: + and -, and what INTERVAL n UNIT parses into.
_ARITHMETIC = frozenset({"+", "-", "trunc", "to_years", "to_months", "to_weeks", "to_days",
                         "to_hours", "to_minutes", "to_seconds", "to_milliseconds",
                         "to_microseconds"})


@dataclass(frozen=True)
class ScanPlan:
    """Per lake table the statement reads: a SQL condition on its file list (``files_sql``
    columns), or :data:`EVERYTHING`. Tables it does not read are absent."""

    tables: dict[str, str | None]


def plan_scans(conn: duckdb.DuckDBPyConnection, sql: str) -> ScanPlan:
    try:
        rows = conn.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()
        tree = json.loads(rows[0][0]) if rows else {"error": True}
    except (duckdb.Error, ValueError):
        tree = {"error": True}
    if tree.get("error"):
        return ScanPlan(dict.fromkeys(TABLES, EVERYTHING))
    planner = _Planner(conn)
    try:
        planner.walk(tree["statements"])
    except _Unplannable:
        return ScanPlan(dict.fromkeys(TABLES, EVERYTHING))
    return ScanPlan(planner.result())


def file_columns(table: str) -> list[tuple[str, str]]:
    """(name, DuckDB type) of a table's file list, the columns plan conditions test."""
    columns = [("path", "VARCHAR")]
    columns += [(key, "DATE" if key == "date" else "VARCHAR") for key in PARTITIONS[table]]
    for ns in RANGE_COLUMNS[table]:
        columns += [(f"{ns}_lo", "BIGINT"), (f"{ns}_hi", "BIGINT")]
        twin = TIMESTAMP_TWINS.get(ns)
        if twin:
            columns += [(f"{twin}_lo", "TIMESTAMPTZ"), (f"{twin}_hi", "TIMESTAMPTZ")]
    return columns


class _Unplannable(Exception):
    pass


class _Planner:
    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn = conn
        self.refs: dict[str, list[str | None]] = {}

    def result(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for table, conditions in self.refs.items():
            if any(c is EVERYTHING for c in conditions):
                out[table] = EVERYTHING
            else:
                kept = sorted({c for c in conditions if c is not None})
                out[table] = " OR ".join(f"({c})" for c in kept)
        return out

    def walk(self, node: Any, parent_select: dict[str, Any] | None = None,
             key: str = "") -> None:
        if isinstance(node, list):
            for item in node:
                self.walk(item)
            return
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if kind == "BASE_TABLE":
            self._base_table(node, parent_select if key == "from_table" else None)
        elif kind == "TABLE_FUNCTION":
            self._table_function(node)
        elif kind == "SHOW_REF" and node.get("table_name"):
            self._add(str(node["table_name"]).lower(), EVERYTHING)
        is_select = kind == "SELECT_NODE"
        for child_key, value in node.items():
            if isinstance(value, (dict, list)):
                self.walk(value, node if is_select else None, child_key if is_select else "")

    def _add(self, table: str, condition: str | None) -> None:
        if table in TABLES:
            self.refs.setdefault(table, []).append(condition)

    def _base_table(self, ref: dict[str, Any], select: dict[str, Any] | None) -> None:
        table = str(ref.get("table_name", "")).lower()
        if table not in TABLES:
            return
        if select is None or ref.get("sample") or select.get("sample"):
            self._add(table, EVERYTHING)
            return
        names = {table, str(ref.get("alias") or "").lower()} - {""}
        terms = [t for c in _conjuncts(select.get("where_clause"))
                 if (t := self._term(table, names, c)) is not None]
        self._add(table, " AND ".join(terms) if terms else EVERYTHING)

    def _table_function(self, ref: dict[str, Any]) -> None:
        function = ref.get("function") or {}
        name = str(function.get("function_name", "")).lower()
        if name in _HARMLESS:
            return
        if name in _BOOK_MACROS:
            self._book_macro(name, function)
            return
        table = _MACROS.get(name)
        if table is None:
            raise _Unplannable(name)
        args = function.get("arguments") or []
        positional = [a["expression"] for a in args if not a.get("name")]
        named = {a["name"].lower(): a["expression"] for a in args if a.get("name")}
        terms = []
        index = _MACRO_SYMBOL_ARG.get(name)
        if index is not None and index < len(positional):
            symbol = self._constant(positional[index])
            if symbol is not None:
                terms.append(f"symbol = ({symbol})")
        since, until = self._constant(named.get("since")), self._constant(named.get("until"))
        if since is not None:
            terms.append(_range_term("ts", ">=", f"CAST(({since}) AS TIMESTAMPTZ)"))
        if until is not None:
            terms.append(_range_term("ts", "<", f"CAST(({until}) AS TIMESTAMPTZ)"))
        self._add(table, " AND ".join(terms) if terms else EVERYTHING)

    def _book_macro(self, name: str, function: dict[str, Any]) -> None:
        args = function.get("arguments") or []
        positional = [a["expression"] for a in args if not a.get("name")]
        named = {a["name"].lower(): a["expression"] for a in args if a.get("name")}
        first, last = _BOOK_MACROS[name]
        terms = []
        symbol = self._constant(positional[0]) if positional else None
        if symbol is not None:
            terms.append(f"symbol = ({symbol})")
        lookback = (self._constant(named["lookback"]) if "lookback" in named
                    else _DEFAULT_LOOKBACK)
        since = self._constant(positional[first], now=True) if first < len(positional) else None
        until = self._constant(positional[last]) if last < len(positional) else None
        if since is not None and lookback is not None:
            terms.append(_range_term(
                "ts", ">=", f"CAST(({since}) AS TIMESTAMPTZ) - CAST(({lookback}) AS INTERVAL)"))
        if until is not None:
            terms.append(_range_term("ts", "<=", f"CAST(({until}) AS TIMESTAMPTZ)"))
        for table in _BOOK_TABLES:
            self._add(table, " AND ".join(terms) if terms else EVERYTHING)
        self._add("gaps", EVERYTHING)

    def _term(self, table: str, names: set[str], expr: dict[str, Any]) -> str | None:
        """A condition on the file list that every row satisfying ``expr`` satisfies."""
        kind = expr.get("type")
        if kind in _OPS:
            column = _column(expr.get("left"), names)
            constant = self._constant(expr.get("right"))
            op = _OPS[kind]
            if column is None:
                column = _column(expr.get("right"), names)
                constant = self._constant(expr.get("left"))
                op = _FLIP[kind]
            return self._compare(table, column, op, constant)
        if kind == "COMPARE_BETWEEN":
            column = _column(expr.get("input"), names)
            low, high = self._constant(expr.get("lower")), self._constant(expr.get("upper"))
            terms = [self._compare(table, column, ">=", low),
                     self._compare(table, column, "<=", high)]
            kept = [t for t in terms if t is not None]
            return " AND ".join(kept) if kept else None
        if kind == "COMPARE_IN":
            children = expr.get("children") or []
            if not children:
                return None
            column = _column(children[0], names)
            values = [self._constant(c) for c in children[1:]]
            if column is None or not values or any(v is None for v in values):
                return None
            terms = [self._compare(table, column, "=", v) for v in values]
            if any(t is None for t in terms):
                return None
            return "(" + " OR ".join(f"({t})" for t in terms) + ")"
        return None

    def _compare(self, table: str, column: str | None, op: str,
                 constant: str | None) -> str | None:
        if column is None or constant is None:
            return None
        if column in PARTITIONS[table]:
            return f"{column} {op} ({constant})"
        ranged = {c for ns in RANGE_COLUMNS[table] for c in (ns, TIMESTAMP_TWINS.get(ns))}
        if column in ranged:
            return _range_term(column, op, f"({constant})")
        return None

    def _constant(self, expr: dict[str, Any] | None, now: bool = False) -> str | None:
        """SQL text of ``expr`` if it is a constant (literals, casts, intervals, + and -);
        with ``now``, ``now()`` too. The plan's ``now()`` is earlier than the statement's, so
        it may only bound a range from below (a lower bound that keeps more files)."""
        if not _is_constant(expr, now):
            return None
        return _to_sql(self.conn, expr)  # type: ignore[arg-type]


def _range_term(column: str, op: str, constant: str) -> str:
    """A file can hold a row with ``column op constant`` given the column's [lo, hi]; files
    without a range (no statistics) always can."""
    lo, hi = f"{column}_lo", f"{column}_hi"
    test = {"=": f"{lo} <= {constant} AND {hi} >= {constant}", ">": f"{hi} > {constant}",
            ">=": f"{hi} >= {constant}", "<": f"{lo} < {constant}",
            "<=": f"{lo} <= {constant}"}[op]
    return f"({lo} IS NULL OR ({test}))"


def _conjuncts(expr: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
    if not isinstance(expr, dict):
        return
    if expr.get("type") == "CONJUNCTION_AND":
        for child in expr.get("children") or []:
            yield from _conjuncts(child)
    else:
        yield expr


def _column(expr: dict[str, Any] | None, names: set[str]) -> str | None:
    if not isinstance(expr, dict) or expr.get("class") != "COLUMN_REF":
        return None
    parts = [str(p).lower() for p in expr.get("column_names") or []]
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2 and parts[0] in names:
        return parts[1]
    return None


def _is_constant(expr: Any, now: bool = False) -> bool:
    if not isinstance(expr, dict):
        return False
    cls = expr.get("class")
    if cls == "CONSTANT":
        return True
    if cls == "CAST":
        return _is_constant(expr.get("child"), now)
    name = expr.get("function_name")
    args = expr.get("children") or [a.get("expression") for a in expr.get("arguments") or []]
    if cls == "FUNCTION" and name in _ARITHMETIC:
        return bool(args) and all(_is_constant(a, now) for a in args)
    return now and cls == "FUNCTION" and name in _NOW and not args


_TEMPLATE: dict[str, Any] | None = None


def _to_sql(conn: duckdb.DuckDBPyConnection, expr: dict[str, Any]) -> str | None:
    global _TEMPLATE  # noqa: PLW0603 - the serialized shape of "SELECT 1", built once
    if _TEMPLATE is None:
        rows = conn.execute("SELECT json_serialize_sql('SELECT 1')").fetchall()
        _TEMPLATE = json.loads(rows[0][0]) if rows else None
    if _TEMPLATE is None:
        return None
    tree = json.loads(json.dumps(_TEMPLATE))
    tree["statements"][0]["node"]["select_list"] = [{**expr, "alias": ""}]
    try:
        rows = conn.execute("SELECT json_deserialize_sql(?)", [json.dumps(tree)]).fetchall()
    except duckdb.Error:
        return None
    text = str(rows[0][0]) if rows else ""
    return text[len("SELECT "):] if text.startswith("SELECT ") else None
