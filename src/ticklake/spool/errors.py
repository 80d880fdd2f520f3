"""Errors raised by the spool, under ``TicklakeError`` (see ``ticklake.errors``).

::

    TicklakeError
    └── SpoolError        an operation on the spool failed (I/O error, closed writer, bad offset)
        └── SpoolCorrupt  bytes on disk that can only be damage: names the file and byte position
"""

from __future__ import annotations

from ticklake.errors import TicklakeError


class SpoolError(TicklakeError):
    """An operation on the spool failed; the message is one line and names the problem."""


class SpoolCorrupt(SpoolError):
    """Damaged data where a torn tail is impossible (e.g. inside an older segment)."""
