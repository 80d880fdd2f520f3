"""Errors of the catalog and SQL layer; both are user-facing and print as one line."""

from __future__ import annotations

from ticklake.errors import TicklakeError


class QueryError(TicklakeError):
    """A query was refused or failed: bad SQL, a sandbox violation, a time or size limit."""


class LakeNotFound(TicklakeError):
    """The root holds no ticklake lake (``_ticklake/lake.json`` is missing or unreadable)."""
