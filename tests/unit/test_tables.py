"""The shared table schemas match docs/lake-layout.md, column for column."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa

from ticklake.schemas import SCHEMAS

DOC = Path(__file__).parents[2] / "docs" / "lake-layout.md"


def documented_columns(table: str) -> list[tuple[str, str]]:
    text = DOC.read_text()
    section = text.split(f"`{table}` (", 1)[1].split("\n\n", 2)[1]
    rows = re.findall(r"^\| (\w+) \| ([^|]+?) \|", section, flags=re.MULTILINE)
    return [(name, kind) for name, kind in rows if name != "column"]


def type_text(kind: pa.DataType) -> str:
    if pa.types.is_dictionary(kind):
        return f"{kind.value_type} (dictionary)"
    return str(kind)


def test_the_tabled_columns_are_the_documented_ones() -> None:
    for table in ("trades", "raw", "anomalies", "book_updates", "book_snapshots", "tickers",
                  "ticks", "klines"):
        documented = documented_columns(table)
        actual = [(f.name, type_text(f.type)) for f in SCHEMAS[table]]
        assert actual == documented, table
