"""Issue 11's one-thread target, side by side: the shape-specialized GPT-2
small AdamW step of the compiler before the generic kernels (one loop nest
per tensor, built by benchmarks/build_specialized_baseline.sh) against the
prebuilt generic kernels (libgs_cpu_kernels, one table of addresses), in one
process, on the same parameter, gradient and moment buffers:

* specialized step, 1 thread (it has no other mode);
* generic kernels, 1 thread, the runtime's default (windows of 256 KiB of
  gradients) and the whole table at once (GS_CPU_WINDOW_BYTES=0);
* generic kernels, 2 threads;
* the floor: an in-place read+write stream over 32 B per parameter.

Before timing, both steps run once from the same state and their parameters
and moments are compared (they compute the same update; only the order of
the norms' summation differs), so the comparison is of the same work. The
variants are interleaved round by round, so a change in the machine's
memory bandwidth hits them alike; min and median per variant.

    benchmarks/build_specialized_baseline.sh
    .venv/bin/python benchmarks/specialized_vs_generic.py [--rounds 8] [--library PATH]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gpt2_shapes import gpt2_small_shapes  # noqa: E402
from gradient_stabilizer import _cpu_kernels as K  # noqa: E402
from raw_step import Step  # noqa: E402

DEFAULT_LIBRARY = ROOT / "build" / "specialized-baseline" / "gpt2_specialized.so"
LR, WEIGHT_DECAY = 1e-4, 0.01


class SpecializedStep:
    """The old entry point: gs_step(params..., grads..., moments..., stats,
    counts, steps, lr, weight_decay), bare pointers, in place."""

    def __init__(self, library: Path, step: Step, n: int):
        self._lib = ctypes.CDLL(str(library))
        pointers = 4 * n + 3
        self._fn = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * pointers),
                                    ctypes.c_double, ctypes.c_double)(
            ctypes.cast(self._lib.gs_step, ctypes.c_void_p).value)
        self.stats = torch.zeros(n, 2, dtype=torch.float64)
        self.counts = torch.zeros(n, 2, dtype=torch.int64)
        self.steps = torch.zeros(n, dtype=torch.int64)
        self._args = ([x.data_ptr() for x in (*step.params, *step.grads, *step.moments)]
                      + [self.stats.data_ptr(), self.counts.data_ptr(),
                         self.steps.data_ptr(), LR, WEIGHT_DECAY])

    def __call__(self):
        self._fn(*self._args)


def check_same_update(step: Step, specialized: SpecializedStep, lib, kernels):
    """One step of each from the same state: the same parameters and
    moments (to rounding), or the comparison is not of the same work."""
    saved = [x.clone() for x in step.tensors]
    specialized()
    theirs = [x.clone() for x in step.tensors]
    for x, s in zip(step.tensors, saved):
        x.copy_(s)
    lib.run_step(kernels, step.args, 1)
    worst = max(float(((a - b).abs() / (b.abs() + 1e-30)).max())
                for a, b in zip(step.tensors, theirs))
    moved = max(float((a - b).abs().max()) for a, b in zip(theirs, saved))
    if moved == 0:
        raise SystemExit("the specialized step changed nothing")
    if worst > 1e-5:
        raise SystemExit(f"the two steps disagree (max relative difference {worst:.2e}): "
                         "the specialized library was not built for these shapes")
    for x, s in zip(step.tensors, saved):
        x.copy_(s)
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--library", type=Path, default=DEFAULT_LIBRARY)
    args = parser.parse_args()
    if not args.library.exists():
        raise SystemExit(f"{args.library} does not exist: run "
                         "benchmarks/build_specialized_baseline.sh first")
    shapes = gpt2_small_shapes()
    n = len(shapes)
    lib = K.cpu_kernels()
    kernels = K.kernel_set("adamw", "f32")
    torch.set_num_threads(1)
    step = Step(lib, shapes, LR, WEIGHT_DECAY)
    specialized = SpecializedStep(args.library, step, n)
    print(f"kernels for {lib.isa}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"GPT-2 small: {n} tensors, {step.numel / 1e6:.1f}M parameters (f32), "
          f"AdamW; {args.rounds} rounds, every variant once per round")
    worst = check_same_update(step, specialized, lib, kernels)
    print(f"one step from the same state: max relative difference {worst:.1e}")

    def generic(window: str, threads: int):
        def run():
            os.environ["GS_CPU_WINDOW_BYTES"] = window
            lib.run_step(kernels, step.args, threads)
        return run

    stream = np.ones(32 * step.numel // 8, np.float32)  # 16 B read + 16 B written
    variants = {
        "specialized step (before the generic kernels), 1 thread": specialized,
        "generic kernels, 1 thread, default windows (256 KiB)": generic(str(256 << 10), 1),
        "generic kernels, 1 thread, whole table": generic("0", 1),
        "generic kernels, 2 threads": generic("0", 2),
        "in-place stream, 32 B/param (floor)":
            lambda: np.multiply(stream, np.float32(1), out=stream),
    }
    times = {name: [] for name in variants}
    for fn in variants.values():
        fn()  # warm: page faults, thread pool
    for _ in range(args.rounds):
        for name, fn in variants.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    os.environ.pop("GS_CPU_WINDOW_BYTES", None)

    base = times[next(iter(variants))]
    floor = times["in-place stream, 32 B/param (floor)"]
    print()
    print("| what | min (ms) | median (ms) | specialized / this (min, median) "
          "| % of floor (min) |")
    print("|---|---|---|---|---|")
    for name, t in times.items():
        best, median = min(t), statistics.median(t)
        print(f"| {name} | {best * 1e3:.1f} | {median * 1e3:.1f} | "
              f"{min(base) / best:.2f}x, {statistics.median(base) / median:.2f}x | "
              f"{100 * min(floor) / best:.0f}% |")


if __name__ == "__main__":
    main()
