"""The manifest: which files of the lake are live, so readers never list the store.

Like a Delta log, but one log per writer, so no two processes ever write the same object::

    <root>/_ticklake/manifest/manifest.json              {"format": 1}: the manifest is complete
    <root>/_ticklake/manifest/<log>/<version>.json       one commit: files added / removed
    <root>/_ticklake/manifest/<log>/<version>.checkpoint.json   the log's state at <version>
    <root>/_ticklake/manifest/<log>/_last_checkpoint.json       {"version": <version>}

A log is written by one writer at a time: ``spool`` by the recorder's lake writer (and the
compaction it runs), ``<topic>.<partition>`` by the ``deliver`` worker owning that Kafka
partition, ``anomalies`` by the detector, ``compact`` by a manual ``ticklake compact``,
``import`` by the one-time build from the files of a lake written before manifests.
Versions count 1, 2, 3...; a commit is one object written whole (temp + rename locally,
where an existing version is never overwritten; one PUT on S3), so a reader sees a commit
entirely or not at all. A reader loads the latest checkpoint of each log and the commits
after it, and later asks only for the next version of each log: no LIST on S3.

The live files are the union of every log's additions minus every log's removals, then minus
the files a ``compact-`` file of the same stream covers (``tables.superseded``): commits are
idempotent sets, so a writer that crashed after a commit and redoes the same batch commits
the same files again, harmlessly. Each file carries its rows, bytes and the min/max of the
table's nanosecond time columns, which is what lets a reader prune by time without a footer.
"""

from __future__ import annotations

import gc
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import msgspec

from ticklake.errors import TicklakeError
from ticklake.tables import PARTITIONS, superseded

if TYPE_CHECKING:
    import pyarrow.fs as pafs

MANIFEST_DIR: Final = "_ticklake/manifest"
MARKER: Final = f"{MANIFEST_DIR}/manifest.json"
FORMAT: Final = 1
CHECKPOINT_EVERY: Final = 20  # commits between checkpoints: a cold reader reads at most 20
SPOOL_LOG: Final = "spool"
IMPORT_LOG: Final = "import"
ANOMALIES_LOG: Final = "anomalies"
COMPACT_LOG: Final = "compact"
DETECT_LOG: Final = "detect"
_COMMIT_ATTEMPTS: Final = 100
REMOTE_DISCOVERY_SECONDS: Final = 30.0
# The int64 nanosecond columns whose min/max each file entry keeps, and their timestamp twin
# (the same instant in microseconds, what SQL users filter on).
RANGE_COLUMNS: Final[Mapping[str, tuple[str, ...]]] = {
    "trades": ("ts_ns",),
    "raw": ("recv_ns",),
    "gaps": ("from_ns", "to_ns", "detected_ns"),
    "rejected": ("recv_ns",),
    "anomalies": ("ts_start_ns", "ts_detect_ns", "ts_end_ns"),
}
TIMESTAMP_TWINS: Final[Mapping[str, str]] = {
    "ts_ns": "ts", "recv_ns": "recv_ts", "from_ns": "from_ts", "to_ns": "to_ts",
    "ts_start_ns": "ts_start", "ts_detect_ns": "ts_detect", "ts_end_ns": "ts_end",
}


class ManifestError(TicklakeError):
    """The manifest cannot be read or written."""


class VersionTaken(ManifestError):
    """Another writer committed this version of the log first."""


