"""A lake on an S3-compatible store (SeaweedFS on 127.0.0.1) replays as a local one: the
``AWS_*`` environment says where, as for every ticklake command (docs/s3.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from ticklake.emulator.replay.config import ReplayError
from ticklake.emulator.replay.products import Products
from ticklake.emulator.replay.source import Archive
from ticklake.emulator.replay.wire import BOOK_SNAPSHOT, TRADES

from ..seaweed import SeaweedFS
from .helpers import T0, Archived, book, items, lake_of, trades


def test_an_s3_lake_replays_as_a_local_one(tmp_path: Path, seaweed: SeaweedFS,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    archived = Archived()
    archived.control()
    archived.add(trades("BTCUSD", 1, [[T0, "Buy", 900_000_000, 3]], "snapshot"))
    archived.add(book("BTCUSD", 2, T0 + 1, bids=[[1, 1]], kind="snapshot"))
    local = lake_of(tmp_path / "lake", archived)
    prefix = f"{seaweed.bucket}/{tmp_path.name}"
    pafs.copy_files(str(local), prefix, destination_filesystem=seaweed.filesystem())
    for name, value in seaweed.env().items():
        monkeypatch.setenv(name, value)
    root = f"s3://{prefix}"
    assert [(i.kind, i.seq) for i in items(root)] == [(TRADES, 1), (BOOK_SNAPSHOT, 2)]
    products = Products.from_control(Archive(root).control_payloads(None))
    assert json.loads(products.body())["data"]["products"][0]["symbol"] == "BTCUSD"
    with pytest.raises(ReplayError, match="no lake at"):
        Archive(f"s3://{seaweed.bucket}/nothing-here")
