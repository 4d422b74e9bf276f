"""Code that runs inside the containers (stdlib only, Python 3.6+)."""

from pathlib import Path

PROBE_PATH = Path(__file__).with_name("wm_probe.py")
MARK = "@@WM@@ "
