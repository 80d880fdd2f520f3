"""The whole scale-out pipeline at once (docs/scale-out.md): two sharded recorders ship to one
Kafka-protocol log (Tansu), three ``ticklake deliver`` writers and two ``ticklake detect --log``
detectors consume it into one S3 lake (SeaweedFS). Swings are injected on two symbols; right
at the second round one writer and one detector are killed with -9, a third round follows.

Afterwards: the lake's trades equal the emulator's ground truth trade for trade, ``raw`` holds
both spools' frames exactly once, no two files of a stream overlap, every labelled swing is
one anomaly and no episode is there twice (any other anomaly must be a jump the emulator's
market made by itself, seen in its ground truth), and the surviving detector resumed the moved
partitions from their snapshots."""

from __future__ import annotations

import itertools
import json
import math
import re
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ticklake.lake.storage import LakeStorage
from ticklake.session.sharding import shard_symbols
from ticklake.tables import TABLES, parse_stream_file_name

from ..reliability.common import compare_lake, figure, truth_trades, wait_for
from ..reliability.procs import control, emulator_process, kill_group
from ..seaweed import SeaweedFS
from ..support import Key, read_truth
from .procs import (
    Frame,
    S,
    anomaly_rows,
    deliver,
    delivered,
    detector,
    detector_restores,
    inject_swings,
    lake_frames,
    overlapping_files,
    shipped,
    shipping_recorder,
    spooled_frames,
    stop,
    swing_hits,
    swings_caught,
    trades_in,
)
from .tansu import Tansu

SYMBOLS = ("BTCUSD", "ETHUSD", "BTCUSDT", "sBTCUSDT")
SHARDS = 2  # jump hash: shard 0 records sBTCUSDT, shard 1 the other three
SWUNG = ("BTCUSD", "sBTCUSDT")
# The log is keyed by symbol: with 5 partitions the four land on 1, 1, 2 and 4. librdkafka's
# range assignment then gives each of 3 writers a partition with trades ([0,1] [2,3] [4]) and
# each of 2 detectors one swung symbol ([0,1,2] [3,4]): whichever is killed, its work moves.
PARTITIONS = 5
PARTITION_OF = {"BTCUSD": {1}, "ETHUSD": {1}, "BTCUSDT": {2}, "sBTCUSDT": {4}}
RATE = 40  # trades/s per symbol
WARMUP_S = 30
FAST = {"TICKLAKE_FEED__PING_INTERVAL": "1", "TICKLAKE_FEED__PONG_TIMEOUT": "3",
        "TICKLAKE_FEED__SILENCE_TIMEOUT": "5", "TICKLAKE_LAKE__PARTITIONS": str(PARTITIONS)}


def _exchange_seconds(truth: Path, symbol: str) -> float:
    """How much exchange time the emulator has traded ``symbol`` for."""
    stamps = [ts for s, ts, *_ in read_truth(truth) if s == symbol]
    return (max(stamps) - min(stamps)) / S if stamps else 0.0


def _symbols_in(frames: Counter[Frame]) -> set[str]:
    """The symbols of a spool's trade messages (what its recorder subscribed)."""
    out = set()
    for _, _, payload in frames:
        symbol = json.loads(payload).get("symbol")
        if symbol is not None:
            out.add(str(symbol))
    return out


def _partitions_of(storage: LakeStorage, symbol: str) -> set[int]:
    """The log partitions whose writers made the symbol's trades files."""
    out = set()
    for stored in storage.list_files("trades"):
        if f"/symbol={symbol}/" in stored.path:
            parsed = parse_stream_file_name(stored.path.rsplit("/", 1)[1])
            assert parsed is not None, stored.path
            out.add(int(parsed[3].rsplit(".", 1)[1]))
    return out


