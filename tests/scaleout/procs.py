"""Real processes and read-backs of the scale-out tests: ``ticklake deliver`` workers,
recorders shipping to the log, and the lake/spool/broker state the assertions compare."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
from confluent_kafka import Consumer, TopicPartition

from ticklake.catalog import Lake
from ticklake.errors import LakeNotFound
from ticklake.lake.storage import LakeStorage
from ticklake.scaleout.deliver import delivered_position
from ticklake.scaleout.detect_group import load_state
from ticklake.scaleout.log.frames import fold_conn_id, recorder_number
from ticklake.scaleout.log.shipper import CURSOR as SHIPPED
from ticklake.spool import CursorStore, SpoolReader
from ticklake.tables import TABLES, parse_stream_file_name

from ..reliability.common import lake_count
from ..reliability.procs import TICKLAKE, control, recorder
from ..support import scaled

Frame = tuple[int, int, str]  # conn_id (64-bit, folded), recv_ns, payload text
S = 1_000_000_000
DETECT_GROUP = "ticklake-detect"  # the CLI's default group


def deliver(uri: str, root: str, log: Path, env: dict[str, str],
            *extra: str) -> subprocess.Popen[bytes]:
    """``ticklake deliver`` in its own process group (kill -9 takes all of it)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [*TICKLAKE, "deliver", "--log", uri, "--lake", root, *extra],
            env={**os.environ, "TICKLAKE_LAKE__BUFFER_SECONDS": "0.5", **env},
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )


def shipping_recorder(url: str, uri: str, spool: Path, symbols: str, log: Path,
                      env: dict[str, str], *extra: str) -> subprocess.Popen[bytes]:
    return recorder(url, "unused-lake", spool, "--log", uri, *extra, symbols=symbols, log=log,
                    env=env)


def stop(process: subprocess.Popen[bytes], timeout: float = 60) -> int:
    """SIGTERM, then wait for a graceful exit; the exit code."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=scaled(timeout))
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise


def shipped(spool: Path) -> int:
    try:
        return CursorStore(spool / "cursors").load(SHIPPED)[0]
    except Exception:
        return 0


def high_watermarks(bootstrap: str, topic: str, partitions: int) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "ticklake-test-probe"})
    try:
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(partitions)]
    finally:
        consumer.close()


def delivered(storage: LakeStorage, topic: str, partitions: int) -> list[int]:
    return [delivered_position(storage, topic, p) for p in range(partitions)]


def spooled_frames(spool: Path) -> Counter[Frame]:
    """Every frame of a recorder's spool, as the lake's ``raw`` must hold it."""
    number = recorder_number((spool / "recorder-id").read_text().strip())
    reader = SpoolReader(spool)
    frames: Counter[Frame] = Counter()
    offset = reader.first_offset()
    assert offset == 0, "retention deleted segments: the whole spool cannot be compared"
    while records := reader.read(offset):
        for r in records:
            frames[(fold_conn_id(number, r.conn_id), r.recv_ns,
                    r.payload.decode("utf-8", "replace"))] += 1
        offset = records[-1].offset + 1
    return frames


def trades_in(root: str) -> int:
    """Rows of ``trades`` (0 while no writer has made the lake yet)."""
    try:
        return lake_count(root, "trades")
    except LakeNotFound:
        return 0


def lake_frames(root: str) -> Counter[Frame]:
    rows = Lake(root).query("SELECT conn_id, recv_ns, payload FROM raw",
                            max_rows=50_000_000).rows()
    return Counter((int(c), int(r), str(p)) for c, r, p in rows)


def overlapping_files(fs: pafs.FileSystem, base: str,
                      tables: tuple[str, ...] = TABLES) -> list[str]:
    """Files of one directory and stream whose offset ranges overlap (a duplicate).

    ``anomalies`` files are named by time range instead, and an episode may start at the
    instant the previous one ended: leave it out of ``tables`` where the detectors ran."""
    storage = LakeStorage(base, filesystem=fs)
    bad = []
    for table in tables:
        by_dir: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
        for stored in storage.list_files(table):
            directory, name = stored.path.rsplit("/", 1)
            parsed = parse_stream_file_name(name)
            assert parsed is not None, stored.path
            by_dir.setdefault((directory, parsed[3]), []).append((parsed[1], parsed[2], name))
        for ranges in by_dir.values():
            ranges.sort()
            for (_, end, name), (first, _, other) in itertools.pairwise(ranges):
                if first < end:
                    bad.append(f"{name} / {other}")
    return bad


# --------------------------------------------------------------------------- detectors


def detector(uri: str, root: str, log: Path, env: dict[str, str], partitions: int,
             warmup_s: float) -> subprocess.Popen[bytes]:
    """``ticklake detect --log`` with a short warm-up and a snapshot every second, in its own
    process group."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [*TICKLAKE, "detect", "--log", uri, "--lake", root, "--partitions",
             str(partitions), "--snapshot-seconds", "1", "--param", f"warmup_s={warmup_s}"],
            env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def anomaly_rows(storage: LakeStorage) -> list[tuple[str, dict[str, Any]]]:
    """(file name, row plus its symbol) of every anomaly in the lake."""
    out = []
    for stored in storage.list_files("anomalies"):
        parts = stored.path.split("/")
        symbol = next(p.split("=", 1)[1] for p in parts if p.startswith("symbol="))
        out += [(parts[-1], {**row, "symbol": symbol})
                for row in storage.read(stored.path).to_pylist()]
    return out


def detector_restores(storage: LakeStorage, partitions: int, topic: str = "ticks") -> list[int]:
    """Per partition, how many times a detector resumed it from a snapshot."""
    return [load_state(storage, topic, p, DETECT_GROUP)[1].restored for p in range(partitions)]


def detector_offsets(storage: LakeStorage, partitions: int, topic: str = "ticks") -> list[int]:
    """Per partition, the Kafka offset of the detectors' last snapshot (0: none yet)."""
    return [load_state(storage, topic, p, DETECT_GROUP)[0] for p in range(partitions)]


def inject_swings(url: str, symbols: tuple[str, ...], direction: str) -> list[dict[str, Any]]:
    """A 40-sigma step on each symbol at once (far beyond any threshold); their labels."""
    return [control(url, "swing", symbol=symbol, k=40, seconds=0, direction=direction,
                    shape="step")["label"] for symbol in symbols]


def swing_hits(rows: list[dict[str, Any]], label: dict[str, Any],
               slack_s: float = 10.0) -> list[dict[str, Any]]:
    """The anomaly rows that are the labelled swing: its symbol and direction, detected
    from its start until ``slack_s`` after its end."""
    return [row for row in rows if row["symbol"] == label["symbol"]
            and row["direction"] == label["direction"]
            and label["start_ns"] - S <= row["ts_detect"].timestamp() * S
            <= label["end_ns"] + slack_s * S]


def swings_caught(storage: LakeStorage, labels: list[dict[str, Any]]) -> bool:
    rows = [row for _, row in anomaly_rows(storage)]
    return all(swing_hits(rows, label) for label in labels)
