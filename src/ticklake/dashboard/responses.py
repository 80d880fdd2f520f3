"""JSON in and out of the API: exact values for tables, one-line errors for everything else.

Values cross to JavaScript, whose numbers are doubles, so whatever a double would change is
sent as text: decimals (exact digits) and integers beyond 2**53. The page parses text to a
number only to plot it.
"""

from __future__ import annotations

import base64
import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ticklake.errors import BadRequest

_MAX_SAFE_INT = 2**53 - 1
_encoder = msgspec.json.Encoder()


class JSON(Response):
    """``application/json`` encoded by msgspec (NaN becomes null rather than an error)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)


def error(message: str, status: int = 400) -> JSON:
    return JSON({"error": message}, status_code=status)


async def user_error(_: Request, exc: Exception) -> Response:
    """A TicklakeError is the user's to fix: its one-line message, status 400."""
    return error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


async def internal_error(_: Request, exc: Exception) -> Response:
    """Anything else is ours: the user gets one line; the server logs the trace (uvicorn
    does, as the exception propagates past this handler)."""
    return error(f"internal error ({type(exc).__name__}); see the server log", 500)


def cell(value: Any) -> Any:
    """One result value as JSON-safe data, exact where a double would not be."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) <= _MAX_SAFE_INT else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else None
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, (list, tuple, dict)):
        return _encoder.encode(_plain(value)).decode()  # nested values shown as JSON text
    return str(value)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return cell(value)


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a one-line TicklakeError."""
    try:
        body = msgspec.json.decode(await request.body())
    except msgspec.DecodeError as exc:
        msg = f"the request body is not JSON: {exc}"
        raise BadRequest(msg) from None
    if not isinstance(body, dict):
        msg = "the request body must be a JSON object"
        raise BadRequest(msg)
    return body


