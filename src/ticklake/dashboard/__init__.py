"""The web dashboard: live market view, history, SQL explorer and lake catalog.

Used by the CLI only::

    server = DashboardServer(DashboardConfig(lake_root="lake", spool_dir=Path("spool")), rec)
    task = asyncio.create_task(server.serve())
    await server.started.wait()   # server.url is final now (port 0 resolved)

or ``await serve_dashboard(config, recording)`` until cancelled. ``create_app`` gives the bare
ASGI app. See docs/dashboard.md for the pages, endpoints and security model.
"""

from ticklake.dashboard.app import create_app
from ticklake.dashboard.config import DashboardConfig
from ticklake.dashboard.server import DashboardServer, serve_dashboard

__all__ = ["DashboardConfig", "DashboardServer", "create_app", "serve_dashboard"]
