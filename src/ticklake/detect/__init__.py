"""Streaming detection of anomalous price swings (sans-I/O, deterministic)."""
