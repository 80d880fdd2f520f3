"""The composition root: a recording's parts built (``build``) and run (``recording``).

``cli`` parses options and calls these; nothing below imports this package. The live
detector and the dashboard are attached by ``pipeline.extras`` (imported only when they run:
they bring pyarrow and DuckDB, which the recorder's process otherwise never loads).
"""

from ticklake.pipeline.build import build_recording, open_lake
from ticklake.pipeline.recording import Consumer, Observers, Recording, Service, SpoolConsumer

__all__ = ["Consumer", "Observers", "Recording", "Service", "SpoolConsumer", "build_recording",
           "open_lake"]
