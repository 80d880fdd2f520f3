"""Where a manifest lives: local disk with os, anything else through pyarrow.fs.

Objects are written whole (temp + rename locally; one PUT on S3), so a reader sees a commit
entirely or not at all.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ticklake.errors import ManifestError, VersionTaken
from ticklake.manifest.entries import FORMAT, MANIFEST_DIR, MARKER, _encoder

if TYPE_CHECKING:
    import pyarrow.fs as pafs


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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def is_complete(store: ManifestStore) -> bool:
    """Whether the lake has a manifest (built once; every writer keeps it from then on)."""
    return store.read(MARKER) is not None


def mark_complete(store: ManifestStore) -> None:
    store.write(MARKER, _encoder.encode({"format": FORMAT}))
