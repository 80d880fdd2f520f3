"""Shared fixtures: servers the tests need are started here and killed by their own PIDs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from .seaweed import SeaweedFS

# Property tests judge results, never speed: no per-example deadline and no "too slow to
# generate" health check, which a loaded machine would trip (a test's own settings may add).
settings.register_profile("ticklake", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ticklake")


# Suites of real processes and long scenarios first, so that with two workers (`make test`:
# pytest-xdist, --dist worksteal) the longest tests start early and the short unit tests
# fill in around them, instead of one long test finishing alone at the end.
LONGEST_FIRST = ("scaleout", "reliability", "integration", "replay", "e2e", "browser",
                 "emulator")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        parts = item.nodeid.split("/")
        suite = parts[1] if len(parts) > 2 and parts[0] == "tests" else ""
        return LONGEST_FIRST.index(suite) if suite in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: a module's tests stay together, in their order


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
