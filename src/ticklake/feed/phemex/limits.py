"""What Phemex's public DataGW allows one client (../shared/docs/phemex-protocol.md §1.2, §3).

The settings validate against these and the session paces itself by them; the emulator
enforces its own copy (it shares no code with the client).
"""

from __future__ import annotations

DEFAULT_URL = "wss://ws.phemex.com"
MAX_SUBSCRIPTIONS = 20  # per connection; DataGW drops a connection over it (§1.2)
MAX_CONNECTIONS = 5  # concurrent connections per client (§1.2); more symbols need --shard
HEARTBEAT_LIMIT_S = 30.0  # DataGW drops a connection without a heartbeat for 30 s (§3)
CONNECT_BUDGET = (200, 300.0)  # connection attempts per IP per 300 s ("200/5m", §1.2)
