"""Peers pointed at a local server: what cryptofeed needs to talk to the emulator or a bench
server instead of Phemex (shared by bench/ingest.py and bench/books.py)."""

from __future__ import annotations

from typing import Any


def point_cryptofeed_at(url: str) -> None:
    """Point cryptofeed's Phemex feed (websocket and products REST) at ``url`` (``ws://``)."""
    import cryptofeed.connection as cf_connection
    import websockets
    from cryptofeed.connection import RestEndpoint, Routes, WebsocketEndpoint
    from cryptofeed.exchanges import Phemex

    def plain_connect(address: str, **kwargs: Any) -> Any:  # it insists on wss://; no TLS here
        return websockets.connect(address.replace("wss://", "ws://", 1), **kwargs)

    cf_connection.connect = plain_connect
    http = url.replace("ws://", "http://").rstrip("/")
    Phemex.websocket_endpoints = [WebsocketEndpoint(http.replace("http://", "wss://") + "/ws",
                                                    limit=20)]
    Phemex.rest_endpoints = [RestEndpoint(http, routes=Routes(
        "/exchange/public/cfg/v2/products"))]
