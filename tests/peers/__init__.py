"""Peer fidelity: cryptofeed and ccxt pro, pointed at the emulator, rebuild its true books
(``pytest -m peers``, ``make test-peers``; they need the ``peers`` extra)."""
