"""Streaming detection of anomalous price swings (sans-I/O, deterministic).

``SwingDetector`` (live, per trade), ``detect_table``/``anomalies_table`` (offline),
``DetectorParams`` (tunables, hash). Design and evaluation: docs/detector.md.
"""

from ticklake.detect.detector import SwingDetector
from ticklake.detect.offline import anomalies_table, detect_table, feed_table
from ticklake.detect.params import DETECTOR_VERSION, DetectorParams
from ticklake.detect.snapshot import SnapshotMismatch

__all__ = ["DETECTOR_VERSION", "DetectorParams", "SnapshotMismatch", "SwingDetector",
           "anomalies_table", "detect_table", "feed_table"]
