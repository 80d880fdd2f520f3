"""Bad input to ``record --log`` and ``deliver``: one line naming the problem, exit 2."""

from __future__ import annotations

import pytest

from ..e2e.conftest import run_cli


@pytest.mark.parametrize(("args", "expected"), [
    (("deliver",), "invalid --log: required: kafka://host:port/topic"),
    (("deliver", "--log", "kafka://127.0.0.1:9092"), "no topic"),
    (("deliver", "--log", "redis://h:1/t"), "expected kafka://"),
    (("deliver", "--log", "kafka://h:1/t", "--partitions", "0"), "partitions"),
    (("record", "--log", "kafka://h:99999/t", "--url", "ws://127.0.0.1:1/"), "not a port"),
])
def test_bad_log_input_is_one_line_and_exit_2(args: tuple[str, ...], expected: str) -> None:
    result = run_cli(*args, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr
