"""The dashboard as one Starlette app: a route list, the guard, and the static page.

The page is a handful of plain JS modules (``static/``) plus plotly.js, served from the
installed ``plotly`` wheel (a declared dependency), so the dashboard works offline and no
JavaScript library is copied into the repository.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from ticklake.dashboard import anomalies, book_top, candles, funding, lakeinfo, sql
from ticklake.dashboard import live as live_feed
from ticklake.dashboard.auth import Guard
from ticklake.dashboard.config import DashboardConfig, check_config
from ticklake.dashboard.context import Context, context, live_symbols
from ticklake.dashboard.responses import JSON, internal_error, user_error
from ticklake.errors import TicklakeError
from ticklake.status import LiveRecording

STATIC = Path(__file__).parent / "static"
# No inline script, no eval, nothing from elsewhere; plotly sets inline styles on its SVG.
_CSP = ("default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
_PAGE_HEADERS = {"content-security-policy": _CSP, "x-content-type-options": "nosniff",
                 "referrer-policy": "no-referrer", "cache-control": "no-cache"}


def plotly_js() -> Path:
    """plotly.min.js as shipped inside the plotly wheel (found without importing plotly)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        msg = "the plotly package is not installed; reinstall ticklake"
        raise TicklakeError(msg)
    return Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"


def create_app(config: DashboardConfig, live: LiveRecording | None = None) -> Starlette:
    """The ASGI app; ``live`` adds the Live page's feed (None: the page says so)."""
    check_config(config)
    plotly = plotly_js()
    if not plotly.is_file():
        msg = f"plotly.js is missing from the plotly package ({plotly}); reinstall plotly"
        raise TicklakeError(msg)

    async def index(_: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=_PAGE_HEADERS)

    async def plotly_route(_: Request) -> Response:
        return FileResponse(plotly, media_type="text/javascript",
                            headers={"cache-control": "max-age=86400"})

    routes = [
        Route("/", index),
        Route("/api/info", info),
        Route("/api/sql", sql.run_sql, methods=["POST"]),
        Route("/api/sql.csv", sql.sql_csv, methods=["GET", "POST"]),
        Route("/api/candles", candles.candles),
        Route("/api/book_top", book_top.book_top),
        Route("/api/funding", funding.funding),
        Route("/api/anomalies", anomalies.anomalies),
        Route("/api/symbols", candles.symbols),
        Route("/api/lake", lakeinfo.tables),
        Route("/api/lake/{table}/partitions", lakeinfo.partitions),
        WebSocketRoute("/api/live", live_feed.live),
        Route("/vendor/plotly.min.js", plotly_route),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, token=config.token)],
        exception_handlers={TicklakeError: user_error, Exception: internal_error},
    )
    app.state.ticklake = Context(config, live)
    return app


async def info(request: Request) -> Response:
    """``GET /api/info``: what this dashboard serves (the page's first call)."""
    ctx = context(request)
    symbols = live_symbols(ctx.live)
    return JSON({
        "recording": ctx.live is not None,
        "live_symbols": symbols,
        "lake_root": ctx.config.lake_root,
        "max_rows": ctx.config.max_rows,
        "query_timeout": ctx.config.query_timeout,
    })
