"""``ticklake replay``: a lake's archive served back as a live Phemex exchange (docs/replay.md).

The recorder keeps every frame the exchange sent in the lake's ``raw`` table; the replay
serves them again over Phemex's own WebSocket protocol (and the REST products on the same
port), so a bot is backtested through the very client code it runs live. It is the
exchange's twin, as the emulator is, and a witness like it: nothing from ``ticklake.feed``,
``session``, ``model`` or ``errors`` (a contract); it decodes the frames itself.

Modules, in the order the data flows: ``config`` (ReplayConfig, the time and speed
parsers), ``source`` (the ``raw`` rows in archive order, the control records), ``products``
(the products payload from the control records), ``wire`` (a frame decoded just enough;
``Item``, one servable message), ``dedup`` (each message once; trades only a snapshot holds),
``timeline`` (items in exchange order), ``books`` and ``market`` (the state at the replay's
position, the snapshots a subscription starts with), ``connection`` (a client and its
queue), ``requests`` (what a client asks), ``server`` (Replay, run_replay).
"""

from ticklake.emulator.replay.config import (
    MAX_SPEED,
    ReplayConfig,
    ReplayError,
    parse_speed,
    parse_time,
)
from ticklake.emulator.replay.server import Replay, run_replay

__all__ = ["MAX_SPEED", "Replay", "ReplayConfig", "ReplayError", "parse_speed", "parse_time",
           "run_replay"]
