"""Every command's ``--help`` reads as written: no help text loses a ``[section]`` to markup,
and no description is cut or broken mid-sentence in the command list."""

from __future__ import annotations

import inspect
import re

import pytest
import typer
from typer.testing import CliRunner

from ticklake.cli import app

_BOX = re.compile(r"[│╭╮╰╯─]")


def _plain(text: str) -> str:
    """Rendered help without the panels' borders, whitespace collapsed."""
    return " ".join(_BOX.sub(" ", text).split())


def _as_written(text: str) -> str:
    """A help string as a reader should see it: code quotes dropped, whitespace collapsed."""
    return " ".join(text.replace("``", "").replace("`", "").split())


def _help(*args: str) -> str:
    """``ticklake ARGS --help`` as a 100-column terminal shows it."""
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    return _plain(result.output)


GROUP = typer.main.get_command(app)
COMMANDS = sorted(GROUP.commands)  # type: ignore[attr-defined]


def test_the_command_list_shows_each_description_whole() -> None:
    shown = _help()
    for name in COMMANDS:
        command = GROUP.commands[name]  # type: ignore[attr-defined]
        first = inspect.cleandoc(command.help or "").split("\n\n")[0]
        assert _as_written(first) in shown, name
    assert "…" not in shown


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_help_reads_as_written(name: str) -> None:
    command = GROUP.commands[name]  # type: ignore[attr-defined]
    shown = _help(name)
    for param in command.params:
        text = getattr(param, "help", None)
        if text:
            assert _as_written(text) in shown, (name, param.name, text)
    assert _as_written(inspect.cleandoc(command.help or "").split("\n\n")[0]) in shown


def test_a_status_line_to_a_pipe_is_one_line_however_long() -> None:
    """stderr not a terminal (a log file, a container): Rich would wrap at 80 columns."""
    import subprocess
    import sys

    line = " | ".join(f"{n:,} read" for n in range(10**6, 10**6 + 30))
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from ticklake.cli.app import err; "
                               "err.print(sys.argv[1], markup=False, highlight=False)", line],
        capture_output=True, text=True, check=True, env={"TERM": "dumb", "COLUMNS": ""})
    assert done.stderr.splitlines() == [line]
