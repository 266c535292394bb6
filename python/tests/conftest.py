"""Makes the in-tree package importable and keeps compiled steps in the build
tree, so the tests run from a checkout without installing anything."""

import os
import sys
from pathlib import Path

PYTHON_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PYTHON_DIR))
os.environ.setdefault("GS_CACHE_DIR", str(PYTHON_DIR.parent / "build" / "gs-cache"))
