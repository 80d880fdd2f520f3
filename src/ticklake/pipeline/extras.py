"""What may run beside a recording (``ticklake run``, ``demo``): the live swing detector and
the dashboard. Imported only when they run: they bring pyarrow and DuckDB, which a plain
``ticklake record`` never loads."""

from __future__ import annotations

from pathlib import Path

from ticklake.config import DashboardSettings, DetectSettings, LakeSettings
from ticklake.dashboard import DashboardConfig, DashboardServer
from ticklake.detect import SwingDetector
from ticklake.detect.live import LiveDetector
from ticklake.lake.anomalies import AnomalyWriter
from ticklake.lake.storage import LakeStorage
from ticklake.pipeline.recording import Consumer
from ticklake.status import LiveRecording


def live_detector(lake: LakeSettings, settings: DetectSettings) -> Consumer:
    """The swing detector over the feed bus; anomalies to the bus, the lake and the webhook."""

    async def run(recording: LiveRecording) -> None:
        writer = AnomalyWriter(LakeStorage(lake.root))
        await LiveDetector(recording, SwingDetector(), writer, settings.webhook).run()

    return run


def dashboard(recording: LiveRecording | None, lake: LakeSettings,
              settings: DashboardSettings) -> DashboardServer:
    """The dashboard over the lake (and ``recording``'s live state, if any)."""
    config = DashboardConfig(
        lake_root=lake.root, spool_dir=Path(lake.spool), host=settings.host, port=settings.port,
        token=settings.token.get_secret_value() if settings.token else None,
    )
    return DashboardServer(config, recording)
