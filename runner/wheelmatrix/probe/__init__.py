"""Code that runs inside the containers (stdlib only, Python 3.6+).

May import nothing from wheelmatrix: it is copied into cells whose Python may be 3.6.
"""

from pathlib import Path

PROBE_DIR = Path(__file__).parent  # mounted read-only into every cell
MARK = "@@WM@@ "
