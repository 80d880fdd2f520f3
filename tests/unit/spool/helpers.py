"""Spool test helpers: deterministic frames, scaled deadlines, whole-spool reads."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

from ticklake.model import RawFrame
from ticklake.spool import SpoolReader, SpoolRecord, SpoolWriter

FACTOR = float(os.environ.get("TICKLAKE_TEST_TIMEOUT_FACTOR", "1"))


def scaled(seconds: float) -> float:
    return seconds * FACTOR


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail after a scaled deadline."""
    deadline = time.monotonic() + scaled(timeout)
    while not condition():
        if time.monotonic() > deadline:
            msg = f"timed out after {scaled(timeout):.1f}s waiting for {what}"
            raise AssertionError(msg)
        time.sleep(0.005)


def wait_durable(writer: SpoolWriter, offset: int, timeout: float) -> bool:
    """Poll until ``offset`` is acknowledged (``durable_offset > offset``); False after
    ``timeout`` seconds, so a test can also show that something stays unacknowledged."""
    deadline = time.monotonic() + timeout
    while writer.durable_offset <= offset:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.002)
    return True


def payload_for(seed: int, offset: int) -> bytes:
    """A deterministic payload: sometimes empty, often not valid UTF-8, 0..~330 bytes."""
    digest = hashlib.blake2b(f"{seed}:{offset}".encode(), digest_size=32).digest()
    return (b"\xff\xfe" + digest) * (digest[0] % 10)


def frame_for(seed: int, offset: int) -> RawFrame:
    return RawFrame(conn_id=seed % 2**32, recv_ns=1_700_000_000_000_000_000 + offset,
                    payload=payload_for(seed, offset))


def read_all(directory: Path, start: int = 0) -> list[SpoolRecord]:
    reader = SpoolReader(directory)
    out: list[SpoolRecord] = []
    while batch := reader.read(start + len(out)):
        out.extend(batch)
    return out


def segment_files(directory: Path) -> list[Path]:
    return sorted((directory / "segments").glob("*.seg"))
