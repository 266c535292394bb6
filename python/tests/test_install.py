"""`pip install` from the checkout works offline and the installed package
runs a compiled CPU step on its own: its prebuilt kernels, with the compiler
(gs-opt, the C API, LLVM and MLIR) out of reach."""

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
            "maps = open('/proc/self/maps').read()\n"
            "assert 'libLLVM' not in maps and 'libMLIR' not in maps, 'compiler loaded'\n"
            "assert str(gs.__file__).rsplit('/', 1)[0] in maps\n"
            "print(p.tolist())\n" % str(target))
    env = {k: v for k, v in os.environ.items() if k not in ("GS_OPT", "PYTHONPATH")}
    env["PYTHONPATH"] = str(target)
    # The compiler is out of reach: a step that needed it would fail.
    env["GS_OPT"] = env["GS_CAPI_LIB"] = str(tmp_path / "missing")
    env["GS_COMPILER"] = "jit"
    env["GS_CACHE_DIR"] = str(tmp_path / "cache")
    out = subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=tmp_path,
                         capture_output=True, text=True).stdout
    # First step: the stabilized gradient has norm 1, direction (0.6, 0, 0.8).
    assert [round(x, 6) for x in eval(out)] == [0.7, 1.0, 0.6]
