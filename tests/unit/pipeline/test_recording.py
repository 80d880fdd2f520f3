"""``Recording.run``: every task of a recording in one TaskGroup, stopped in one order.

The parts are small fakes that write down when they were stopped (the real ones run in the
integration and e2e suites); what is under test is the composition root's order and its
error reporting.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from ticklake.bus import Bus
from ticklake.errors import SessionError, StorageError
from ticklake.model import Anomaly
from ticklake.pipeline import Observers, Recording
from ticklake.session import SessionStats
from ticklake.status import LiveRecording

ANOMALY = Anomaly(
    anomaly_id="a1", exchange="phemex", symbol="BTCUSD", kind="swing", phase="end",
    ts_start_ns=1, ts_detect_ns=2, ts_end_ns=3, direction="up", horizon_s=1.0, move_bp=50.0,
    move_price=1.0, price_before=1.0, price_after=2.0, score=9.0, trades=3, intensity_z=0.0,
    imbalance=0.0, largest_qty=1.0, rcf_score=None, detector_version="test", params_hash="",
)


@dataclass
class Journal:
    steps: list[str] = field(default_factory=list)


class Sessions:
    """A SessionGroup's surface: runs until stopped, or fails when told to."""

    def __init__(self, journal: Journal, fail: Exception | None = None) -> None:
        self.journal, self.fail = journal, fail
        self.stopped = asyncio.Event()
        self.stats = SessionStats(connects=1)
        self.config = type("Config", (), {"url": "ws://fake"})()

    async def run(self) -> None:
        if self.fail is not None:
            raise self.fail
        await self.stopped.wait()

    def stop(self) -> None:
        if not self.stopped.is_set():
            self.journal.steps.append("sessions stopped")
        self.stopped.set()

    def connections(self) -> list[tuple[str, list[Any], SessionStats]]:
        return [("phemex", [], self.stats)]


class SpoolWriter:
    end_offset = 7

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def close(self) -> None:
        self.journal.steps.append("spool closed")


class Lake:
    committed_offset = 5

    def __init__(self, journal: Journal, fail: Exception | None = None) -> None:
        self.journal, self.fail = journal, fail

    def start(self) -> None:
        self.journal.steps.append("lake started")

    def stop(self, drain: bool = True) -> None:
        self.journal.steps.append("lake drained" if drain else "lake stopped")
        if self.fail is not None:
            raise self.fail


class Dashboard:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.started = asyncio.Event()

    async def serve(self) -> None:
        self.started.set()
        try:
            await asyncio.Event().wait()
        finally:
            self.journal.steps.append("dashboard stopped")


def _recording(journal: Journal, *, session_fails: Exception | None = None,
               lake_fails: Exception | None = None) -> Recording:
    return Recording(Sessions(journal, session_fails), Bus(),  # type: ignore[arg-type]
                     spool_writer=SpoolWriter(journal),  # type: ignore[arg-type]
                     lake=Lake(journal, lake_fails))


def _detector(journal: Journal) -> Any:
    """Like the live detector: reads the feed until it closes, then writes an ended episode."""

    async def run(recording: LiveRecording) -> None:
        feed = recording.bus.subscribe()
        while await feed.get_batch():
            pass
        journal.steps.append("feed closed: detector ends its episodes")
        recording.anomalies.publish(ANOMALY)

    return run


def test_shutdown_stops_ingest_then_spool_then_lake_then_consumers_then_services() -> None:
    journal = Journal()
    shown: list[Anomaly] = []
    recording = _recording(journal)

    def on_anomaly(anomaly: Anomaly) -> None:
        journal.steps.append("alert shown")
        shown.append(anomaly)

    async def scenario() -> None:
        await recording.run(0.05, Observers(on_anomaly=on_anomaly, tick_seconds=0.01,
                                            on_started=lambda: journal.steps.append("ready")),
                            consumers=[_detector(journal)], services=[Dashboard(journal)])

    asyncio.run(scenario())
    assert journal.steps == [
        "ready", "lake started", "sessions stopped", "spool closed", "lake drained",
        "feed closed: detector ends its episodes", "alert shown", "dashboard stopped"]
    assert shown == [ANOMALY]  # written after the feed closed, still shown before the end


def test_a_session_failure_is_reported_after_the_same_shutdown() -> None:
    journal = Journal()
    recording = _recording(journal, session_fails=SessionError("refused"),
                           lake_fails=StorageError("the drain failed too"))
    with pytest.raises(SessionError, match="refused"):  # not the storage error after it
        asyncio.run(recording.run(None, consumers=[_detector(journal)]))
    assert journal.steps == ["lake started", "sessions stopped", "spool closed", "lake drained",
                             "feed closed: detector ends its episodes"]


def test_a_storage_failure_alone_is_reported() -> None:
    journal = Journal()
    recording = _recording(journal, lake_fails=StorageError("disk full"))
    with pytest.raises(StorageError, match="disk full"):
        asyncio.run(recording.run(0.01))


def test_a_failed_consumer_stops_the_recording_in_order_and_its_error_is_raised() -> None:
    journal = Journal()
    recording = _recording(journal)

    async def broken(recording: LiveRecording) -> None:
        msg = "detector bug"
        raise ValueError(msg)

    with pytest.raises(ValueError, match="detector bug"):  # itself, not an ExceptionGroup
        asyncio.run(recording.run(None, consumers=[broken]))
    assert journal.steps == ["lake started", "sessions stopped", "spool closed", "lake drained"]


def test_a_cancel_like_sigterm_drains_and_ends_quietly() -> None:
    journal = Journal()
    recording = _recording(journal)

    async def scenario() -> None:
        task = asyncio.create_task(recording.run(None, consumers=[_detector(journal)]))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert journal.steps == ["lake started", "sessions stopped", "spool closed", "lake drained",
                             "feed closed: detector ends its episodes"]


def test_a_service_that_cannot_start_stops_the_recording_before_any_frame() -> None:
    journal = Journal()
    recording = _recording(journal)

    class PortTaken:
        started = asyncio.Event()

        async def serve(self) -> None:
            msg = "address already in use"
            raise OSError(msg)

    with pytest.raises(OSError, match="address already in use"):
        asyncio.run(recording.run(None, services=[PortTaken()]))
    assert "lake started" not in journal.steps  # nothing was recorded


def test_status_reads_the_seams() -> None:
    journal = Journal()
    status = _recording(journal).status()
    assert (status.spool_end, status.lake_committed, status.backlog) == (7, 5, 2)
    assert status.totals.connects == 1
