"""``LakeReader.read``'s path: the manifest plans the files, Arrow reads them, rows sorted
into the exchange's order only if they are not already.

No SQL on this path: a day's read through DuckDB's views cost ~1.5x a plain pyarrow read of
the same files (planning, a wider ``qty``, string columns), Arrow's dataset scan with the
files' own types costs about the same as that plain read (bench/api_read.py).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable, Sequence
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from ticklake.catalog.schema import TIME_COLUMNS
from ticklake.manifest import FileEntry
from ticklake.schemas import SCHEMAS
from ticklake.tables import PARTITIONS

_DAY_NS = 86_400 * 10**9


def read_schema(table: str) -> pa.Schema:
    """The columns a read returns: the files' (exact decimals, ``side`` a dictionary), then
    the partitions' as dictionaries (pandas categoricals: no string or date object per row)."""
    return pa.schema([*SCHEMAS[table], *(
        (key, pa.dictionary(pa.int32(), pa.date32() if key == "date" else pa.string()))
        for key in PARTITIONS[table])])


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` (a SQL result: plain strings and dates, a wider ``qty``) in a read's
    ``schema``: dictionaries encoded, decimals narrowed (exactly: a value that does not fit
    raises)."""
    columns = [pc.dictionary_encode(column).cast(field.type)
               if pa.types.is_dictionary(field.type) else column.cast(field.type)
               for column, field in zip(batch.columns, schema, strict=True)]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def order_columns(table: str) -> list[str]:
    """What orders ``table``'s rows as the exchange sent them: its time, then the spool
    offset, then the place in the message, where it has them."""
    return [TIME_COLUMNS[table]] + [c for c in ("spool_offset", "msg_index")
                                    if c in SCHEMAS[table].names]


def plan_files(entries: Iterable[FileEntry], table: str, symbols: Sequence[str] | None,
               since_ns: int | None, until_ns: int | None) -> list[str]:
    """The files that can hold rows of ``symbols`` in ``[since_ns, until_ns)``: by partition
    (symbol, UTC date), then by the time range the manifest keeps for each file."""
    keys, time = PARTITIONS[table], TIME_COLUMNS[table]
    wanted = None if symbols is None else set(symbols)
    first = None if since_ns is None else _day(since_ns)
    last = None if until_ns is None else _day(until_ns - 1)
    kept = []
    for entry in entries:
        partition = dict(zip(keys, entry.partition, strict=True))
        if wanted is not None and partition.get("symbol") not in wanted:
            continue
        day = partition.get("date")
        if day is not None and ((first is not None and day < first)
                                or (last is not None and day > last)):
            continue
        span = entry.ranges.get(time)
        if span is None and entry.rows == 0:
            continue  # (no rows: no range kept)
        if span is not None and ((since_ns is not None and span[1] < since_ns)
                                 or (until_ns is not None and span[0] >= until_ns)):
            continue
        kept.append(entry.path)
    return kept


def read_files(filesystem: pafs.FileSystem, base: str, table: str, paths: list[str],
               columns: list[str], where: ds.Expression | None) -> pa.Table:
    """``columns`` of the rows ``where`` keeps in ``paths`` (relative to ``base``); a
    column a file lacks (an older schema version) reads as null."""
    keys = PARTITIONS[table]
    values: dict[str, dict[str, None]] = {key: {} for key in keys}
    for path in paths:
        for part in path.split("/")[1:-1]:
            key, _, value = part.partition("=")
            values[key][value] = None
    schema = read_schema(table)
    partitions = pa.schema([schema.field(key) for key in keys])
    dictionaries = {key: pa.array([date.fromisoformat(v) for v in values[key]] if key == "date"
                                  else list(values[key]), partitions.field(key).type.value_type)
                    for key in keys}
    dataset = ds.dataset(
        [f"{base}/{path}" for path in paths], filesystem=filesystem, format="parquet",
        schema=schema, partition_base_dir=f"{base}/{table}",
        partitioning=ds.partitioning(partitions, flavor="hive", dictionaries=dictionaries))
    return dataset.to_table(columns=columns, filter=where)


def row_filter(table: str, symbols: Sequence[str] | None, since_ns: int | None,
               until_ns: int | None) -> ds.Expression | None:
    """The rows a read keeps of the planned files (their row groups pruned by it too)."""
    time = ds.field(TIME_COLUMNS[table])
    terms = []
    if symbols is not None:
        terms.append(ds.field("symbol").isin(list(symbols)))
    if since_ns is not None:
        terms.append(time >= since_ns)
    if until_ns is not None:
        terms.append(time < until_ns)
    return functools.reduce(operator.and_, terms) if terms else None


def in_order(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    """``table`` sorted by ``keys`` (a null as 0), untouched if it already is."""
    if table.num_rows < 2:
        return table
    values = {key: pc.fill_null(table[key], 0) for key in keys}
    step = np.diff(values[keys[0]].to_numpy())
    if (step >= 0).all():
        tied = np.flatnonzero(step == 0)  # rows equal so far: the next key decides
        for key in keys[1:]:
            if not len(tied):
                break
            column = values[key].to_numpy()
            before, after = column[tied], column[tied + 1]
            if (after < before).any():
                break
            tied = tied[after == before]
        else:
            return table
        if not len(tied):
            return table
    return table.take(pc.sort_indices(pa.table(values), [(key, "ascending") for key in keys]))


def _day(ns: int) -> str:
    return date.fromordinal(date(1970, 1, 1).toordinal() + ns // _DAY_NS).isoformat()
