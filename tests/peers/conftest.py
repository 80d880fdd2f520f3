"""The peer tests run only when selected with ``-m peers`` (``make test-peers``).

``make test`` deselects them (``-m "not ... and not peers"``), as it does ``long`` and
``compat``; a run without any ``-m`` skips them too, rather than starting peer libraries
in child processes nobody asked for.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _selected_with_m_peers(request: pytest.FixtureRequest) -> None:
    if "peers" not in str(request.config.getoption("markexpr") or ""):
        pytest.skip("peer fidelity tests run with -m peers (make test-peers)")
