"""Who gets in: the token on every HTTP request and on the live WebSocket; Host and Origin
checks; the non-loopback rule."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from ticklake.dashboard import DashboardConfig, DashboardServer
from ticklake.dashboard.auth import COOKIE, cookie_value
from ticklake.dashboard.config import is_loopback
from ticklake.errors import ConfigError

from ...support import scaled
from .client import request
from .stack import LakeServer

TOKEN = "s3cret-token-for-tests"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize("path", ["/", "/api/info", "/api/lake", "/static/js/main.js",
                                  "/vendor/plotly.min.js", "/api/symbols"])
def test_every_http_path_needs_the_token(token_server: LakeServer, path: str) -> None:
    refused = request(token_server.url + path)
    assert refused.status == 401
    assert refused.json()["error"].startswith("missing or wrong token")
    wrong = request(token_server.url + path, headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    assert request(token_server.url + path, headers=BEARER).status == 200


def test_sql_needs_the_token(token_server: LakeServer) -> None:
    body = {"sql": "SELECT 1 AS one"}
    assert request(f"{token_server.url}/api/sql", method="POST", body=body).status == 401
    ok = request(f"{token_server.url}/api/sql", method="POST", body=body, headers=BEARER)
    assert ok.status == 200 and ok.json()["rows"] == [[1]]


def test_token_in_the_url_is_traded_for_a_strict_cookie(token_server: LakeServer) -> None:
    reply = request(f"{token_server.url}/?token={TOKEN}&x=1")
    assert reply.status == 303
    assert reply.headers["location"] == "/?x=1"  # the token leaves the address bar
    cookie = reply.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={cookie_value(TOKEN)};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    jar = {"Cookie": cookie.split(";")[0]}
    assert request(f"{token_server.url}/api/info", headers=jar).status == 200
    forged = {"Cookie": f"{COOKIE}={cookie_value('another-token-entirely')}"}
    assert request(f"{token_server.url}/api/info", headers=forged).status == 401
    assert request(f"{token_server.url}/?token=wrong").status == 401


def test_the_live_socket_needs_the_token(token_server: LakeServer) -> None:
    ws_url = token_server.url.replace("http://", "ws://") + "/api/live"

    async def hello(**kwargs: Any) -> dict[str, Any]:
        async with websockets.connect(ws_url, open_timeout=scaled(10), **kwargs) as ws:
            return dict(json.loads(await asyncio.wait_for(ws.recv(), scaled(10))))

    async def scenario() -> None:
        with pytest.raises(InvalidStatus) as refused:
            await hello()
        assert refused.value.response.status_code == 401
        with pytest.raises(InvalidStatus) as wrong:
            await hello(additional_headers={"Authorization": "Bearer wrong"})
        assert wrong.value.response.status_code == 401
        assert (await hello(additional_headers=BEARER)) == {"type": "hello", "recording": False}
        cookie = {"Cookie": f"{COOKIE}={cookie_value(TOKEN)}"}
        assert (await hello(additional_headers=cookie))["type"] == "hello"

    asyncio.run(scenario())


def test_a_foreign_page_cannot_open_the_live_socket(server: LakeServer) -> None:
    ws_url = server.url.replace("http://", "ws://") + "/api/live"

    async def scenario() -> None:
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(ws_url, origin="http://evil.example"):  # type: ignore[arg-type]
                pass
        assert refused.value.response.status_code == 403
        async with websockets.connect(ws_url, origin=server.url) as ws:  # type: ignore[arg-type]
            assert json.loads(await ws.recv())["recording"] is False

    asyncio.run(scenario())


def test_without_a_token_only_this_machine_is_a_valid_host(server: LakeServer) -> None:
    # DNS rebinding: evil.example resolving to 127.0.0.1 must not reach the lake.
    refused = request(f"{server.url}/api/lake", headers={"Host": "evil.example"})
    assert refused.status == 403
    assert refused.json()["error"] == "host 'evil.example' is not this machine"
    assert request(f"{server.url}/api/lake",
                   headers={"Host": f"localhost:{server.port}"}).status == 200


def test_binding_beyond_loopback_needs_a_token(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        DashboardServer(DashboardConfig(str(tmp_path), None, host="0.0.0.0"))
    assert refused.value.field == "dashboard.token"
    assert "\n" not in str(refused.value) and "0.0.0.0" in str(refused.value)
    with pytest.raises(ConfigError, match="at least 16 characters"):
        DashboardServer(DashboardConfig(str(tmp_path), None, host="0.0.0.0", token="short"))
    DashboardServer(DashboardConfig(str(tmp_path), None, host="0.0.0.0", token=TOKEN))
    DashboardServer(DashboardConfig(str(tmp_path), None, host="::1"))


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("0.0.0.0", False), ("192.168.1.5", False), ("example.com", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_taken_port_is_a_config_error(server: LakeServer, tmp_path: Path) -> None:
    board = DashboardServer(DashboardConfig(str(tmp_path), None, port=server.port))
    with pytest.raises(ConfigError) as taken:
        asyncio.run(board.serve())
    assert taken.value.field == "dashboard.port"
    assert "cannot listen on 127.0.0.1" in str(taken.value)
