"""The ``ticklake`` command line: thin wrappers over ``ticklake.pipeline`` and the emulator.

Each command parses its options, loads the settings and calls one entry point; heavy modules
are imported inside the command that needs them, so ``ticklake sql`` never loads the session
layer and ``ticklake record`` never loads pyarrow. User mistakes (bad settings, unknown
symbols, refused URLs) print one line and exit 2.
"""

from __future__ import annotations

import logging
import sys

import typer

# The command modules register on ``app`` when imported; the order is ``--help``'s.
from ticklake.cli import emulate, lake, record, replay, scaleout  # noqa: F401
from ticklake.cli.app import app
from ticklake.errors import TicklakeError

__all__ = ["app", "main"]


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app(standalone_mode=False)
    except TicklakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        # Usage errors (unknown option, bad value) arrive here in non-standalone mode; typer
        # raises its own vendored click's exception class, so recognise them by what they do.
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        raise
