"""Which failures end a connection and which end the recording: a pure classifier.

Modelled on websockets' ``process_exception`` (``asyncio/client.py``): the reconnect loop
hands over whatever an attempt raised and gets back a verdict, so the whole retry policy is
one table that tests can read without a socket:

=====================================================  =======================================
raised by an attempt                                   verdict
=====================================================  =======================================
``TicklakeError`` (failed frame sink or spool,         ``Fatal``, unchanged: the session raised
refused subscription)                                  it on purpose, with its message
``WSInvalidURL``                                       ``Fatal``: no retry can fix the URL
HTTP 4xx on the upgrade, except 408 and 429            ``Fatal`` before the URL ever streamed;
                                                       ``Retry`` after (a proxy mid-deploy)
HTTP 408, 429, 5xx (or any other status)               ``Retry``: timeout, rate limit, outage
``OSError``, ``TimeoutError``, ``EOFError``,           ``Retry``: network, TLS, framing errors
other ``WSError``
anything else                                          ``Fatal``, unchanged: a bug, not an
                                                       outage; retrying would hide it
=====================================================  =======================================
"""

from __future__ import annotations

from dataclasses import dataclass

from picows import WSError, WSInvalidStatusError, WSInvalidURL

from ticklake.errors import SessionError, TicklakeError

# Statuses that mean "later" rather than "no": Request Timeout, Too Many Requests.
_TRANSIENT_4XX = frozenset({408, 429})
_RETIRED_HINT = " (the legacy endpoint is retired; use wss://ws.phemex.com)"


@dataclass(frozen=True, slots=True)
class Retry:
    """Reconnect after the backoff; ``reason`` is the one line the log shows."""

    reason: str


@dataclass(frozen=True, slots=True)
class Fatal:
    """Stop the recorder and raise ``error``: the same attempt again cannot succeed."""

    error: Exception


def classify_failure(exc: Exception, url: str, *, streamed: bool = False) -> Retry | Fatal:
    """The verdict on ``exc``, raised while connecting to (or serving) ``url``; ``streamed``
    says whether the URL ever delivered data, i.e. is known to be right."""
    if isinstance(exc, TicklakeError):
        return Fatal(exc)
    if isinstance(exc, WSInvalidURL):
        return Fatal(SessionError(f"invalid URL {url!r}: {exc}"))
    if isinstance(exc, WSInvalidStatusError):
        status = int(exc.response.status) if exc.response is not None else 0
        if 400 <= status < 500 and status not in _TRANSIENT_4XX and not streamed:
            hint = _RETIRED_HINT if status == 410 else ""
            return Fatal(SessionError(f"{url} refused the WebSocket upgrade: HTTP {status}{hint}"))
        return Retry(f"HTTP {status}")
    if isinstance(exc, OSError | TimeoutError | EOFError | WSError):
        return Retry(describe(exc))
    return Fatal(exc)


def describe(exc: BaseException) -> str:
    """``Type: message`` on one line (just ``Type`` when the message is empty)."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
