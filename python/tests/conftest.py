"""Make ``import gradient_stabilizer`` work from a source checkout (no install)."""

import sys
from pathlib import Path

_PYTHON_DIR = str(Path(__file__).resolve().parents[1])
if _PYTHON_DIR not in sys.path:
    sys.path.insert(0, _PYTHON_DIR)
