"""Compile time and peak memory of `gs-opt --gs-to-llvm` / `--gs-to-nvvm` on
a static gs.group_step of N AdamW f32 tensors of distinct sizes.

    python3 benchmarks/compile_scaling.py [--pipelines gs-to-llvm,gs-to-nvvm] [N ...]

Each run is a separate gs-opt process; time and peak RSS come from
resource.getrusage of the child. Prints one row per (pipeline, N).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module(n: int) -> str:
    """A function stepping n AdamW f32 tensors of sizes 1000 + 37 i."""
    shapes = [f"tensor<{1000 + 37 * i}xf32>" for i in range(n)]
    args, params, grads, moments = [], [], [], []
    for i, t in enumerate(shapes):
        args += [f"%p{i}: {t}", f"%g{i}: {t}", f"%a{i}: {t}", f"%b{i}: {t}"]
        params.append(f"%p{i}")
        grads.append(f"%g{i}")
        moments += [f"%a{i}", f"%b{i}"]
    mtypes = [t for t in shapes for _ in range(2)]
    args += [f"%s: tensor<{n}x2xf64>", f"%c: tensor<{n}x2xi64>", f"%t: tensor<{n}xi64>",
             "%lr: f64", "%wd: f64"]
    results = ", ".join(shapes + mtypes + [f"tensor<{n}x2xf64>", f"tensor<{n}x2xi64>",
                                           f"tensor<{n}xi64>"])
    count = 3 * n + 3
    return (f"func.func @step({', '.join(args)}) -> ({results}) {{\n"
            f"  %r:{count} = gs.group_step #gs.adamw<>\n"
            f"    params({', '.join(params)} : {', '.join(shapes)})\n"
            f"    grads({', '.join(grads)} : {', '.join(shapes)})\n"
            f"    moments({', '.join(moments)} : {', '.join(mtypes)})\n"
            f"    stats(%s : tensor<{n}x2xf64>) counts(%c : tensor<{n}x2xi64>)\n"
            f"    steps(%t : tensor<{n}xi64>) lr(%lr) weight_decay(%wd)\n"
            f"  return {', '.join(f'%r#{i}' for i in range(count))} : {results}\n}}\n")


def measure(gs_opt: str, pipeline: str, path: str) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([gs_opt, path, f"--{pipeline}", "-o", os.devnull], check=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return seconds, max(after.ru_maxrss, before.ru_maxrss) / 1024.0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000])
    parser.add_argument("--pipelines", default="gs-to-llvm")
    parser.add_argument("--gs-opt", default=str(ROOT / "build" / "bin" / "gs-opt"))
    args = parser.parse_args()
    print(f"{'pipeline':<12} {'N':>6} {'seconds':>9} {'peak MiB':>9}")
    for pipeline in args.pipelines.split(","):
        for n in args.sizes:
            with tempfile.NamedTemporaryFile("w", suffix=".mlir", delete=False) as f:
                f.write(module(n))
            try:
                seconds, mib = measure(args.gs_opt, pipeline, f.name)
            finally:
                os.unlink(f.name)
            print(f"{pipeline:<12} {n:>6} {seconds:>9.2f} {mib:>9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
