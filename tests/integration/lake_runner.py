"""LakeRunner: drives a LakeWriter in a thread of the test process (test-only; the recorder
runs its writer in a child process, ``ticklake.lake.process``).

The thread polls the spool (every ``poll_interval`` when idle), publishes when the buffering
hints say so, and applies spool retention after each publish. ``stop(drain=True)`` publishes
everything the spool holds before returning; an exception of the thread is raised there.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ticklake.lake.writer import LakeWriter

logger = logging.getLogger(__name__)


class LakeRunner:
    def __init__(
        self,
        writer: LakeWriter,
        retain: Callable[[], object] | None = None,
        poll_interval: float = 0.05,
    ) -> None:
        self.writer = writer
        self._retain = retain
        self._poll_interval = poll_interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lake-writer", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        writer = self.writer
        try:
            while not self._stop.is_set():
                committed = writer.committed_offset
                busy = writer.poll()
                if writer.committed_offset != committed and self._retain is not None:
                    self._retain()
                if not busy:
                    self._stop.wait(self._poll_interval)
        except BaseException as exc:  # surfaced by stop(): the test must not go on blind
            self.error = exc
            logger.exception("= lake writer stopped")

    def stop(self, drain: bool = True, timeout: float = 60.0) -> None:
        """Stop the thread; with ``drain`` publish everything already in the spool."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if drain and self.error is None:
            self.writer.drain()
        if self.error is not None:
            raise self.error
