"""Detector snapshots: restored anywhere, the detector continues exactly as if never stopped."""

from __future__ import annotations

import math
from collections.abc import Callable

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ticklake.detect import DetectorParams, SwingDetector
from ticklake.errors import ConfigError, SnapshotMismatch
from ticklake.model import Anomaly

from .streams import LARGE_SWINGS, SEC, T0, stream

Op = Callable[[SwingDetector], list[Anomaly] | None]


def _trade(row: tuple[str, int, float, float, bool]) -> Op:
    return lambda d: d.on_trade(*row)


def _gap(symbol: str, from_ns: int, to_ns: int) -> Op:
    return lambda d: d.on_gap(symbol, from_ns, to_ns)


def _clock(now_ns: int) -> Op:
    return lambda d: d.on_clock(now_ns)


def _ops() -> list[Op]:
    """Two symbols with swings interleaved, a gap on one, and clock ticks between trades."""
    btc, _ = stream(11, 300 + 6 * 150 + 60, rate=5.0, swings=LARGE_SWINGS[:6])
    eth, _ = stream(12, 300 + 3 * 150 + 60, symbol="ETHUSD", rate=5.0,
                    swings=LARGE_SWINGS[6:9], first_s=350)
    gap_from, gap_to = T0 + 500 * SEC, T0 + 510 * SEC
    eth = [r for r in eth if not gap_from < r[1] < gap_to]
    rows = sorted(btc + eth, key=lambda r: r[1])
    ops: list[Op] = []
    gapped = False
    for i, row in enumerate(rows):
        if not gapped and row[1] > gap_to:
            ops.append(_gap("ETHUSD", gap_from, gap_to))
            gapped = True
        ops.append(_trade(row))
        if i % 7 == 0 and i + 1 < len(rows):
            ops.append(_clock(rows[i + 1][1]))
    return ops


OPS = _ops()


def _run(detector: SwingDetector, ops: list[Op]) -> list[list[Anomaly]]:
    """Records per op (so that a continuation can be compared op for op)."""
    return [op(detector) or [] for op in ops]


REFERENCE = _run(SwingDetector(), OPS)
# Ops right after which an episode is open, ends or starts: the interesting places to cut.
EPISODE_OPS = [i for i, found in enumerate(REFERENCE) if found]


def _continue_from(k: int) -> tuple[list[list[Anomaly]], bytes]:
    first = SwingDetector()
    _run(first, OPS[:k])
    blob = first.snapshot()
    restored = SwingDetector.restore(blob)
    assert restored.snapshot() == blob  # every bit of state survives the round trip
    return _run(restored, OPS[k:]), blob


def test_reference_stream_exercises_every_phase() -> None:
    phases = [a.phase for found in REFERENCE for a in found]
    assert {"start", "update", "end"} <= set(phases)
    assert phases.count("end") >= 7
    assert {a.symbol for found in REFERENCE for a in found} == {"BTCUSD", "ETHUSD"}


@pytest.mark.parametrize("offset", [0, 1, 2])
def test_cut_at_every_episode_event(offset: int) -> None:
    """Cut just after each record-emitting op (open episodes, fresh re-arms, ...)."""
    for i in EPISODE_OPS[offset::3]:
        k = i + 1
        rest, _ = _continue_from(k)
        assert rest == REFERENCE[k:], f"cut after op {i}"


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=len(OPS)))
def test_cut_anywhere(k: int) -> None:
    rest, _ = _continue_from(k)
    assert rest == REFERENCE[k:]


def test_finish_after_restore_ends_the_open_episodes_alike() -> None:
    k = next(i for i in EPISODE_OPS if any(a.phase == "start" for a in REFERENCE[i])) + 1
    first = SwingDetector()
    _run(first, OPS[:k])
    restored = SwingDetector.restore(first.snapshot())
    ended = first.finish()
    assert ended and restored.finish() == ended


def test_snapshot_is_small() -> None:
    detector = SwingDetector()
    _run(detector, OPS)
    blob = detector.snapshot()
    # Two symbols with full rings: 2,406 bars x 6 and 602 one-second volatility snapshots x
    # 12 words each, 188 kB raw per symbol; exactness leaves the noisy float bits to keep.
    assert len(blob) / 2 < 90_000
    assert SwingDetector().snapshot() != blob and len(SwingDetector().snapshot()) < 100


def test_restore_refuses_other_params_and_foreign_bytes() -> None:
    detector = SwingDetector()
    _run(detector, OPS[:2000])
    blob = detector.snapshot()
    other = DetectorParams(threshold=5.0)
    with pytest.raises(SnapshotMismatch, match=f"taken with detector params "
                       f"{DetectorParams().hash()}, not {other.hash()}"):
        SwingDetector.restore(blob, other)
    with pytest.raises(SnapshotMismatch, match="not a detector snapshot"):
        SwingDetector.restore(b"\x93garbage")
    assert issubclass(SnapshotMismatch, ConfigError)  # one line on the CLI, exit 2
    # A snapshot of another detector version (or format) is refused, not half restored.
    image = msgspec.msgpack.decode(blob)
    image[1] = "swing-0.9"
    with pytest.raises(SnapshotMismatch, match=r"swing-0\.9"):
        SwingDetector.restore(msgspec.msgpack.encode(image))
    image = msgspec.msgpack.decode(blob)
    del next(iter(image[4].values()))[0]["sigma"]
    with pytest.raises(SnapshotMismatch, match="does not match"):
        SwingDetector.restore(msgspec.msgpack.encode(image))


def test_restored_state_keeps_nan_and_infinities() -> None:
    """A gap leaves a NaN volatility baseline and an infinite band: both survive."""
    detector = SwingDetector()
    _run(detector, OPS)
    detector.on_gap("BTCUSD", T0, T0 + 4000 * SEC)
    restored = SwingDetector.restore(detector.snapshot())
    state = restored._states["BTCUSD"]  # the point is the hidden state
    assert math.isinf(state.band_hi) and state.band_lo == -math.inf
    assert restored.snapshot() == detector.snapshot()
