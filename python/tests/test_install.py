"""`pip install` from the checkout works offline and the installed package
compiles and runs a step on its own (its bundled gs-opt)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not (PYTHON_DIR / "gradient_stabilizer" / "bin" / "gs-opt").exists(),
                    reason="gs-opt is not built into the package (run the CMake build)")
def test_offline_pip_install_runs_a_compiled_step(tmp_path):
    target = tmp_path / "site"
    # setuptools builds in the source folder: install from a copy, so the
    # checkout stays clean.
    source = tmp_path / "src"
    shutil.copytree(PYTHON_DIR, source,
                    ignore=shutil.ignore_patterns("tests", "__pycache__", "build"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index",
                    "--no-build-isolation", "--no-deps", "--target", str(target),
                    str(source)], check=True, cwd=tmp_path)
    code = ("import torch, gradient_stabilizer as gs\n"
            "assert gs.__file__.startswith(%r)\n"
            "p = torch.nn.Parameter(torch.ones(3))\n"
            "opt = gs.GSWrapper(torch.optim.SGD([p], lr=0.5), backend='compiled')\n"
            "p.grad = torch.tensor([3.0, 0.0, 4.0])\n"
            "opt.step()\n"
            "print(p.tolist())\n" % str(target))
    env = {k: v for k, v in os.environ.items() if k not in ("GS_OPT", "PYTHONPATH")}
    env["PYTHONPATH"] = str(target)
    env["GS_CACHE_DIR"] = str(tmp_path / "cache")
    out = subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=tmp_path,
                         capture_output=True, text=True).stdout
    # First step: the stabilized gradient has norm 1, direction (0.6, 0, 0.8).
    assert [round(x, 6) for x in eval(out)] == [0.7, 1.0, 0.6]
