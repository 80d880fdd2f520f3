"""Streaming detection of anomalous price swings (sans-I/O, deterministic).

``SwingDetector`` (live, per trade; ``snapshot``/``restore``), ``detect_table`` (offline),
``DetectorParams`` (tunables, hash). Design and evaluation: docs/detector.md. Anomaly records
become lake rows in ``ticklake.lake.anomalies``.
"""

from ticklake.detect.detector import SwingDetector
from ticklake.detect.offline import detect_table, feed_table
from ticklake.detect.params import DETECTOR_VERSION, DetectorParams, parse_params
from ticklake.errors import SnapshotMismatch

__all__ = ["DETECTOR_VERSION", "DetectorParams", "SnapshotMismatch", "SwingDetector",
           "detect_table", "feed_table", "parse_params"]
