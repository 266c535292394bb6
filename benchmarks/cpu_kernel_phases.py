"""Where the prebuilt CPU step's time goes, per phase and per element: the
norms kernel (reads the gradient) and the AdamW update kernel (reads
parameter, gradient and two moments, writes three of them), each run alone
on 1 thread,

* in cache: 4 tensors of 16384 elements (1 MiB of state), where the kernels
  run at the speed of their arithmetic, and
* on GPT-2 small (124.4M parameters, 2 GB of state), where memory counts,

against an in-place stream over 16 B per element (x.mul_(1): 16 B read and
16 B written, the floor the step's traffic allows) in both settings.

    .venv/bin/python benchmarks/cpu_kernel_phases.py
"""

import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gpt2_shapes import gpt2_small_shapes  # noqa: E402
from gradient_stabilizer import _cpu_kernels as K  # noqa: E402
from raw_step import Step  # noqa: E402


def per_element(fn, numel, repeats, inner):
    """Best of `repeats` runs of `inner` calls, in ns per element."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - start) / inner)
    return best / numel * 1e9


def main():
    lib = K.cpu_kernels()
    kernels = K.kernel_set("adamw", "f32")
    torch.set_num_threads(1)
    print(f"kernels for {lib.isa}, 1 thread, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print("| setting | norms (ns/elem) | update (ns/elem) | step (ns/elem) | "
          "stream 16 B rw (ns/elem) |")
    print("|---|---|---|---|---|")
    for name, shapes, repeats, inner in (("in cache, 65536 elements", [(16384,)] * 4, 20, 200),
                                         ("GPT-2 small, 124.4M", gpt2_small_shapes(), 5, 1)):
        step = Step(lib, shapes)
        lib.run_step(kernels, step.args, 1)
        norms = per_element(lambda: lib.run_kernel(kernels.norms, step.args, 1), step.numel,
                            repeats, inner)
        update = per_element(lambda: lib.run_kernel(kernels.update, step.args, 1),
                             step.numel, repeats, inner)
        whole = per_element(lambda: lib.run_step(kernels, step.args, 1), step.numel,
                            repeats, inner)
        stream = torch.ones(4 * step.numel)
        floor = per_element(lambda: stream.mul_(1.0), step.numel, repeats, inner)
        print(f"| {name} | {norms:.2f} | {update:.2f} | {whole:.2f} | {floor:.2f} |")
        del step, stream


if __name__ == "__main__":
    main()
