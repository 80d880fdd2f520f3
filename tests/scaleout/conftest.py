"""Fixtures of the scale-out tests: a Tansu broker per test (memory storage)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .tansu import Tansu


@pytest.fixture
def tansu(tmp_path: Path) -> Iterator[Tansu]:
    broker = Tansu(tmp_path / "tansu")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
