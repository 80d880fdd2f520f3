"""Every exception ticklake raises on purpose.

::

    TicklakeError                  user-facing; the CLI prints str(exc) on one line, exit 2
    ├── ConfigError                a setting is wrong; names the field and the value
    ├── UnknownSymbolError         a symbol not in the product table
    ├── ProtocolError              the exchange broke the protocol in a way we cannot absorb
    │   └── SubscriptionRejected   the exchange refused a subscribe (error reply, e.g. 6001)
    └── SessionError               the session cannot go on (connect budget, fatal handshake)

Malformed frames are *not* exceptions: the sans-I/O core turns them into ``FrameRejected``
events so that nothing crashes and nothing is lost (the raw frame is kept with its reason).
"""

from __future__ import annotations


class TicklakeError(Exception):
    """Base of every error meant for the user: one line, no stack trace."""


class ConfigError(TicklakeError):
    """A configuration value is invalid."""

    def __init__(self, field: str, value: object, problem: str) -> None:
        shown = "" if value is None else f" {value!r}"  # a missing value has nothing to show
        super().__init__(f"invalid {field}{shown}: {problem}")
        self.field = field
        self.value = value


class UnknownSymbolError(TicklakeError):
    """A symbol that the product table does not know."""

    def __init__(self, symbol: str, known: list[str]) -> None:
        shown = ", ".join(sorted(known)[:12])
        super().__init__(f"unknown symbol {symbol!r} (known: {shown})")
        self.symbol = symbol


class ProtocolError(TicklakeError):
    """The exchange broke the protocol in a way the client cannot absorb."""


class SubscriptionRejected(ProtocolError):
    """The exchange answered a subscribe with an error reply."""

    def __init__(self, method: str, symbol: str, code: int, message: str) -> None:
        super().__init__(
            f"{method} {symbol} rejected by the exchange: error {code} {message!r}"
        )
        self.method = method
        self.symbol = symbol
        self.code = code
        self.message = message


class SessionError(TicklakeError):
    """The session cannot continue (e.g. the URL is refused permanently)."""
