"""``replay``: a lake's archive served as a live Phemex exchange (docs/replay.md)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Annotated

import typer

from ticklake.cli.app import app, err
from ticklake.errors import ConfigError, LakeNotFound, StorageError, TicklakeError

if TYPE_CHECKING:
    from ticklake.emulator.replay import ReplayConfig, ReplayError


@app.command()
def replay(
    lake: Annotated[str, typer.Option(
        "--lake", help="Lake root to replay: directory or s3://bucket/prefix")],
    from_: Annotated[str | None, typer.Option(
        "--from", help="Replay the frames received from this time on: ISO 8601 (UTC unless "
                       "an offset is given) or epoch ns [default: the archive's start]",
        show_default=False)] = None,
    to: Annotated[str | None, typer.Option(
        help="Replay the frames received up to this time, inclusive (same forms) "
             "[default: the archive's end]", show_default=False)] = None,
    symbols: Annotated[str | None, typer.Option(
        help="Comma-separated symbols to serve [default: every symbol of the archive]",
        show_default=False)] = None,
    speed: Annotated[str, typer.Option(
        help="Archive seconds per real second, or max: as fast as the clients read")] = "1",
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 = any free port)")] = 8765,
    start_delay: Annotated[float, typer.Option(
        help="Seconds from the first subscription to the first frame, so that a client's "
             "subscriptions sent together all start at the beginning")] = 0.5,
) -> None:
    """Serve a lake's recorded frames as a Phemex-compatible exchange (WebSocket + REST)."""
    from ticklake.emulator.replay import Replay, ReplayError

    try:
        config = _config(lake, from_, to, symbols, speed, host, port, start_delay)
    except ReplayError as exc:
        raise _error(exc, locals()) from None

    async def serve() -> None:
        server = Replay(config)
        try:
            await server.start()
        except ReplayError as exc:
            raise _error(exc, {"lake": lake, "symbols": symbols}) from None
        try:
            err.print(f"replaying {lake} on {server.url} (speed {speed})",
                      markup=False, highlight=False)
            await server.failed.wait()  # (else until interrupted)
            msg = f"the replay of {lake} stopped: {server.error}"
            raise StorageError(msg)
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


def _config(lake: str, from_: str | None, to: str | None, symbols: str | None, speed: str,
            host: str, port: int, start_delay: float) -> ReplayConfig:
    from ticklake.emulator.replay import ReplayConfig, ReplayError, parse_speed, parse_time

    def when(option: str, text: str | None) -> int | None:
        try:
            return None if text is None else parse_time(text)
        except ReplayError as exc:
            raise ReplayError(str(exc), option) from None

    return ReplayConfig(
        lake=lake, from_ns=when("--from", from_), to_ns=when("--to", to),
        symbols=tuple(s.strip() for s in (symbols or "").split(",") if s.strip()),
        speed=parse_speed(speed), host=host, port=port, start_delay=start_delay)


def _error(exc: ReplayError, given: dict[str, object]) -> TicklakeError:
    """One line naming the option at fault (a lake that is none, or a file of it that cannot
    be read: the replay's own words)."""
    if exc.option == "--lake":
        return LakeNotFound(str(exc))
    if not exc.option:
        return StorageError(str(exc))
    name = "from_" if exc.option == "--from" else exc.option.removeprefix("--").replace("-", "_")
    return ConfigError(exc.option, given.get(name), str(exc))
