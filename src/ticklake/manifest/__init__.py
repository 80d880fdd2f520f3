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

From the objects up: ``entries`` (structs, codec), ``store`` (where they live), ``log`` (one
log, its writing end), ``reader`` (every log, the live files), ``ranges`` (what pruning
reads), ``from_files`` (the build from a lake's files).
"""

from ticklake.errors import ManifestError, VersionTaken
from ticklake.manifest.entries import (
    ANOMALIES_LOG,
    COMPACT_LOG,
    DETECT_LOG,
    FORMAT,
    IMPORT_LOG,
    MANIFEST_DIR,
    MARKER,
    SPOOL_LOG,
    UNKNOWN_SCHEMA,
    Checkpoint,
    Commit,
    FileEntry,
    entry_for,
    log_for_stream,
)
from ticklake.manifest.from_files import BuildStats, build, entry_from_footer, iter_data_files
from ticklake.manifest.log import CHECKPOINT_EVERY, ManifestLog
from ticklake.manifest.ranges import RANGE_COLUMNS, TIMESTAMP_TWINS, footer_range, table_ranges
from ticklake.manifest.reader import REMOTE_DISCOVERY_SECONDS, Manifest
from ticklake.manifest.store import ManifestStore, is_complete, mark_complete

__all__ = [
    "ANOMALIES_LOG",
    "CHECKPOINT_EVERY",
    "COMPACT_LOG",
    "DETECT_LOG",
    "FORMAT",
    "IMPORT_LOG",
    "MANIFEST_DIR",
    "MARKER",
    "RANGE_COLUMNS",
    "REMOTE_DISCOVERY_SECONDS",
    "SPOOL_LOG",
    "TIMESTAMP_TWINS",
    "UNKNOWN_SCHEMA",
    "BuildStats",
    "Checkpoint",
    "Commit",
    "FileEntry",
    "Manifest",
    "ManifestError",
    "ManifestLog",
    "ManifestStore",
    "VersionTaken",
    "build",
    "entry_for",
    "entry_from_footer",
    "footer_range",
    "is_complete",
    "iter_data_files",
    "log_for_stream",
    "mark_complete",
    "table_ranges",
]
