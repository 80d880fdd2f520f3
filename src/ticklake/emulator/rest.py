"""HTTP on the WebSocket port (websockets ``process_request``): upgrade gatekeeping, REST
products and the control endpoint.

* Upgrade on ``/`` and ``/ws`` (``/ws`` → 410 when ``legacy_410``); any other path or a query
  string → 404; ``refuse`` fault → 503; ``max_connections`` reached → 429.
* ``GET /public/products`` and ``GET /exchange/public/cfg/v2/products`` → the products JSON
  of the configured catalog, in its shape (catalog_payload.py).
* ``GET /control/state`` → state JSON (``clock``: the exchange clock's speed and now_ns);
  ``/control/fault?kind=&target=&seconds=&count=`` →
  ``{"ok":true,"affected":N}`` (book faults: ``kind=book_drop&target=BTCUSD`` aims at every
  connection watching that book; ``kind=ticker_malformed&target=3``: connection 3's next
  ticker frame is broken, ``kind=kline_malformed`` its next kline frame);
  ``/control/halt``, ``/control/resume`` → ``{"ok":true}``;
  ``/control/swing?symbol=&k=&seconds=&direction=&shape=`` (a labelled price swing of ``k``
  local sigmas starting now, lasting ``seconds`` of exchange time; shapes step, ramp, v,
  grind) → ``{"ok":true,"label":{...}}``.
  Bad parameters → 400 ``{"error":"..."}``; unknown ``/control/*`` → 404.
"""

from __future__ import annotations

import email.utils
import http
import json
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from ticklake.emulator.catalog_payload import payload

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from ticklake.emulator.server import Emulator

__all__ = ["process_request"]

PRODUCT_PATHS = frozenset({"/public/products", "/exchange/public/cfg/v2/products"})
WS_PATHS = frozenset({"/", "/ws"})


@cache
def _products_body(catalog: str, symbols: tuple[str, ...]) -> bytes:
    """The catalog's payload; basic lists the synthetic products among ``symbols``, too."""
    return json.dumps(payload(catalog, symbols), separators=(",", ":")).encode()


def respond(status: int, body: bytes, content_type: str = "application/json") -> Response:
    code = http.HTTPStatus(status)
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", content_type),
        ]
    )
    return Response(code.value, code.phrase, headers, body)


def _json(status: int, obj: object) -> Response:
    return respond(status, json.dumps(obj, separators=(",", ":")).encode())


def _text(status: int, text: str) -> Response:
    return respond(status, text.encode(), "text/plain; charset=utf-8")


def process_request(
    emu: Emulator, connection: ServerConnection, request: Request
) -> Response | None:
    path, _, query = request.path.partition("?")
    upgrade = "websocket" in request.headers.get("Upgrade", "").lower()
    if path.startswith("/control/") and not upgrade:
        return _control(emu, path.removeprefix("/control/"), query)
    if path in PRODUCT_PATHS and not upgrade:
        return respond(200, _products_body(emu.config.catalog, emu.config.symbols))
    if path not in WS_PATHS or query:
        return _text(404, "Not Found\n")
    if path == "/ws" and emu.config.legacy_410:
        return _text(410, "Gone\n")
    if not upgrade:
        return None  # websockets answers 426 Upgrade Required
    if emu.injector.refusing():
        return _text(503, "Service Unavailable\n")
    limit = emu.config.max_connections
    if limit and sum(1 for c in emu.clients.values() if not c.closing) >= limit:
        return _text(429, "Too Many Requests\n")
    return None


def _control(emu: Emulator, action: str, query: str) -> Response:
    try:
        args = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    except ValueError as exc:
        return _json(400, {"error": f"bad query string: {exc}"})
    if action == "state":
        return _json(200, emu.state())
    if action == "halt":
        emu.halt()
        return _json(200, {"ok": True})
    if action == "resume":
        emu.resume()
        return _json(200, {"ok": True})
    if action == "swing":
        return _swing(emu, args)
    if action != "fault":
        return _json(404, {"error": f"unknown control action {action!r}"})
    unknown = set(args) - {"kind", "target", "seconds", "count"}
    if unknown:
        return _json(400, {"error": f"unknown parameter {sorted(unknown)[0]!r}"})
    if "kind" not in args:
        return _json(400, {"error": "missing parameter 'kind'"})
    try:
        count = _number(args, "count", int)
        affected = emu.inject(
            args["kind"],
            args.get("target", "all"),
            _number(args, "seconds", float),
            1 if count is None else count,
        )
    except ValueError as exc:
        return _json(400, {"error": str(exc)})
    return _json(200, {"ok": True, "affected": affected})


def _swing(emu: Emulator, args: dict[str, str]) -> Response:
    unknown = set(args) - {"symbol", "k", "seconds", "direction", "shape"}
    if unknown:
        return _json(400, {"error": f"unknown parameter {sorted(unknown)[0]!r}"})
    try:
        size = _number(args, "k", float)
        seconds = _number(args, "seconds", float)
        label = emu.inject_swing(
            args.get("symbol") or None, 10.0 if size is None else size,
            5.0 if seconds is None else seconds, args.get("direction", "down"),
            args.get("shape", "ramp"),
        )
    except ValueError as exc:
        return _json(400, {"error": str(exc)})
    return _json(200, {"ok": True, "label": label.to_record()})


def _number(args: dict[str, str], name: str, kind: type[Any]) -> Any:
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return kind(raw)
    except ValueError:
        msg = f"invalid {name} {raw!r}"
        raise ValueError(msg) from None
