"""Errors of the catalog and SQL layer; both are user-facing and print as one line."""

from __future__ import annotations

from ticklake.errors import TicklakeError


class QueryError(TicklakeError):
    """A query was refused or failed: bad SQL, a sandbox violation, a time or size limit."""


class FilesGone(QueryError):
    """A file the statement planned to read was deleted meanwhile (compacted away): plan it
    again from a refreshed manifest."""


def is_file_gone(message: str) -> bool:
    return any(text in message for text in _GONE)


_GONE = ("No files found that match the pattern", "No such file or directory",
         "Path does not exist")


class LakeNotFound(TicklakeError):
    """The root holds no ticklake lake (``_ticklake/lake.json`` is missing or unreadable)."""
