"""The retry classifier as a table: exception in, verdict out, no socket."""

from __future__ import annotations

import asyncio
import ssl

import pytest
from picows import WSError, WSInvalidMessageError, WSInvalidStatusError, WSInvalidURL
from picows import WSUpgradeResponse as Response

from ticklake.errors import SessionError, SubscriptionRejected
from ticklake.session.failures import Fatal, Retry, classify_failure, describe

URL = "wss://ws.phemex.com"


def status(code: int) -> WSInvalidStatusError:
    return WSInvalidStatusError(f"HTTP {code}", response=Response.create_error_response(code))


SINK = SessionError("frame sink failed: OSError: [Errno 28] No space left on device")
REJECTED = SubscriptionRejected("trade.subscribe", "XRPUSD", 6001, "invalid argument")
BUG = RuntimeError("protocol bug")

# (exception, streamed before, verdict: a Retry reason, or the Fatal error's message)
TABLE: list[tuple[Exception, bool, Retry | Fatal | str]] = [
    (ConnectionRefusedError(111, "Connection refused"), False,
     Retry("ConnectionRefusedError: [Errno 111] Connection refused")),
    (ConnectionResetError(), True, Retry("ConnectionResetError")),
    (ssl.SSLError(1, "handshake failed"), False, Retry("SSLError: handshake failed")),
    (TimeoutError(), False, Retry("TimeoutError")),
    (asyncio.IncompleteReadError(b"", 2), False,
     Retry("IncompleteReadError: 0 bytes read on a total of 2 expected bytes")),
    (WSError("bad opcode"), True, Retry("WSError: bad opcode")),
    (WSInvalidMessageError("malformed response"), False,
     Retry("WSInvalidMessageError: malformed response")),
    (status(429), False, Retry("HTTP 429")),
    (status(408), False, Retry("HTTP 408")),
    (status(500), False, Retry("HTTP 500")),
    (status(502), True, Retry("HTTP 502")),
    (status(503), False, Retry("HTTP 503")),
    (WSInvalidStatusError("no response"), False, Retry("HTTP 0")),
    (status(400), False, f"{URL} refused the WebSocket upgrade: HTTP 400"),
    (status(401), False, f"{URL} refused the WebSocket upgrade: HTTP 401"),
    (status(403), False, f"{URL} refused the WebSocket upgrade: HTTP 403"),
    (status(404), False, f"{URL} refused the WebSocket upgrade: HTTP 404"),
    (status(410), False, f"{URL} refused the WebSocket upgrade: HTTP 410 (the legacy "
                         "endpoint is retired; use wss://ws.phemex.com)"),
    (status(451), False, f"{URL} refused the WebSocket upgrade: HTTP 451"),
    # A URL that streamed before is right: a refusal now is an edge or proxy passing by.
    (status(403), True, Retry("HTTP 403")),
    (status(404), True, Retry("HTTP 404")),
    (WSInvalidURL(URL, "scheme isn't ws or wss"), False,
     f"invalid URL {URL!r}: {URL} isn't a valid URL: scheme isn't ws or wss"),
    (SINK, False, str(SINK)),
    (SINK, True, str(SINK)),
    (REJECTED, True, str(REJECTED)),
    (BUG, True, "protocol bug"),
]


@pytest.mark.parametrize(("exc", "streamed", "expected"), TABLE,
                         ids=[f"{describe(e)}{'-streamed' if s else ''}" for e, s, _ in TABLE])
def test_classify_failure(exc: Exception, streamed: bool, expected: Retry | Fatal | str) -> None:
    verdict = classify_failure(exc, URL, streamed=streamed)
    if isinstance(expected, Retry):
        assert verdict == expected
    else:
        assert isinstance(verdict, Fatal)
        assert str(verdict.error) == expected


@pytest.mark.parametrize("exc", [SINK, REJECTED, BUG])
def test_errors_raised_on_purpose_and_bugs_are_raised_unchanged(exc: Exception) -> None:
    assert classify_failure(exc, URL) == Fatal(exc)


def test_a_refused_url_is_a_session_error() -> None:
    """The CLI prints a ``TicklakeError`` on one line; anything else gets a traceback."""
    for exc in (status(403), WSInvalidURL("ftp://x", "scheme isn't ws or wss")):
        verdict = classify_failure(exc, URL)
        assert isinstance(verdict, Fatal) and isinstance(verdict.error, SessionError)