def _swings_and_kills(url: str, storage: LakeStorage,
                      victims: tuple[subprocess.Popen[bytes], ...],
                      ) -> tuple[list[dict[str, Any]], float]:
    """Three rounds of swings on SWUNG; at the second, kill -9 the victims (a writer and a
    detector). Returns the swings' labels and how long after the kill the third round came
    (the group's rebalance: seconds, against a warm-up of WARMUP_S)."""
    first = inject_swings(url, SWUNG, "up")
    wait_for(lambda: swings_caught(storage, first), 60, "the first swings in the lake",
             interval=0.5)
    before_kill = detector_restores(storage, PARTITIONS)
    # Swings, then at once kill -9 a writer and a detector: the detector's episodes are open
    # (or not yet read), the writer's batch unpublished; their partitions' next owners must
    # finish them, once.
    second = inject_swings(url, SWUNG, "down")
    for victim in victims:
        kill_group(victim, signal.SIGKILL)
        victim.wait()
    killed_ns = time.time_ns()
    wait_for(lambda: swings_caught(storage, second), 90,
             "the survivors to catch the swings at the kill", interval=0.5)
    wait_for(lambda: all(a > b for a, b in zip(detector_restores(storage, PARTITIONS),
                                               before_kill, strict=True)), 30,
             "the surviving detector to resume every partition from its snapshot",
             interval=0.5)
    # Within a warm-up of the kill: a moved partition that started cold would be blind.
    third = inject_swings(url, SWUNG, "up")
    after_kill_s = (max(label["start_ns"] for label in third) - killed_ns) / S
    assert after_kill_s < WARMUP_S, after_kill_s
    wait_for(lambda: swings_caught(storage, third), 60,
             "the survivor to catch swings on the partitions it took over", interval=0.5)
    return [*first, *second, *third], after_kill_s


def _moved_in_truth(truth: list[Key], row: dict[str, Any]) -> bool:
    """The exchange's own trades moved the price as the anomaly says: from the last price at
    its start, the extreme in its direction until its end is at least half its move."""
    prices = [(ts, float(price)) for symbol, ts, _, price, _ in truth
              if symbol == row["symbol"] and ts <= row["ts_end_ns"]]
    before = [p for ts, p in prices if ts <= row["ts_start_ns"]]
    during = [p for ts, p in prices if ts > row["ts_start_ns"]]
    if not before or not during:
        return False
    sign = 1 if row["direction"] == "up" else -1
    moved_bp = max(sign * math.log(p / before[-1]) for p in during) * 10_000
    return bool(moved_bp >= max(5.0, abs(row["move_bp"]) / 2))


def _assert_each_swing_once(storage: LakeStorage, labels: list[dict[str, Any]],
                            truth: list[Key]) -> tuple[int, int]:
    """One anomaly row (and file) per labelled swing, no episode twice; anything else is a
    price jump the emulator's market made by itself (rare Poisson jumps, a real swing). The
    anomalies and how many were such jumps."""
    files = anomaly_rows(storage)
    rows = [row for _, row in files]
    seen = [(name, row["anomaly_id"], row["symbol"], row["direction"], row["ts_start_ns"],
             row["ts_detect_ns"], row["ts_end_ns"], row["move_bp"]) for name, row in files]
    swings = [(label["symbol"], label["direction"], label["start_ns"]) for label in labels]
    ids = [row["anomaly_id"] for row in rows]
    assert len(ids) == len(set(ids)), seen
    # An episode found twice (say, replayed with other bounds after the kill) would overlap
    # another; one may start at the instant the previous one ended (its reference).
    for symbol in {row["symbol"] for row in rows}:
        spans = sorted((r["ts_start_ns"], r["ts_end_ns"]) for r in rows if r["symbol"] == symbol)
        assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans)), seen
    # A step is detected within a second of its start and its episode stays open for 3 s
    # more (end_quiet_min_s): a 3 s slack cannot take in a later, natural episode.
    matched: set[str] = set()
    for label in labels:
        hits = swing_hits(rows, label, slack_s=3.0)
        assert len(hits) == 1, (label, seen)
        matched.add(hits[0]["anomaly_id"])
    assert len(matched) == len(labels) == 3 * len(SWUNG), (swings, seen)
    natural = [row for row in rows if row["anomaly_id"] not in matched]
    assert all(_moved_in_truth(truth, row) for row in natural), (swings, seen)
    return len(rows), len(natural)


