"""Errors of the Kafka-protocol log (one line each, like every TicklakeError)."""

from __future__ import annotations

from ticklake.errors import TicklakeError


class BrokerError(TicklakeError):
    """The log URI is wrong, or the broker refused something we cannot retry."""
