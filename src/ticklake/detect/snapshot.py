"""The whole detector state as bytes and back, exactly (``SwingDetector.snapshot/restore``).

A consumer that moves a partition to another process restores the detector there and
continues: the records that follow are those an uninterrupted run would have emitted.

Format (msgpack, versioned): the detector version, the params hash and, per symbol, every
slot of ``SymbolState`` and of its open ``Episode`` by name. Scalars stay Python ints and
floats (msgpack keeps the distinction and every float bit); the bar rings and volatility
snapshots, most of the bytes, are packed as int64 words XORed with their predecessor
(neighbouring closes share their high bytes) and zstd-compressed. Slots are read from
``__slots__``, so a slot added later is carried without touching this file, and a snapshot
whose slots do not match this code's is refused rather than half restored.
"""

from __future__ import annotations

from array import array
from itertools import chain
from typing import TYPE_CHECKING

import msgspec
import numpy as np
import pyarrow as pa

from ticklake.detect.episodes import Episode
from ticklake.detect.params import DETECTOR_VERSION
from ticklake.detect.state import Plan, SymbolState
from ticklake.errors import SnapshotMismatch

if TYPE_CHECKING:
    from ticklake.detect.detector import SwingDetector

__all__ = ["FORMAT", "SnapshotMismatch", "dump", "load"]

FORMAT = 1
_Scalar = int | float | str | bool
# Lists of a few floats, kept as they are.
_SHORT_LISTS = ("coarse_k", "fine_k", "hz_sig")
# Ring buffers (ring_n long each): packed.
_INT_RINGS = ("ring_cnt", "ring_ts")
_FLOAT_RINGS = ("ring_lp", "ring_qmax", "ring_sv", "ring_vol")
_NOT_STATE = ("plan", "episode", "vol_snap", *_SHORT_LISTS, *_INT_RINGS, *_FLOAT_RINGS)
_SCALARS = tuple(s for s in SymbolState.__slots__ if s not in _NOT_STATE)
_SNAP_WIDTH = 12  # (vol bar, 11 floats) per volatility snapshot; see SymbolState.roll_vol


class _Symbol(msgspec.Struct, array_like=True):
    scalars: dict[str, _Scalar]
    lists: dict[str, list[float]]
    packed: bytes  # rings and volatility snapshots (_pack)
    episode: dict[str, _Scalar] | None


class _Detector(msgspec.Struct, array_like=True):
    format: int
    version: str
    params_hash: str
    exchange: str
    symbols: dict[str, _Symbol]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Detector)


def dump(detector: SwingDetector, states: dict[str, SymbolState]) -> bytes:
    symbols = {name: _dump_symbol(st) for name, st in states.items()}
    return _encoder.encode(_Detector(FORMAT, detector.version, detector.params_hash,
                                     detector.exchange, symbols))


def load(blob: bytes, plan: Plan) -> tuple[str, dict[str, SymbolState]]:
    """(exchange, per-symbol states) of a snapshot taken with ``plan.params``."""
    try:
        image = _decoder.decode(blob)
    except msgspec.DecodeError:
        problem = "not a detector snapshot (or a damaged one)"
        raise SnapshotMismatch(problem) from None
    if image.format != FORMAT or image.version != DETECTOR_VERSION:
        problem = (f"format {image.format} of {image.version}; this detector reads format "
                   f"{FORMAT} of {DETECTOR_VERSION}")
        raise SnapshotMismatch(problem)
    expected = plan.params.hash()
    if image.params_hash != expected:
        problem = (f"taken with detector params {image.params_hash}, not {expected}: "
                   "restore with the same DetectorParams")
        raise SnapshotMismatch(problem)
    return image.exchange, {name: _load_symbol(s, plan) for name, s in image.symbols.items()}


# ---------------------------------------------------------------------- one symbol


def _dump_symbol(st: SymbolState) -> _Symbol:
    scalars = {name: getattr(st, name) for name in _SCALARS}
    lists = {name: getattr(st, name) for name in _SHORT_LISTS}
    ep = st.episode
    episode = None if ep is None else {name: getattr(ep, name) for name in Episode.__slots__}
    return _Symbol(scalars, lists, _pack(st), episode)


def _load_symbol(image: _Symbol, plan: Plan) -> SymbolState:
    if set(image.scalars) != set(_SCALARS) or set(image.lists) != set(_SHORT_LISTS):
        problem = "its symbol state does not match this detector's"
        raise SnapshotMismatch(problem)
    st = SymbolState.__new__(SymbolState)
    st.plan = plan
    for name, value in (*image.scalars.items(), *image.lists.items()):
        setattr(st, name, value)
    _unpack(st, image.packed)
    st.episode = None
    if image.episode is not None:
        if set(image.episode) != set(Episode.__slots__):
            problem = "its episode state does not match this detector's"
            raise SnapshotMismatch(problem)
        ep = st.episode = Episode.__new__(Episode)
        for name, value in image.episode.items():
            setattr(ep, name, value)
    return st


def _pack(st: SymbolState) -> bytes:
    # array.array reads a list of floats far faster than numpy does; numpy then XORs.
    absent = (0.0,) * _SNAP_WIDTH
    snaps = np.fromiter(chain.from_iterable([absent if snap is None else snap
                                             for snap in st.vol_snap]),
                        dtype=np.float64, count=len(st.vol_snap) * _SNAP_WIDTH)
    present = np.frombuffer(array("q", (snap is not None for snap in st.vol_snap)),
                            dtype=np.int64)
    words = np.concatenate([
        *(np.frombuffer(array("q", getattr(st, name)), dtype=np.int64) for name in _INT_RINGS),
        *(np.frombuffer(array("d", getattr(st, name)), dtype=np.int64)
          for name in _FLOAT_RINGS),
        present,
        # Column by column: the same quantity of neighbouring seconds side by side.
        snaps.reshape(-1, _SNAP_WIDTH).T.ravel().view(np.int64),
    ])
    delta = words.copy()
    delta[1:] ^= words[:-1]
    compressed: bytes = _codec().compress(delta.tobytes(), asbytes=True)
    return len(delta).to_bytes(4, "little") + compressed


def _unpack(st: SymbolState, packed: bytes) -> None:
    n, m = st.plan.ring_n, st.plan.snap_n
    size = n * (len(_INT_RINGS) + len(_FLOAT_RINGS)) + m * (1 + _SNAP_WIDTH)
    if int.from_bytes(packed[:4], "little") != size:
        problem = "its rings do not match these params"
        raise SnapshotMismatch(problem)
    try:
        raw = _codec().decompress(packed[4:], decompressed_size=size * 8, asbytes=True)
    except pa.ArrowException:
        problem = "its packed rings are damaged"
        raise SnapshotMismatch(problem) from None
    words = np.bitwise_xor.accumulate(np.frombuffer(raw, dtype=np.int64))
    at = 0
    for name in (*_INT_RINGS, *_FLOAT_RINGS):
        part = words[at:at + n]
        setattr(st, name, part.tolist() if name in _INT_RINGS else part.view(np.float64).tolist())
        at += n
    present = words[at:at + m].tolist()
    rows = words[at + m:].view(np.float64).reshape(_SNAP_WIDTH, m).T.tolist()
    st.vol_snap = [(int(row[0]), *row[1:]) if here else None  # type: ignore[misc]
                   for here, row in zip(present, rows, strict=True)]


def _codec() -> pa.Codec:
    return pa.Codec("zstd")
