"""The lake marker: a new lake is claimed once, a foreign directory is refused, and writers
that create the same new lake at the same moment do not refuse each other."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ticklake.errors import StorageError
from ticklake.lake.storage import LakeStorage
from ticklake.tables import MARKER


def test_a_root_another_writer_is_claiming_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "lake" / "_ticklake").mkdir(parents=True)  # the other one's marker is next
    LakeStorage(str(tmp_path / "lake")).ensure_marker()
    assert (tmp_path / "lake" / MARKER).is_file()


def test_a_foreign_directory_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(StorageError, match="not a ticklake lake"):
        LakeStorage(str(tmp_path / "photos")).ensure_marker()
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == ["cat.jpg"]


def test_many_writers_creating_one_new_lake_all_succeed(tmp_path: Path) -> None:
    root = str(tmp_path / "new-lake")
    errors: list[Exception] = []
    start = threading.Barrier(8)

    def claim() -> None:
        start.wait()
        try:
            LakeStorage(root).ensure_marker()
        except StorageError as exc:
            errors.append(exc)

    for _ in range(20):  # the race window is small: try it many times
        threads = [threading.Thread(target=claim) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        (tmp_path / "new-lake" / MARKER).unlink()
        (tmp_path / "new-lake" / "_ticklake").rmdir()
