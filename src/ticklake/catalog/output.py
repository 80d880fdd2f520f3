"""Rendering a query result as an aligned text table, CSV, JSON or Parquet.

``table`` is for reading (long cells are shortened); ``csv``, ``json`` and ``parquet`` keep every
value exactly: decimals keep all their digits (JSON writes them as numbers with their exact
text), integers beyond 2**53 stay exact, timestamps are ISO 8601 with their offset.
"""

from __future__ import annotations

import base64
import io
import json
import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ticklake.catalog.query import QueryResult
from ticklake.errors import QueryError

Format = Literal["table", "csv", "json", "parquet"]
FORMATS: tuple[Format, ...] = ("table", "csv", "json", "parquet")
_MAX_CELL = 60


def format_result(result: QueryResult, fmt: Format, output: Path | None = None) -> str | None:
    """The result as text, or None once written to ``output`` (required for parquet)."""
    if fmt == "parquet":
        if output is None:
            msg = "parquet output needs an output file (--output FILE)"
            raise QueryError(msg)
        _write(output, lambda sink: pq.write_table(result.table, sink, compression="zstd"))
        return None
    if fmt == "table":
        text = _table(result)
    elif fmt == "csv":
        text = _csv(result.table)
    elif fmt == "json":
        text = _json(result.table)
    else:
        msg = f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})"
        raise QueryError(msg)
    if output is None:
        return text
    _write(output, lambda sink: sink.write(text.encode()))
    return None


def _write(output: Path, writer: Any) -> None:
    try:
        with open(output, "wb") as sink:
            writer(sink)
    except OSError as exc:
        msg = f"cannot write {output}: {exc.strerror or exc}"
        raise QueryError(msg) from None


def _table(result: QueryResult) -> str:
    header = list(result.columns)
    rows = [[_cell(v) for v in row] for row in result.rows()]
    numeric = [
        pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
        for t in result.table.schema.types
    ]
    widths = [max([len(name)] + [len(row[i]) for row in rows]) for i, name in enumerate(header)]

    def line(cells: list[str]) -> str:
        return " | ".join(
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    out = [line(header), "-+-".join("-" * w for w in widths)]
    out += [line(row) for row in rows]
    count = f"{result.num_rows} row{'' if result.num_rows == 1 else 's'}"
    if result.truncated:
        count += " (truncated: more rows matched; raise max_rows or add LIMIT)"
    out.append(f"({count})")
    return "\n".join(out) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        text = "NULL"
    elif isinstance(value, Decimal):
        text = format(value, "f")
    elif isinstance(value, datetime):
        text = value.isoformat(sep=" ")
    elif isinstance(value, (date, time)):
        text = value.isoformat()
    elif isinstance(value, (list, dict)):
        text = _encode(value)
    else:
        text = str(value)
    text = text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", " ")
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def _csv(table: pa.Table) -> str:
    # Nested values become JSON text (CSV has no nesting) and decimals plain digits (pyarrow
    # would write 0.00000001 as 1E-8); everything else is pyarrow's own exact text.
    columns = []
    for column in table.columns:
        kind = column.type
        if pa.types.is_nested(kind) or pa.types.is_dictionary(kind) or pa.types.is_decimal(kind):
            values = [None if v is None else _encode(v) for v in column.to_pylist()]
            columns.append(pa.array(values, pa.string()))
        else:
            columns.append(column)
    flat = pa.table(columns, names=table.column_names)
    sink = io.BytesIO()
    pacsv.write_csv(flat, sink)
    return sink.getvalue().decode()


def _json(table: pa.Table) -> str:
    names = [json.dumps(name) for name in table.column_names]
    columns = [column.to_pylist() for column in table.columns]
    lines = [
        "{" + ",".join(f"{n}:{_encode(v)}" for n, v in zip(names, row, strict=True)) + "}"
        for row in zip(*columns, strict=True)
    ]
    return "[\n" + ",\n".join(lines) + "\n]\n" if lines else "[]\n"


def _encode(value: Any) -> str:
    """JSON text for one value, exact for decimals and big integers."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else "null"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "null"
    if isinstance(value, (datetime, date, time)):
        return json.dumps(value.isoformat())
    if isinstance(value, timedelta):
        return json.dumps(str(value))
    if isinstance(value, bytes):
        return json.dumps(base64.b64encode(value).decode())
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    return json.dumps(str(value))
