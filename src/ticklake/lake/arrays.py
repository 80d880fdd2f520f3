"""Arrow arrays built straight from numpy buffers (the lake writer's columns).

Faster than ``pa.array``, and ``pa.array`` would import pandas (~50 MB of RSS in the writer
process) only to check whether its input is a pandas object.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from ticklake.schemas import DECIMAL, UTC_US

_NS_PER_US = 1000
DAY_NS = 86_400 * 10**9
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def utc_date(ns: int) -> str:
    """The UTC date (``YYYY-MM-DD``, a ``date`` partition) of an epoch-ns instant."""
    return (_EPOCH + dt.timedelta(days=ns // DAY_NS)).strftime("%Y-%m-%d")


def by_day(ns: np.ndarray) -> list[tuple[str, np.ndarray | None]]:
    """(UTC date, row indexes or None for "all rows") for every day the instants touch."""
    if not len(ns):
        return []
    days = ns // DAY_NS
    first = int(days[0])
    if (days == first).all():
        return [(utc_date(first * DAY_NS), None)]
    return [(utc_date(int(day) * DAY_NS), np.flatnonzero(days == day)) for day in np.unique(days)]


def places(counts: np.ndarray) -> np.ndarray:
    """Each row's place (0, 1, ...) in its group, for consecutive groups of ``counts`` rows."""
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    place: np.ndarray = np.arange(int(counts.sum()), dtype=np.int64) - starts
    return place


def decimal_array(unscaled: np.ndarray | list[int]) -> pa.Array:
    """Exact decimal128(18, 8) from integers already scaled by 10**8, without Decimal objects."""
    values = np.asarray(unscaled, dtype=np.int64)
    words = np.empty((len(values), 2), dtype=np.int64)
    words[:, 0] = values
    words[:, 1] = values >> 63  # sign extension into the high 64 bits (two's complement)
    return pa.Array.from_buffers(DECIMAL, len(values), [None, pa.py_buffer(words.tobytes())])


def fixed(kind: pa.DataType, values: np.ndarray) -> pa.Array:
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def int64(values: np.ndarray) -> pa.Array:
    return fixed(pa.int64(), np.ascontiguousarray(values, dtype=np.int64))


def timestamps(ns: np.ndarray) -> pa.Array:
    return fixed(UTC_US, np.ascontiguousarray(ns, dtype=np.int64) // _NS_PER_US)


def bools(values: np.ndarray) -> pa.Array:
    bits = np.packbits(np.asarray(values, dtype=bool), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])


def binary(items: list[bytes]) -> pa.Array:
    lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
    offsets = np.zeros(len(items) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    large = offsets[-1] >= 2**31
    kind = pa.large_binary() if large else pa.binary()
    buffers = [None, pa.py_buffer(offsets if large else offsets.astype(np.int32)),
               pa.py_buffer(b"".join(items))]
    return pa.Array.from_buffers(kind, len(items), buffers)


def utf8(items: list[bytes]) -> pa.Array:
    """Text of each payload; invalid UTF-8 replaced (the exact bytes stay in the spool)."""
    data = binary(items)
    target = pa.large_string() if data.type == pa.large_binary() else pa.string()
    try:
        text = data.cast(target)  # validates UTF-8
    except pa.ArrowInvalid:
        text = binary([p.decode("utf-8", "replace").encode() for p in items]).cast(target)
    return text if target == pa.string() else text.cast(pa.string())


def strings(words: tuple[str, ...]) -> pa.Array:
    """A small string array (a dictionary's values)."""
    data = [word.encode() for word in words]
    offsets = np.zeros(len(data) + 1, dtype=np.int32)
    np.cumsum([len(d) for d in data], out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(data),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))])


def coded(codes: np.ndarray, dictionary: pa.Array) -> pa.DictionaryArray:
    """int8 codes into ``dictionary``; a negative code is a null."""
    codes = np.ascontiguousarray(codes, dtype=np.int8)
    nulls = codes < 0
    validity = None
    if nulls.any():
        validity = pa.py_buffer(np.packbits(~nulls, bitorder="little"))
        codes = np.where(nulls, 0, codes).astype(np.int8)
    indices = pa.Array.from_buffers(pa.int8(), len(codes), [validity, pa.py_buffer(codes)])
    return pa.DictionaryArray.from_arrays(indices, dictionary)


def nullable_decimals(values: list[int | None], kind: pa.Decimal128Type) -> pa.Array:
    """Exact decimal128 of ``kind`` from Python integers scaled by 10**scale (None: null);
    the caller has checked that each fits ``kind``'s precision. For the low-rate tables
    (tickers): per-value Python arithmetic, no Decimal objects, no ``pa.array``."""
    n = len(values)
    words = np.empty((n, 2), dtype=np.uint64)
    for i, value in enumerate(values):
        v = 0 if value is None else value & (2**128 - 1)  # two's complement over 128 bits
        words[i, 0], words[i, 1] = v & (2**64 - 1), v >> 64
    nulls = np.fromiter((v is None for v in values), bool, n)
    validity = pa.py_buffer(np.packbits(~nulls, bitorder="little")) if nulls.any() else None
    return pa.Array.from_buffers(kind, n, [validity, pa.py_buffer(words.tobytes())])


def nullable_strings(values: list[str | None]) -> pa.Array:
    data = [b"" if v is None else v.encode() for v in values]
    offsets = np.zeros(len(data) + 1, dtype=np.int32)
    np.cumsum([len(d) for d in data], out=offsets[1:])
    nulls = np.fromiter((v is None for v in values), bool, len(values))
    validity = pa.py_buffer(np.packbits(~nulls, bitorder="little")) if nulls.any() else None
    return pa.Array.from_buffers(pa.string(), len(data),
                                 [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))])
