"""Decoder checkpoints kept in the lake: where ``ticklake rebuild`` starts decoding a past day.

The lake writer's decoder carries state from frame to frame (the trades already emitted, each
connection's sequence, the order books); the rows of a day depend on it. So that a day can be
derived again from ``raw`` exactly as the live writer derived it, without decoding the whole
stream from its start, the writer saves, at its first publish of each UTC day (by the receive
time of the batch's last record), its decoder state at the start of that batch (the state it
committed with the previous batch, just before the day's first record), in one small object
per checkpoint::

    <root>/_ticklake/checkpoints/<log>/<offset:020d>.state      the state at that offset

(``<log>``: ``spool`` for the local spool, the stream id for a Kafka partition). Written whole
(a temp file renamed locally, one PUT on S3); a crash leaves an older checkpoint, never a torn
one. Offset 0 with an empty state is the implicit first checkpoint of every stream.
"""

from __future__ import annotations

import os
from typing import Final

from ticklake.manifest import ManifestStore

CHECKPOINT_DIR: Final = "_ticklake/checkpoints"
_SUFFIX: Final = ".state"


def save_checkpoint(store: ManifestStore, log: str, offset: int, state: bytes) -> None:
    store.write(f"{CHECKPOINT_DIR}/{log}/{offset:020d}{_SUFFIX}", state)


def checkpoint_offsets(store: ManifestStore, log: str) -> list[int]:
    """The offsets with a saved checkpoint, ascending."""
    directory = store.path(f"{CHECKPOINT_DIR}/{log}")
    if store.filesystem is None:
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return []
    else:
        import pyarrow.fs as pafs

        infos = store.filesystem.get_file_info(
            pafs.FileSelector(directory, recursive=False, allow_not_found=True))
        names = [info.base_name for info in infos]
    stems = (name.removesuffix(_SUFFIX) for name in names if name.endswith(_SUFFIX))
    return sorted(int(stem) for stem in stems if stem.isdigit())


def checkpoint_before(store: ManifestStore, log: str, offset: int) -> tuple[int, bytes]:
    """The latest checkpoint at or before ``offset``: (its offset, the decoder state);
    (0, b"") if there is none (decode from the stream's start)."""
    for found in reversed(checkpoint_offsets(store, log)):
        if found <= offset:
            state = store.read(f"{CHECKPOINT_DIR}/{log}/{found:020d}{_SUFFIX}")
            if state is not None:
                return found, state
    return 0, b""
