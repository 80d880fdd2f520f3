"""Sans-I/O exchange protocol cores: bytes and a time in, events and frames out.

Nothing under ``ticklake.feed`` opens a socket, awaits, sleeps or reads a clock.
"""
