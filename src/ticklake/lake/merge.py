"""Merging files of one table into one, in spool order (compaction's core)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from ticklake.lake.storage import LakeStorage
from ticklake.schemas import SCHEMAS


def merge_files(storage: LakeStorage, table: str, paths: list[str]) -> pa.Table:
    """The rows of ``paths`` (one table) as one table in spool order, dictionaries rebuilt."""
    schema = SCHEMAS[table]
    plain = pa.schema([
        pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type) else f
        for f in schema
    ])
    pieces = [_conformed(storage.read(path), plain) for path in paths]
    merged = pa.concat_tables(pieces).sort_by([("spool_offset", "ascending")])
    columns = [
        pc.dictionary_encode(merged[f.name]).cast(f.type)
        if pa.types.is_dictionary(f.type) else merged[f.name]
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _conformed(table: pa.Table, plain: pa.Schema) -> pa.Table:
    """``table`` in the current schema: a column an older file lacks is null."""
    columns = [table[f.name].cast(f.type) if f.name in table.column_names
               else pa.nulls(table.num_rows, f.type) for f in plain]
    return pa.Table.from_arrays(columns, schema=plain)
