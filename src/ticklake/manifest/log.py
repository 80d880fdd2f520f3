"""One log: its replay (latest checkpoint, then the commits after it) and its writing end.

A log is written by one writer at a time. Versions count 1, 2, 3...; every
``CHECKPOINT_EVERY`` commits the writer also stores the log's state at that version, so a
cold reader reads one checkpoint and at most that many commits, and later asks only for the
next version: no LIST on S3.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from ticklake.errors import ManifestError, VersionTaken
from ticklake.manifest.entries import (
    MANIFEST_DIR,
    Checkpoint,
    Commit,
    FileEntry,
    _checkpoint_decoder,
    _commit_decoder,
    _decode,
    _encoder,
    _Pointer,
    _pointer_decoder,
)
from ticklake.manifest.store import ManifestStore
from ticklake.tables import superseded

CHECKPOINT_EVERY: Final = 20  # commits between checkpoints: a cold reader reads at most 20
_COMMIT_ATTEMPTS: Final = 100


@dataclass
class _LogState:
    """A log replayed up to ``version``: its live additions and its foreign removals."""

    version: int = 0
    files: dict[str, FileEntry] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    pending: dict[str, int] = field(default_factory=dict)  # removed, to delete: path -> ns

    def apply(self, commit: Commit) -> None:
        for path in commit.remove:
            if self.files.pop(path, None) is None:
                self.removed.add(path)
            self.pending[path] = commit.created_ns
        for entry in commit.add:
            self.files[entry.path] = entry
            self.removed.discard(entry.path)
            self.pending.pop(entry.path, None)
        self.version = commit.version


def _commit_path(log: str, version: int) -> str:
    return f"{MANIFEST_DIR}/{log}/{version:020d}.json"


def _checkpoint_path(log: str, version: int) -> str:
    return f"{MANIFEST_DIR}/{log}/{version:020d}.checkpoint.json"


def _pointer_path(log: str) -> str:
    return f"{MANIFEST_DIR}/{log}/_last_checkpoint.json"


def _load_log(store: ManifestStore, log: str) -> _LogState:
    state = _LogState()
    pointer = store.read(_pointer_path(log))
    if pointer is not None:
        version = _decode(_pointer_decoder, pointer, log).version
        body = store.read(_checkpoint_path(log, version))
        if body is None:
            msg = f"manifest log {log}: checkpoint {version} is missing"
            raise ManifestError(msg)
        checkpoint = _decode(_checkpoint_decoder, body, log)
        state.version = checkpoint.version
        state.files = {entry.path: entry for entry in checkpoint.files}
        state.removed = set(checkpoint.removed)
        state.pending = {path: ns for ns, path in checkpoint.pending}
    _catch_up(store, log, state)
    return state


def _catch_up(store: ManifestStore, log: str, state: _LogState) -> bool:
    """Apply the commits after ``state.version``; whether there were any."""
    moved = False
    while (body := store.read(_commit_path(log, state.version + 1))) is not None:
        state.apply(_decode(_commit_decoder, body, log))
        moved = True
    return moved


class ManifestLog:
    """The writing end of one log (one writer at a time)."""

    def __init__(self, store: ManifestStore, log: str) -> None:
        if not log or not all(c.isalnum() or c in "._-" for c in log):
            msg = f"invalid manifest log name {log!r}"
            raise ValueError(msg)
        self.store = store
        self.log = log
        self._state = _load_log(store, log)

    @property
    def version(self) -> int:
        return self._state.version

    def files(self) -> dict[str, FileEntry]:
        """This log's live additions."""
        return dict(self._state.files)

    def pending_deletes(self) -> list[str]:
        """Files this log removed that may still be stored."""
        return list(self._state.pending)

    def forget_deleted(self, paths: Iterable[str]) -> None:
        """``paths`` are deleted: drop them from the pending deletes (from the next
        checkpoint on; until then a restarted writer may try them again, harmlessly)."""
        for path in paths:
            self._state.pending.pop(path, None)

    def commit(self, add: Iterable[FileEntry] = (), remove: Iterable[str] = ()) -> int:
        """Commit files added and removed as the next version; returns it.

        A commit is a set operation with no precondition, so if another writer took the
        version first (a local disk refuses the second), this one catches up and takes the
        next: on a local lake two writers of one log (``ticklake compact`` beside a
        recorder) are safe. On S3 nothing refuses the second PUT: one writer per log.
        """
        add, remove = tuple(add), tuple(remove)
        for _ in range(_COMMIT_ATTEMPTS):
            commit = Commit(self._state.version + 1, add, remove, time.time_ns())
            try:
                self.store.write(_commit_path(self.log, commit.version),
                                 _encoder.encode(commit), exclusive=True)
                break
            except VersionTaken:
                _catch_up(self.store, self.log, self._state)
        else:
            msg = f"manifest log {self.log}: {_COMMIT_ATTEMPTS} versions taken in a row"
            raise ManifestError(msg)
        self._state.apply(commit)
        if commit.version % CHECKPOINT_EVERY == 0:
            self.checkpoint()
        return commit.version

    def checkpoint(self) -> None:
        state = self._state
        live = _drop_superseded(state.files)
        state.files = live
        pending = tuple(sorted((ns, path) for path, ns in state.pending.items()))
        body = Checkpoint(state.version, tuple(live.values()), tuple(sorted(state.removed)),
                          pending)
        self.store.write(_checkpoint_path(self.log, state.version), _encoder.encode(body))
        self.store.write(_pointer_path(self.log), _encoder.encode(_Pointer(state.version)))


def _drop_superseded(files: Mapping[str, FileEntry]) -> dict[str, FileEntry]:
    compacted = {path.rpartition("/")[0] for path in files if "/compact-" in path}
    names: dict[str, list[str]] = {directory: [] for directory in compacted}
    for path in files:
        directory, _, name = path.rpartition("/")
        if directory in names:
            names[directory].append(name)
    hidden = {f"{directory}/{name}" for directory, listed in names.items()
              if len(listed) > 1 for name in superseded(listed)}
    if not hidden:
        return dict(files)
    return {path: entry for path, entry in files.items() if path not in hidden}