@pytest.mark.timeout(300)
def test_recorders_writers_detectors_one_writer_one_detector_killed(
        tmp_path: Path, tansu: Tansu, seaweed: SeaweedFS,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in seaweed.env().items():
        monkeypatch.setenv(key, value)  # the lake read-backs (Lake) find S3 here
    root = f"s3://{seaweed.bucket}/scale-out-e2e"
    uri = tansu.uri("ticks")
    storage = LakeStorage(root, filesystem=seaweed.filesystem())
    env = {**seaweed.env(), **FAST}
    shards = [shard_symbols(SYMBOLS, (i, SHARDS)) for i in range(SHARDS)]
    assert all(shards), shards  # --shard i/2 leaves neither recorder empty
    spools = [tmp_path / f"spool{i}" for i in range(SHARDS)]
    everything: list[subprocess.Popen[bytes]] = []
    started = time.monotonic()
    try:
        with emulator_process(tmp_path, "--symbols", ",".join(SYMBOLS), "--rate",
                              str(RATE)) as (url, truth):
            control(url, "halt")  # until both recorders stream: every trade is then owed
            writers = [deliver(uri, root, tmp_path / f"deliver{i}.log", env) for i in range(3)]
            detectors = [detector(uri, root, tmp_path / f"detect{i}.log", env, PARTITIONS,
                                  WARMUP_S) for i in range(2)]
            recorders = [shipping_recorder(url, uri, spool, ",".join(SYMBOLS),
                                           tmp_path / f"recorder{i}.log", env, "--shard",
                                           f"{i}/{SHARDS}")
                         for i, spool in enumerate(spools)]
            everything += [*writers, *detectors, *recorders]
            wait_for(lambda: all(shipped(s) > 0 for s in spools), 60, "both recorders ship")
            control(url, "resume")
            wait_for(lambda: min(_exchange_seconds(truth, s) for s in SWUNG) > WARMUP_S + 5,
                     90, "a warm-up of exchange time on the swung symbols", interval=0.5)

            labels, third_after_kill_s = _swings_and_kills(url, storage,
                                                           (writers[0], detectors[0]))
            control(url, "halt")
            produced = sum(truth_trades(truth).values())
            wait_for(lambda: trades_in(root) >= produced, 90,
                     f"all {produced} trades the exchange made, delivered", interval=0.5)
            codes = [stop(r) for r in recorders]
        assert codes == [0, 0], [(tmp_path / f"recorder{i}.log").read_text()[-2000:]
                                 for i in range(SHARDS)]
        per_spool = [spooled_frames(spool) for spool in spools]
        assert [_symbols_in(frames) for frames in per_spool] == [set(s) for s in shards]
        spooled = per_spool[0] + per_spool[1]
        wait_for(lambda: sum(lake_frames(root).values()) >= sum(spooled.values()), 90,
                 f"all {sum(spooled.values())} spooled frames in the lake", interval=0.5)
        codes = [stop(p) for p in (*writers[1:], *detectors[1:])]
        assert codes == [0, 0, 0], [(tmp_path / name).read_text()[-2000:] for name in
                                    ("deliver1.log", "deliver2.log", "detect1.log")]
        for name in ("deliver1.log", "deliver2.log"):  # the final progress line, unwrapped
            lines = [ln for ln in (tmp_path / name).read_text().splitlines()
                     if ln.startswith("deliver ")]
            assert lines and re.fullmatch(
                r"deliver \S+ \[\S+\]: partitions \[.*\] \| [\d,]+ read \| [\d,]+ published \| "
                r"holding (nothing|[\d.]+ MiB, next publish in \d+( m \d\d)? s) \| .* assignments",
                lines[-1]), lines[-1:]
    finally:
        for process in everything:
            kill_group(process)  # whatever still runs after a failure
    seconds = time.monotonic() - started

    # The lake writers: every trade once, every frame once, no overlapping files.
    result = compare_lake(root, truth)
    assert result.duplicated == result.invented == 0, result
    assert result.lost_silently == result.lost_in_reported_gaps == 0, result
    assert result.recorded == result.truth > 0, result
    in_lake = lake_frames(root)
    assert in_lake == spooled, (len(in_lake - spooled), len(spooled - in_lake))
    written = tuple(t for t in TABLES if t != "anomalies")  # the writers' tables
    assert overlapping_files(seaweed.filesystem(), root, written) == []
    # The layout the kills relied on (see PARTITIONS), as the lake's file names show it.
    assert {s: _partitions_of(storage, s) for s in SYMBOLS} == PARTITION_OF

    # The detectors: every labelled swing once, no episode twice.
    anomalies, natural = _assert_each_swing_once(storage, labels, read_truth(truth))

    figure("scale_out_e2e", partitions=PARTITIONS, recorders=SHARDS, writers=3, detectors=2,
           killed_writers=1, killed_detectors=1, frames=sum(spooled.values()),
           kafka_messages=sum(delivered(storage, "ticks", PARTITIONS)),
           anomalies=anomalies, swings=len(labels), natural_jumps=natural,
           restores=detector_restores(storage, PARTITIONS), seconds=round(seconds, 1),
           third_swings_after_kill_s=round(third_after_kill_s, 1),
           **result.summary())
