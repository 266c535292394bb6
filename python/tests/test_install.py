"""The wheel: pip builds it from the checkout with scikit-build-core driving
the project's CMake build (reusing the build tree under test, so it takes
seconds), platform-tagged, with the prebuilt CPU kernels and the runtime
libraries inside and nothing written into the source tree. Installed offline
into a fresh virtual environment, it runs a compiled CPU step on its own: its
prebuilt kernels, with the compiler (gs-opt, the C API, LLVM and MLIR) out of
reach and never loaded."""

import importlib.util
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("GS_BUILD_DIR", ROOT / "build"))
RUNTIME = ["libgs_cpu_kernels.so", "libgs_gpu_kernels.so", "libgs_cuda_runtime.so",
           "libgs_gpu_emulator.so"]
READELF = Path("/usr/lib/llvm-22/bin/llvm-readelf")


def _skip_reason():
    if importlib.util.find_spec("scikit_build_core") is None:
        return ("scikit-build-core is not installed in this Python (pip wheel "
                "--no-build-isolation needs it: python/requirements-test.txt)")
    cache = BUILD / "CMakeCache.txt"
    if not cache.is_file():
        return f"no CMake build in {BUILD} (run scripts/setup.sh)"
    if "GS_ENABLE_SANITIZERS:BOOL=ON" in cache.read_text():
        return f"{BUILD} is a sanitized build, which is not packaged"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))


def _source_tree_state():
    """Every changed, untracked or ignored path of the checkout but the build
    trees and the virtual environment."""
    out = subprocess.run(["git", "status", "--porcelain", "--ignored",
                          "--untracked-files=all"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.splitlines()
    # (Python caches may appear anywhere while other test runners work.)
    return sorted(line for line in out
                  if not line[3:].startswith(("build", ".venv/"))
                  and not any(cache in line for cache in
                              ("__pycache__/", ".hypothesis/", ".pytest_cache/")))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    before = _source_tree_state()
    # --config-settings (not -C) for Debian 12's pip 23.0. The build tree is
    # normally current (nothing to build); if not, at most 2 jobs.
    env = dict(os.environ)
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", "2")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-index",
                    "--no-build-isolation", "--no-deps", "--wheel-dir", str(out),
                    f"--config-settings=build-dir={BUILD}", str(ROOT)],
                   check=True, cwd=out, env=env)
    assert _source_tree_state() == before, "building the wheel changed the checkout"
    (path,) = out.glob("*.whl")
    return path


def test_wheel_is_platform_tagged_and_carries_the_runtime(wheel):
    tag = wheel.name[:-len(".whl")].split("-")[-3:]
    assert tag[0] == "py3" and tag[1] == "none", wheel.name
    assert tag[2] == sysconfig.get_platform().replace("-", "_"), wheel.name
    names = set(zipfile.ZipFile(wheel).namelist())
    for lib in RUNTIME:
        assert f"gradient_stabilizer/lib/{lib}" in names, sorted(names)
    assert "gradient_stabilizer/_paths.py" in names
    # The tests' and docs' files are not shipped.
    assert not [n for n in names if "tests/" in n or n.startswith("docs/")], sorted(names)


@pytest.mark.skipif(not READELF.is_file(), reason=f"{READELF} is missing")
def test_runtime_libraries_need_no_llvm(wheel, tmp_path):
    with zipfile.ZipFile(wheel) as archive:
        for lib in RUNTIME:
            path = Path(archive.extract(f"gradient_stabilizer/lib/{lib}", tmp_path))
            dynamic = subprocess.run([str(READELF), "--dynamic", str(path)], check=True,
                                     capture_output=True, text=True).stdout
            needed = [line for line in dynamic.splitlines() if "NEEDED" in line]
            assert needed and not [n for n in needed if "LLVM" in n or "MLIR" in n], needed


STEP = """
import torch, gradient_stabilizer as gs
from gradient_stabilizer import _cpu_kernels
assert gs.__file__.startswith({venv!r}), gs.__file__
p = torch.nn.Parameter(torch.ones(3))
opt = gs.GSWrapper(torch.optim.SGD([p], lr=0.5), backend='compiled')
p.grad = torch.tensor([3.0, 0.0, 4.0])
opt.step()
maps = open('/proc/self/maps').read()
assert 'libLLVM' not in maps and 'libMLIR' not in maps, 'compiler loaded'
kernels = str(_cpu_kernels.library_path())
assert kernels.startswith({venv!r}) and kernels in maps, kernels
print(p.tolist())
"""


def test_fresh_venv_installs_the_wheel_and_runs_a_compiled_step(wheel, tmp_path):
    venv = tmp_path / "venv"
    # No pip of its own (Debian's bundled setuptools is too old for torch 2.x
    # to resolve): this interpreter's pip installs into it.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # torch and NumPy, offline: this interpreter's, made visible to the new
    # environment (a .pth line), so pip resolves the wheel's dependencies
    # without downloading anything.
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], check=True, capture_output=True,
                          text=True).stdout.strip()
    deps = {str(Path(importlib.util.find_spec(m).origin).parents[1]) for m in ("torch", "numpy")}
    Path(site, "gs_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install",
                    "--quiet", "--no-index",
                    "--disable-pip-version-check", str(wheel)], check=True, cwd=tmp_path)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GS_") and k not in ("PYTHONPATH", "LD_LIBRARY_PATH")}
    # The compiler is out of reach: a step that needed it would fail.
    env["GS_OPT"] = env["GS_CAPI_LIB"] = str(tmp_path / "missing")
    env["GS_COMPILER"] = "jit"
    env["GS_CACHE_DIR"] = str(tmp_path / "cache")
    out = subprocess.run([str(python), "-c", STEP.format(venv=str(venv))], check=True,
                         env=env, cwd=tmp_path, capture_output=True, text=True).stdout
    # First step: the stabilized gradient has norm 1, direction (0.6, 0, 0.8).
    assert [round(x, 6) for x in eval(out)] == [0.7, 1.0, 0.6]


@pytest.mark.skipif(not Path("/usr/lib/llvm-22/lib").is_dir(), reason="no LLVM/MLIR 22 here")
def test_optional_compiler_parts_run_where_llvm_is_installed(wheel, tmp_path):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        if "gradient_stabilizer/bin/gs-opt" not in names:
            pytest.skip("built with GS_PYTHON_WITH_COMPILER=OFF")
        archive.extractall(tmp_path)
    gs_opt = tmp_path / "gradient_stabilizer" / "bin" / "gs-opt"
    gs_opt.chmod(0o755)
    out = subprocess.run([str(gs_opt), "--gs-to-llvm", "-"], input="module {}\n",
                         check=True, capture_output=True, text=True).stdout
    assert "module" in out
    assert "gradient_stabilizer/lib/libGSCAPI.so" in names
