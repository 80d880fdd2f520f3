"""Dashboard settings and the one rule that guards them: no open port beyond loopback.

The dashboard answers SQL over the whole lake and streams the live feed, so whoever reaches
its port reads everything. On a loopback address only local users can; anywhere else a token
is required (issue 4, "Security"). The check runs before anything binds.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from ticklake.errors import ConfigError

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_MIN_TOKEN = 16
_PORT, _ROWS, _TIMEOUT, _TOKEN = ("dashboard.port", "dashboard.max_rows",
                                  "dashboard.query_timeout", "dashboard.token")


@dataclass(frozen=True)
class DashboardConfig:
    """Where the lake is, where to listen, and the limits of the SQL endpoint."""

    lake_root: str
    spool_dir: Path | None = None  # the recorder's spool: SQL also sees its unpublished tail
    host: str = "127.0.0.1"
    port: int = 8000  # 0 picks a free port (see DashboardServer.port)
    token: str | None = None  # required unless host is a loopback address
    max_rows: int = 10_000  # per SQL result (the rest is cut off, and the result says so)
    query_timeout: float = 10.0  # seconds per SQL statement


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or a name that always means this machine."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_config(config: DashboardConfig) -> None:
    """Raise ``ConfigError`` (one line, naming the setting) for a config that must not run."""
    if not 0 <= config.port <= 65535:
        raise ConfigError(_PORT, config.port, "must be 0..65535")
    if config.max_rows < 1:
        raise ConfigError(_ROWS, config.max_rows, "must be >= 1")
    if not config.query_timeout > 0:
        raise ConfigError(_TIMEOUT, config.query_timeout, "must be > 0 s")
    if config.token is not None and len(config.token) < _MIN_TOKEN:
        # A short token over plain HTTP on a LAN is guessable; ask for a real secret.
        raise ConfigError(_TOKEN, "<hidden>",
                          f"must be at least {_MIN_TOKEN} characters")
    if config.token is None and not is_loopback(config.host):
        raise ConfigError(
            _TOKEN, None,
            f"binding {config.host} exposes the lake beyond this machine; set a token "
            "(--token or TICKLAKE_DASHBOARD_TOKEN) or bind 127.0.0.1",
        )
