"""Shared fixtures: servers the tests need are started here and killed by their own PIDs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .seaweed import SeaweedFS


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