class FileEntry(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """One published Parquet file; ``path`` is relative to the lake root."""

    path: str
    table: str
    partition: tuple[str, ...]  # values of PARTITIONS[table], outermost first
    rows: int
    bytes: int
    ranges: dict[str, tuple[int, int]] = {}  # ns column -> (min, max); absent if no rows
    schema: int = 1  # the table's schema version (union_by_name only across versions)
    published_ns: int = 0  # wall clock when it was committed (or the file's mtime)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]

    @property
    def directory(self) -> str:
        return self.path.rsplit("/", 1)[0]


class Commit(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    version: int
    add: tuple[FileEntry, ...] = ()
    remove: tuple[str, ...] = ()
    created_ns: int = 0


class Checkpoint(msgspec.Struct, frozen=True, gc=False):
    version: int
    files: tuple[FileEntry, ...]  # the log's own additions still live
    removed: tuple[str, ...]  # removals of files other logs added
    # Files removed but maybe not yet deleted (a writer killed between a compaction's
    # commit and its deletes): (removed at ns, path).
    pending: tuple[tuple[int, str], ...] = ()


class _Pointer(msgspec.Struct, frozen=True):
    version: int


_commit_decoder = msgspec.json.Decoder(Commit)
_checkpoint_decoder = msgspec.json.Decoder(Checkpoint)
_pointer_decoder = msgspec.json.Decoder(_Pointer)
_encoder = msgspec.json.Encoder()


def log_for_stream(stream: str) -> str:
    """The log of a lake writer's stream ("" is the local spool)."""
    return stream or SPOOL_LOG


def entry_for(path: str, table: str, partition: Iterable[str], rows: int, size: int,
              ranges: Mapping[str, tuple[int, int]] | None = None) -> FileEntry:
    return FileEntry(path, table, tuple(partition), int(rows), int(size),
                     dict(ranges or {}), published_ns=time.time_ns())


# -- the store: local disk with os, anything else through pyarrow.fs ---------------------------


@dataclass
class ManifestStore:
    """Where a lake's manifest lives: ``base`` on ``filesystem`` (None: the local disk)."""

    base: str
    filesystem: pafs.FileSystem | None = None
    gets: int = 0  # reads and probes, for tests and benchmarks
    lists: int = 0

    @property
    def local(self) -> bool:
        return self.filesystem is None

    def path(self, relpath: str) -> str:
        return f"{self.base}/{relpath}"

    def read(self, relpath: str) -> bytes | None:
        """The object's bytes, or None if it does not exist."""
        self.gets += 1
        full = self.path(relpath)
        if self.filesystem is None:
            try:
                with open(full, "rb") as f:
                    return f.read()
            except FileNotFoundError:
                return None
            except OSError as exc:
                msg = f"cannot read {full}: {exc}"
                raise ManifestError(msg) from None
        import pyarrow as pa

        try:
            with self.filesystem.open_input_stream(full) as stream:
                return bytes(stream.read())
        except FileNotFoundError:
            return None
        except (OSError, pa.ArrowException) as exc:
            if "not found" in str(exc).lower() or "NoSuchKey" in str(exc):
                return None
            msg = f"cannot read {full}: {_first_line(exc)}"
            raise ManifestError(msg) from None

    def write(self, relpath: str, data: bytes, *, exclusive: bool = False) -> None:
        """Write an object whole. ``exclusive``: fail if it exists (local disks; on S3 the
        single writer of a log is the guarantee)."""
        full = self.path(relpath)
        if self.filesystem is None:
            _write_local(full, data, exclusive=exclusive)
            return
        import pyarrow as pa

        try:
            with self.filesystem.open_output_stream(full) as out:
                out.write(data)
        except (OSError, pa.ArrowException) as exc:
            msg = f"cannot write {full}: {_first_line(exc)}"
            raise ManifestError(msg) from None

    def logs(self) -> list[str]:
        """The logs of the manifest (one shallow listing)."""
        self.lists += 1
        full = self.path(MANIFEST_DIR)
        if self.filesystem is None:
            try:
                return sorted(n for n in os.listdir(full) if os.path.isdir(f"{full}/{n}"))
            except FileNotFoundError:
                return []
        import pyarrow as pa
        import pyarrow.fs as pafs

        try:
            infos = self.filesystem.get_file_info(
                pafs.FileSelector(full, recursive=False, allow_not_found=True))
        except (OSError, pa.ArrowException) as exc:
            msg = f"cannot list {full}: {_first_line(exc)}"
            raise ManifestError(msg) from None
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)


def _write_local(full: str, data: bytes, *, exclusive: bool) -> None:
    directory = full.rsplit("/", 1)[0]
    temp = f"{directory}/.{uuid.uuid4().hex}.tmp"
    try:
        os.makedirs(directory, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if exclusive:
            os.link(temp, full)  # fails if the version exists: no second writer overwrites
        else:
            os.replace(temp, full)
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except FileExistsError:
        msg = f"{full} exists already"
        raise VersionTaken(msg) from None
    except OSError as exc:
        msg = f"cannot write {full}: {exc}"
        raise ManifestError(msg) from None
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def is_complete(store: ManifestStore) -> bool:
    """Whether the lake has a manifest (built once; every writer keeps it from then on)."""
    return store.read(MARKER) is not None


def mark_complete(store: ManifestStore) -> None:
    store.write(MARKER, _encoder.encode({"format": FORMAT}))


# -- one log --------------------------------------------------------------------------------


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


def _decode(decoder: msgspec.json.Decoder[Any], body: bytes, log: str) -> Any:
    # A checkpoint of 100k files makes ~300k containers at once; the cyclic GC would walk
    # them again and again while they are made (half the decode time). They hold no cycles.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return decoder.decode(body)
    except msgspec.DecodeError as exc:
        msg = f"manifest log {log} is damaged: {exc}"
        raise ManifestError(msg) from None
    finally:
        if collecting:
            gc.enable()


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


# -- the reading end --------------------------------------------------------------------------


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


# -- building it from the files of a lake written before manifests ------------------------------


def iter_data_files(paths: Iterable[tuple[str, int]]) -> Iterator[tuple[str, str, tuple[str, ...],
                                                                        int]]:
    """(path, table, partition values, size) of the Hive data files among ``paths``
    (relative to the root): what the lake's readers and other engines read."""
    for path, size in paths:
        table, *dirs, name = path.split("/")
        keys = PARTITIONS.get(table)
        if keys is None or len(dirs) != len(keys):
            continue
        if not name.endswith(".parquet") or name.startswith((".", "_")):
            continue
        if not all(d.startswith(f"{k}=") for d, k in zip(dirs, keys, strict=True)):
            continue
        yield path, table, tuple(d.split("=", 1)[1] for d in dirs), size


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass
class BuildStats:
    """What :func:`build` changed: files it added, removed, and found unreadable."""

    added: int = 0
    removed: int = 0
    unreadable: list[str] = field(default_factory=list)
    files: int = 0  # data files in the lake


def build(store: ManifestStore, *, threads: int = 8) -> BuildStats:
    """Make the manifest describe the data files the lake holds, from one listing.

    For a lake written before manifests (or files another tool wrote in the layout): files
    the manifest does not know are added with their footer's rows and time ranges, files it
    lists that are gone are removed, both in the ``import`` log; then the manifest is marked
    complete. Idempotent; safe beside writers (theirs are other logs).
    """
    from concurrent.futures import ThreadPoolExecutor

    stats = BuildStats()
    listing = _list_data(store)
    mtimes = {path: mtime for path, _, mtime in listing}
    on_disk = {path: (table, values, size) for path, table, values, size
               in iter_data_files((path, size) for path, size, _ in listing)}
    stats.files = len(on_disk)
    known: dict[str, FileEntry] = {}
    if is_complete(store):
        reader = Manifest(store)
        for table in PARTITIONS:
            known.update((entry.path, entry) for entry in reader.files(table, hidden=True))
    missing = sorted(set(on_disk) - set(known))

    def footer(path: str) -> FileEntry | None:
        table, values, size = on_disk[path]
        return entry_from_footer(store, path, table, values, size, mtimes[path])

    with ThreadPoolExecutor(max(1, min(threads, len(missing) or 1))) as pool:
        entries = list(pool.map(footer, missing))
    add = []
    for path, entry in zip(missing, entries, strict=True):
        if entry is None:
            stats.unreadable.append(path)
        else:
            add.append(entry)
    gone = sorted(set(known) - set(on_disk))
    if add or gone:
        log = ManifestLog(store, IMPORT_LOG)
        log.commit(add, gone)
        log.checkpoint()
    stats.added, stats.removed = len(add), len(gone)
    mark_complete(store)
    return stats


def _list_data(store: ManifestStore) -> list[tuple[str, int, int]]:
    """(path relative to the root, size, mtime ns) of every file under the tables'
    directories."""
    out: list[tuple[str, int, int]] = []
    prefix = len(store.base) + 1
    for table in PARTITIONS:
        root = store.path(table)
        store.lists += 1
        if store.filesystem is None:
            for directory, _, names in os.walk(root):
                for name in names:
                    full = f"{directory}/{name}"
                    info = os.stat(full)
                    out.append((full[prefix:], info.st_size, info.st_mtime_ns))
            continue
        import pyarrow as pa
        import pyarrow.fs as pafs

        try:
            infos = store.filesystem.get_file_info(
                pafs.FileSelector(root, recursive=True, allow_not_found=True))
        except (OSError, pa.ArrowException) as exc:
            msg = f"cannot list {root}: {_first_line(exc)}"
            raise ManifestError(msg) from None
        out.extend((i.path[prefix:], int(i.size or 0), int(i.mtime_ns or 0)) for i in infos
                   if i.type == pafs.FileType.File)
    return out


def entry_from_footer(store: ManifestStore, path: str, table: str, values: tuple[str, ...],
                      size: int, mtime_ns: int = 0) -> FileEntry | None:
    """A file's entry from its Parquet footer (rows, time ranges); None if unreadable."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(store.path(path), filesystem=store.filesystem)
    except (OSError, pa.ArrowException):
        return None
    ranges = {}
    for column in RANGE_COLUMNS[table]:
        found = footer_range(meta, column)
        if found is not None:
            ranges[column] = found
    return FileEntry(path, table, values, int(meta.num_rows), size, ranges,
                     published_ns=mtime_ns)


def footer_range(meta: object, column: str) -> tuple[int, int] | None:
    """(min, max) of an int64 column over a Parquet footer's row groups (statistics)."""
    names = meta.schema.names  # type: ignore[attr-defined]
    if column not in names:
        return None
    index = names.index(column)
    low: int | None = None
    high: int | None = None
    for group in range(meta.num_row_groups):  # type: ignore[attr-defined]
        stats = meta.row_group(group).column(index).statistics  # type: ignore[attr-defined]
        if stats is None or not stats.has_min_max:
            return None  # a row group without statistics: no safe range
        lo, hi = int(stats.min), int(stats.max)
        low = lo if low is None else min(low, lo)
        high = hi if high is None else max(high, hi)
    return None if low is None or high is None else (low, high)


def table_ranges(table: str, data: object) -> dict[str, tuple[int, int]]:
    """(min, max) of the ns columns of an Arrow table about to be published."""
    import pyarrow.compute as pc

    out: dict[str, tuple[int, int]] = {}
    if data.num_rows == 0:  # type: ignore[attr-defined]
        return out
    for column in RANGE_COLUMNS[table]:
        if column in data.schema.names:  # type: ignore[attr-defined]
            found = pc.min_max(data[column])  # type: ignore[index]
            low, high = found["min"].as_py(), found["max"].as_py()
            if low is not None and high is not None:
                out[column] = (int(low), int(high))
    return out
