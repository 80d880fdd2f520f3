"""CursorStore: commit/load round trip, atomic replacement, names."""

from __future__ import annotations

from pathlib import Path

import pytest

from ticklake.spool import CursorStore, SpoolCorrupt, SpoolError


def test_never_committed(tmp_path: Path) -> None:
    store = CursorStore(tmp_path / "cursors")
    assert store.load("lake") == (0, b"")
    assert store.names() == []


def test_commit_and_load_round_trip(tmp_path: Path) -> None:
    store = CursorStore(tmp_path / "cursors")
    store.commit("lake", 42, b"\x00\xffstate")
    store.commit("detector", 7)
    assert store.load("lake") == (42, b"\x00\xffstate")
    assert store.load("detector") == (7, b"")
    store.commit("lake", 43, b"")
    assert CursorStore(tmp_path / "cursors").load("lake") == (43, b"")
    big = bytes(range(256)) * 1000
    store.commit("replay.v2", 2**63, big)
    assert store.load("replay.v2") == (2**63, big)
    assert store.names() == ["detector", "lake", "replay.v2"]


def test_a_crash_before_rename_keeps_the_old_cursor(tmp_path: Path) -> None:
    directory = tmp_path / "cursors"
    store = CursorStore(directory)
    store.commit("lake", 10, b"old")
    # what a commit killed between writing its temp file and the rename leaves behind
    (directory / ".lake.abc123.tmp").write_bytes(b"half-written new cursor")
    assert store.load("lake") == (10, b"old")
    assert store.names() == ["lake"]
    store.commit("lake", 11, b"new")
    assert store.load("lake") == (11, b"new")
    assert sorted(p.name for p in directory.iterdir()) == [".lake.abc123.tmp", "lake.cursor"]


def test_damaged_cursor_is_corrupt(tmp_path: Path) -> None:
    store = CursorStore(tmp_path)
    store.commit("lake", 10, b"state")
    path = tmp_path / "lake.cursor"
    data = bytearray(path.read_bytes())
    data[9] ^= 1
    path.write_bytes(data)
    with pytest.raises(SpoolCorrupt, match=r"lake\.cursor"):
        store.load("lake")
    path.write_bytes(data[:5])
    with pytest.raises(SpoolCorrupt, match="truncated"):
        store.load("lake")


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "../x", "-x", "x" * 129, "é"])
def test_invalid_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(SpoolError, match="invalid consumer name"):
        CursorStore(tmp_path).commit(name, 1)


def test_invalid_offset(tmp_path: Path) -> None:
    with pytest.raises(SpoolError, match="invalid cursor"):
        CursorStore(tmp_path).commit("lake", -1)
