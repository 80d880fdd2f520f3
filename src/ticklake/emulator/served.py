"""What the emulator and its replay twin share as servers on a socket: start and stop as an
async context manager, and the port and URL they are reached at."""

from __future__ import annotations

from typing import Any, Self

from websockets.asyncio.server import Server


class Served:
    """Subclasses set ``config`` (with a ``host``) and ``_server`` (None until started) and
    implement ``start`` and ``stop``."""

    config: Any
    _server: Server | None

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            msg = f"{type(self).__name__.lower()} not started"
            raise RuntimeError(msg)
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        host = self.config.host
        return f"ws://[{host}]:{self.port}/" if ":" in host else f"ws://{host}:{self.port}/"
