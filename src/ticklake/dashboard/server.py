"""Running the app under uvicorn inside the caller's event loop (beside a recording).

We bind the socket ourselves: uvicorn answers a bind failure with ``sys.exit``, which would
take a recording down with it, and port 0 needs the chosen port read back. Signals stay with
the embedding program (``ticklake demo`` handles Ctrl+C); cancelling ``serve`` stops the
server gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn

from ticklake.dashboard.app import create_app
from ticklake.dashboard.config import DashboardConfig, check_config
from ticklake.errors import ConfigError
from ticklake.status import LiveRecording

logger = logging.getLogger(__name__)
GRACEFUL_SECONDS = 2
_HOST, _PORT = "dashboard.host", "dashboard.port"


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, started: asyncio.Event) -> None:
        super().__init__(config)
        self._started_event = started

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the embedding program owns SIGINT/SIGTERM

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._started_event.set()


class DashboardServer:
    """One dashboard on one socket; ``port`` and ``url`` are known once ``started`` is set."""

    def __init__(self, config: DashboardConfig, live: LiveRecording | None = None) -> None:
        check_config(config)
        self.config = config
        self.app = create_app(config, live)
        self.started = asyncio.Event()
        self.port: int | None = None

    @property
    def url(self) -> str:
        host = self.config.host
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.port if self.port is not None else self.config.port}/"

    async def serve(self, started: asyncio.Event | None = None) -> None:
        """Serve until cancelled; sets ``self.started`` (and ``started``) once listening."""
        sock = bind(self.config.host, self.config.port)
        self.port = sock.getsockname()[1]
        uv_config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan="off",
            ws="websockets-sansio", http="h11", timeout_graceful_shutdown=GRACEFUL_SECONDS,
        )
        server = _Server(uv_config, self.started)
        books = self.app.state.ticklake.books
        if books is not None:  # the book mirror follows the feed from now on, page or not
            books.start()
        task = asyncio.ensure_future(server.serve(sockets=[sock]))
        relay = asyncio.ensure_future(self._relay(started))
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, GRACEFUL_SECONDS * 2)
            raise
        finally:
            relay.cancel()
            if books is not None:
                books.stop()
            sock.close()

    async def wait_started(self, task: asyncio.Task[None]) -> None:
        """Return once listening; if ``task`` (running ``serve``) ends first, raise its error."""
        waiter = asyncio.ensure_future(self.started.wait())
        try:
            await asyncio.wait([waiter, task], return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if not self.started.is_set():
            task.result()  # re-raises the failure (e.g. the port is taken)
            msg = "the dashboard stopped before it was listening"
            raise RuntimeError(msg)

    async def _relay(self, started: asyncio.Event | None) -> None:
        await self.started.wait()
        logger.info("dashboard on %s", self.url)
        if started is not None:
            started.set()


async def serve_dashboard(
    config: DashboardConfig, live: LiveRecording | None = None,
    started: asyncio.Event | None = None,
) -> None:
    """Serve the dashboard in the current loop until cancelled (see DashboardServer)."""
    await DashboardServer(config, live).serve(started)


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on (host, port), or a one-line ConfigError."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(_HOST, host, exc.strerror or str(exc)) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise ConfigError(_PORT, port,
                          f"cannot listen on {host}: {exc.strerror or exc}") from None
    return sock
