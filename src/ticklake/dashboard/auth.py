"""Who may talk to the dashboard: a pure ASGI guard in front of every HTTP request and the
live WebSocket.

Rules (docs/dashboard.md, "Security"):

- With a token, each request must present it: ``Authorization: Bearer <token>``, the cookie
  set by opening any page once with ``?token=<token>`` (HttpOnly, SameSite=Strict, so other
  sites' pages cannot ride on it), or ``?token=`` itself. Anything else gets 401.
- Without a token (loopback only, enforced by ``config.check_config``) the Host header must
  name this machine: otherwise any web page could point a DNS name at 127.0.0.1 and read the
  lake through the visitor's browser (DNS rebinding).
- A browser's WebSocket carries an Origin; it must be this dashboard's own, because
  WebSockets are not covered by the same-origin policy.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ticklake.dashboard.config import is_loopback

COOKIE = "ticklake_token"
_WRONG_TOKEN = ("missing or wrong token: send 'Authorization: Bearer <token>' or open the "
                "dashboard once with ?token=<token>")


def cookie_value(token: str) -> str:
    """What the cookie holds: derived from the token (URL-safe), not the token itself."""
    return hmac.new(token.encode(), b"ticklake-dashboard-cookie", hashlib.sha256).hexdigest()


class Guard:
    """ASGI middleware enforcing the rules in the module docstring."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token
        self._cookie = cookie_value(token) if token is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self.token is None and not is_loopback(_hostname(host)):
            await _deny(scope, receive, send, 403, f"host {host!r} is not this machine")
            return
        origin = headers.get("origin")
        if scope["type"] == "websocket" and origin and urlsplit(origin).netloc != host:
            await _deny(scope, receive, send, 403, f"origin {origin!r} is not this dashboard")
            return
        if self.token is None:
            await self.app(scope, receive, send)
            return
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                          keep_blank_values=True)
        via_query = any(k == "token" and self._matches(v) for k, v in query)
        if not (via_query or self._presented(headers)):
            await _deny(scope, receive, send, 401, _WRONG_TOKEN)
            return
        if via_query and scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            # Trade the token in the URL (history, logs, screenshots) for a cookie.
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            await _redirect(send, scope["path"] + (f"?{rest}" if rest else ""), self._cookie)
            return
        await self.app(scope, receive, send)

    def _matches(self, presented: str) -> bool:
        assert self.token is not None
        return hmac.compare_digest(presented.encode(), self.token.encode())

    def _presented(self, headers: Headers) -> bool:
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self._matches(credential.strip()):
            return True
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if (name == COOKIE and self._cookie is not None
                    and hmac.compare_digest(value.encode(), self._cookie.encode())):
                return True
        return False


def _hostname(host: str) -> str:
    """``127.0.0.1:8000`` → ``127.0.0.1``; ``[::1]:8000`` → ``::1``."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _deny(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        start: Message = {"type": "websocket.http.response.start", "status": status,
                          "headers": headers}
        await send(start)
        await send({"type": "websocket.http.response.body", "body": body})
    else:  # the server cannot send a status: closing before accept makes it a 403
        await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})


async def _redirect(send: Send, location: str, cookie: str | None) -> None:
    set_cookie = f"{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Strict"
    await send({
        "type": "http.response.start", "status": 303,
        "headers": [(b"location", location.encode()), (b"set-cookie", set_cookie.encode()),
                    (b"content-length", b"0")],
    })
    await send({"type": "http.response.body", "body": b""})
