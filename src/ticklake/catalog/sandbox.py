"""The statement-level half of the SQL sandbox, and one-line error messages.

The other half is DuckDB's own configuration (see ``connection.py``): external access off, only
the lake's table directories allowed, configuration locked. Those settings stop every read of a
file outside the lake, but a file *inside* an allowed directory could still be written (``COPY ...
TO``), and an in-memory catalog could still be changed. So before a query runs, DuckDB's parser
classifies it (``duckdb.extract_statements``):

- exactly one statement; its type must be SELECT (which covers WITH, FROM-first, VALUES, TABLE,
  DESCRIBE, SHOW, SUMMARIZE and PIVOT/UNPIVOT with an IN list) or EXPLAIN [ANALYZE] of such a
  statement;
- the parsed tree (``json_serialize_sql``) may not call functions that run SQL from a string or
  change database state (``query``, ``checkpoint``, ``enable_profiling``, ...).

Anything else is refused with a :class:`QueryError` that names the statement or function.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import duckdb

from ticklake.errors import QueryError

ALLOWED_KINDS = "SELECT, WITH, FROM, VALUES, DESCRIBE, SHOW, SUMMARIZE, PIVOT, EXPLAIN"

# Statement types as users write them, for the refusal message.
_KIND_NAMES = {
    "LOAD": "INSTALL/LOAD",
    "SET": "SET/RESET/USE/PRAGMA x = y",
    "PRAGMA": "PRAGMA",
    "VARIABLE_SET": "SET VARIABLE",
    "EXPORT": "EXPORT DATABASE",
    "TRANSACTION": "BEGIN/COMMIT/ROLLBACK",
    "VACUUM": "VACUUM/ANALYZE",
    "MERGE_INTO": "MERGE INTO",
    "COPY_DATABASE": "COPY FROM DATABASE",
}

# Table functions a read-only query has no business calling: they execute SQL given as text
# (which would bypass this check) or change the database's state or settings.
DENIED_FUNCTIONS = frozenset(
    {
        "query",
        "json_execute_serialized_sql",
        "checkpoint",
        "force_checkpoint",
        "truncate_duckdb_logs",
        "enable_logging",
        "disable_logging",
        "enable_profiling",
        "disable_profiling",
        "add_grammar_extension",
        "remove_grammar_extension",
        "create_external_resource",
        "destroy_external_resource",
        "register_external_resource",
        "deregister_external_resource",
        "register_external_resource_type",
    }
)

_SKIP = r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"
_EXPLAIN = re.compile(
    rf"^{_SKIP}explain\b{_SKIP}(?:analy[sz]e\b{_SKIP})?", re.IGNORECASE | re.DOTALL
)
_OPTIONS = re.compile(rf"^\([^()]*\){_SKIP}", re.DOTALL)
_CARET_LINE = re.compile(r"^\s*\^+\s*$")
_POSITION_LINE = re.compile(r"^LINE \d+:")
_MAX_MESSAGE = 400


def one_line(exc: BaseException) -> str:
    """DuckDB's message without its ``LINE 1: ... ^`` block, on one line."""
    kept = []
    for line in str(exc).splitlines():
        text = line.strip()
        if not text or _POSITION_LINE.match(text) or _CARET_LINE.match(text):
            continue
        kept.append(text)
    message = " ".join(kept) or type(exc).__name__
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return message


def check_sql(conn: duckdb.DuckDBPyConnection, sql: str) -> str:
    """The single statement of ``sql`` if it is read-only; raises :class:`QueryError` if not."""
    statements = _parse(sql)
    if not statements:
        msg = "empty query: nothing to run"
        raise QueryError(msg)
    if len(statements) > 1:
        msg = f"one statement at a time, got {len(statements)}"
        raise QueryError(msg)
    statement = statements[0]
    kind = statement.type.name
    if kind == "EXPLAIN":
        _check_select(conn, _explained(statement.query))
    elif kind == "SELECT":
        _check_select(conn, statement.query)
    elif kind == "MULTI":
        msg = (
            "refused: this statement runs several statements (a PIVOT without an IN list?); "
            "write PIVOT ... ON col IN (...) USING ... instead"
        )
        raise QueryError(msg)
    else:
        name = _KIND_NAMES.get(kind, kind.replace("_", " "))
        msg = (
            f"refused: {name} statements are not allowed; "
            f"only read-only queries run here ({ALLOWED_KINDS})"
        )
        raise QueryError(msg)
    return str(statement.query)


def _parse(sql: str) -> list[duckdb.Statement]:
    try:
        return list(duckdb.extract_statements(sql))
    except duckdb.Error as exc:
        raise QueryError(one_line(exc)) from None


def _explained(query: str) -> str:
    """The statement under ``EXPLAIN [ANALYZE] [(options)]``, if it is a single SELECT."""
    match = _EXPLAIN.match(query)
    if match:
        rest = query[match.end() :]
        candidates = [rest]
        options = _OPTIONS.match(rest)
        if options:
            candidates.append(rest[options.end() :])
        for candidate in candidates:
            try:
                inner = list(duckdb.extract_statements(candidate))
            except duckdb.Error:
                continue
            if len(inner) == 1 and inner[0].type.name == "SELECT":
                return str(inner[0].query)
    msg = f"refused: EXPLAIN is allowed only of a read-only query ({ALLOWED_KINDS})"
    raise QueryError(msg)


def _check_select(conn: duckdb.DuckDBPyConnection, query: str) -> None:
    try:
        rows = conn.execute("SELECT json_serialize_sql(?)", [query]).fetchall()
    except duckdb.Error as exc:
        raise QueryError(one_line(exc)) from None
    tree = json.loads(rows[0][0])
    if tree.get("error"):
        msg = f"cannot check this query: {tree.get('error_message', 'unknown error')}"
        raise QueryError(msg)
    for name in _function_names(tree):
        if name in DENIED_FUNCTIONS:
            msg = f"refused: {name}() is not allowed here (it runs SQL text or changes state)"
            raise QueryError(msg)


def _function_names(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        name = node.get("function_name")
        if isinstance(name, str):
            yield name.lower()
        for value in node.values():
            yield from _function_names(value)
    elif isinstance(node, list):
        for item in node:
            yield from _function_names(item)
