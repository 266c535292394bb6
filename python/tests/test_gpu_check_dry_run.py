"""scripts/gpu-check, the device check of issue 14, run here: `--dry-run`
drives every section it can through the emulated GPU kernels on CPU tensors
(about a minute), as the device machine would run it: from the tree, with the
build's libraries and the modules `--prepare` built beforehand only (GS_OPT
points nowhere, so any use of the compiler would fail). Without --dry-run
and without a GPU it must say so and exit 0."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu-check"
LIB = ROOT / "build" / "lib"

pytestmark = pytest.mark.skipif(
    not (LIB / "libgs_gpu_kernels_emulated.so").is_file()
    or not (LIB / "libgs_cpu_kernels.so").is_file(),
    reason="the build has no libgs_gpu_kernels_emulated.so / libgs_cpu_kernels.so")

SECTIONS = ["environment", "correctness", "special", "determinism", "streams",
            "devices", "syncs", "launches", "lowered", "sharded", "speed"]
# What a device run carries besides the tree (docs/gpu.md).
CARRIED = [LIB / "libgs_gpu_kernels.so", LIB / "libgs_cpu_kernels.so",
           LIB / "libgs_cuda_runtime.so", ROOT / "build" / "gpu-check"]


def run_check(tmp_path, *args, timeout=400):
    env = dict(os.environ, GS_OPT="/nonexistent/gs-opt",
               GS_MLIR_TRANSLATE="/nonexistent/mlir-translate",
               GS_CPU_KERNELS_LIB=str(LIB / "libgs_cpu_kernels.so"),
               PYTHONUNBUFFERED="1")
    env.pop("GS_GPU_KERNELS_LIB", None)
    env.pop("OUT", None)
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    return proc, out


def test_dry_run_passes_every_section_it_can(tmp_path):
    prepared = subprocess.run([sys.executable, str(SCRIPT), "--prepare"], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    assert prepared.stdout.count("built build/gpu-check/") == 6, prepared.stdout
    proc, out = run_check(tmp_path, "--dry-run")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    results = json.loads((out / "results.json").read_text())
    assert results["counts"].get("fail", 0) == 0
    assert results["counts"].get("error", 0) == 0
    assert results["info"]["kernel_image"] == "emulator"
    assert results["info"]["gpu_kernels_lib"].endswith("libgs_gpu_kernels_emulated.so")
    by_section = {}
    for record in results["records"]:
        by_section.setdefault(record["section"], []).append(record["status"])
    assert list(by_section) == SECTIONS
    # What needs no CUDA passed; what does is skipped, saying why.
    for section in ("environment", "correctness", "special", "determinism", "sharded",
                    "speed"):
        assert "pass" in by_section[section], section
    assert len(by_section["correctness"]) == 24
    # The lowered modules ran on the emulator; the synchronization check
    # needs a GPU.
    assert by_section["lowered"] == ["pass", "pass", "pass", "skip"]
    for section in ("streams", "devices", "syncs", "launches"):
        assert set(by_section[section]) == {"skip"}, section
    assert "GS_GPU_MAX_BLOCKS=0 rejected" in [r["case"] for r in results["records"]]
    markdown = (out / "results.md").read_text()
    assert "| correctness | 24 | 0 | 0 | 0 |" in markdown
    assert "done in" in (out / "gpu-check.log").read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_without_gpu_it_says_so_and_exits_cleanly(tmp_path):
    proc, out = run_check(tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no CUDA device" in proc.stdout
    results = json.loads((out / "results.json").read_text())
    assert results["info"]["mode"] == "no GPU"
    assert results["info"]["preflight_missing"] == []


def test_missing_library_is_an_error_naming_it(tmp_path):
    env_lib = tmp_path / "missing.so"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, GS_GPU_KERNELS_LIB=str(env_lib)))
    assert proc.returncode == 1
    assert f"missing: ['{env_lib}']" in proc.stdout


def test_the_tree_that_travels_fits_the_device_tool():
    """What a device run sends: tracked and untracked-not-ignored files plus
    the carried libraries and modules, under the tool's 64 MiB."""
    try:
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"],
                                cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    files = [ROOT / name.decode() for name in listed.split(b"\0") if name]
    size = sum(f.stat().st_size for f in files if f.is_file())
    for path in CARRIED:
        if path.is_dir():
            size += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        elif path.is_file():
            size += path.stat().st_size
    assert size < 64 << 20, f"{size / 2**20:.1f} MiB would travel"
