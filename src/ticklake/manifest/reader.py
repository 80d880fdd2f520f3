"""The reading end: every log of a lake's manifest, and the files live across them.

The live files are the union of every log's additions minus every log's removals, then minus
the files a ``compact-`` file of the same stream covers (``tables.superseded``).
"""

from __future__ import annotations

import time
from typing import Final

from ticklake.manifest.entries import FileEntry
from ticklake.manifest.log import _catch_up, _drop_superseded, _load_log, _LogState
from ticklake.manifest.store import ManifestStore, is_complete

REMOTE_DISCOVERY_SECONDS: Final = 30.0


class Manifest:
    """Every log of a lake's manifest, kept current by :meth:`refresh`.

    ``discover_every``: seconds between listings of the manifest for logs that appeared since
    (a new Kafka partition's worker, the first anomaly); between them a refresh reads only
    the next version of each known log. By default 0 on a local disk (a listing of one
    directory costs microseconds) and 30 s on an object store (a LIST request).
    """

    def __init__(self, store: ManifestStore, *, discover_every: float | None = None,
                 clock: object = time.monotonic) -> None:
        self.store = store
        if discover_every is None:
            discover_every = 0.0 if store.local else REMOTE_DISCOVERY_SECONDS
        self.discover_every = discover_every
        self._clock = clock
        self._logs: dict[str, _LogState] = {}
        self._discovered = -float("inf")
        self._live: dict[str, list[FileEntry]] | None = None
        self.generation = 0  # bumped whenever the live files change
        self._discover()

    @classmethod
    def open(cls, store: ManifestStore, **kwargs: float | None) -> Manifest | None:
        """The manifest, or None if the lake has none yet (written before manifests)."""
        if not is_complete(store):
            return None
        return cls(store, **kwargs)

    def _now(self) -> float:
        return self._clock()  # type: ignore[operator,no-any-return]

    def _discover(self) -> bool:
        self._discovered = self._now()
        moved = False
        for log in self.store.logs():
            if log not in self._logs:
                self._logs[log] = _load_log(self.store, log)
                moved = True
        return moved

    def refresh(self) -> bool:
        """Read what the writers committed since; whether the live files changed."""
        moved = False
        for log, state in self._logs.items():
            moved |= _catch_up(self.store, log, state)
        if self._now() - self._discovered >= self.discover_every:
            moved |= self._discover()
        if moved:
            self._live = None
            self.generation += 1
        return moved

    @property
    def versions(self) -> dict[str, int]:
        return {log: state.version for log, state in self._logs.items()}

    def files(self, table: str, *, hidden: bool = False) -> list[FileEntry]:
        """The live files of ``table``, sorted by path; ``hidden``: also the ones a compact
        file covers (still listed until the compaction's deletes are committed)."""
        if hidden:
            return sorted((e for e in self._committed().values() if e.table == table),
                          key=lambda e: e.path)
        if self._live is None:
            live = _drop_superseded(self._committed())
            self._live = {}
            for path in sorted(live):
                self._live.setdefault(live[path].table, []).append(live[path])
        return self._live.get(table, [])

    def _committed(self) -> dict[str, FileEntry]:
        removed: set[str] = set()
        files: dict[str, FileEntry] = {}
        for state in self._logs.values():
            removed |= state.removed
            files.update(state.files)
        for path in removed:
            files.pop(path, None)
        return files
