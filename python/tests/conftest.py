"""Makes the in-tree package importable and points it at the build tree:
the build writes nothing into python/, so the package finds gs-opt and its
libraries through GS_BUILD_DIR (scripts/setup.sh's and scripts/check.sh's
variable; build/ by default). Compiled steps are cached there too, so the
tests run from a checkout without installing anything."""

import os
import sys
from pathlib import Path

PYTHON_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PYTHON_DIR))
BUILD_DIR = Path(os.environ.setdefault("GS_BUILD_DIR", str(PYTHON_DIR.parent / "build")))
os.environ.setdefault("GS_CACHE_DIR", str(BUILD_DIR / "gs-cache"))
