"""The lake root's marker (``_ticklake/lake.json``) on a local disk, with ``os`` alone.

A mistyped ``--lake`` must fail in one line before anything is recorded, and must not litter
a directory that holds something else. The recorder's process checks this itself and never
imports the storage layer (pyarrow: ~40 MB); ``LakeStorage.ensure_marker`` applies the same
rules on any filesystem.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable

from ticklake.errors import StorageError, missing_bucket
from ticklake.tables import FORMAT_VERSION, MARKER

MARKER_BODY = json.dumps({"format": FORMAT_VERSION}).encode()
_MISSING_BUCKET = re.compile(r"Bucket '([^']+)' not found")


def ensure_local_marker(root: str) -> None:
    """Mark the local directory ``root`` as a lake (idempotent); refuse a file or a directory
    that holds anything else."""
    base = os.path.abspath(root)
    marker = os.path.join(base, MARKER)
    try:
        if os.path.isfile(marker):
            return
        if os.path.isfile(base):
            raise StorageError(not_a_directory(root))
        if os.path.isdir(base) and foreign_entries(os.listdir(base)):
            raise StorageError(not_a_lake(root))
        os.makedirs(os.path.dirname(marker), exist_ok=True)
        with open(marker, "wb") as out:
            out.write(MARKER_BODY)
    except OSError as exc:
        raise StorageError(cannot_write(root, exc)) from exc


def foreign_entries(names: Iterable[str]) -> bool:
    """Whether a would-be lake root holds anything but ``_ticklake/`` (which another writer
    creating the same new lake at this moment may have made just before its marker)."""
    return any(name != MARKER.split("/", 1)[0] for name in names)


def not_a_directory(root: str) -> str:
    return f"the lake root {root} is a file, not a directory"


def not_a_lake(root: str) -> str:
    return (f"{root} is not empty and not a ticklake lake (no {MARKER});"
            " choose an empty or new directory")


def cannot_write(root: str, exc: Exception) -> str:
    bucket = _MISSING_BUCKET.search(str(exc))
    if bucket is not None:  # (pyarrow's hint names an option of its own, not ticklake's)
        return str(missing_bucket(root, bucket.group(1)))
    return f"cannot write to the lake at {root}: {exc}"
