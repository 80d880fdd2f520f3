"""The recorder's process (the one holding the socket) keeps pyarrow and numpy out: ~40 MB.

The lake writer process imports them; the recorder needs only the spool, the session and the
names in ``ticklake.tables``. A fresh interpreter shows what importing the recorder's modules
(and checking a local lake's marker, as ``ticklake record`` does) really loads.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROBE = """
import sys
import ticklake.cli, ticklake.console, ticklake.metrics, ticklake.pipeline
from ticklake.lake.process import LakeProcess
from ticklake.lake.storage import LakeStorage
LakeStorage(sys.argv[1]).ensure_marker()
print(",".join(sorted(m for m in ("pyarrow", "numpy", "pandas", "duckdb") if m in sys.modules)))
"""


def test_recorder_modules_do_not_import_pyarrow_or_numpy(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "lake")],
                          capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.strip() == ""
    assert (tmp_path / "lake" / "_ticklake" / "lake.json").is_file()
