"""The prebuilt CPU step run window by window against the whole table at
once (GS_CPU_WINDOW_BYTES; lib/Runtime/CpuKernels.cpp): gsCpuRunStep runs
norms, scalars and update over consecutive tensors spanning at most that
many bytes of gradients per thread, so the update pass reads gradients the
norms pass left in the cache. AdamW f32, raw kernels (one gsCpuRunStep call
on persistent tables), on 1 and 2 threads, for

* GPT-2 small (148 tensors, 124.4M parameters; most tensors are 2-9 MB),
* many small tensors (2000 tensors of 4096 to 36864 elements, 41M
  parameters: the shape of conv nets and small layers),

with every window size interleaved round by round (min and median ms, and
the ratio to one window). The runtime's default is 256 KiB on one thread
and the whole table on more.

    .venv/bin/python benchmarks/cpu_step_windows.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gpt2_shapes import gpt2_small_shapes  # noqa: E402
from gradient_stabilizer import _cpu_kernels as K  # noqa: E402
from raw_step import Step  # noqa: E402

WINDOWS = [("whole table (0)", "0"), ("256 KiB", str(256 << 10)),
           ("1 MiB", str(1 << 20)), ("4 MiB", str(4 << 20))]


def small_shapes():
    return [(4096 + 1024 * (i % 33),) for i in range(2000)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    lib = K.cpu_kernels()
    kernels = K.kernel_set("adamw", "f32")
    print(f"kernels for {lib.isa}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print("| model | threads | window per thread | min (ms) | median (ms) | "
          "speed vs whole table (min) |")
    print("|---|---|---|---|---|---|")
    for model, shapes in (("GPT-2 small", gpt2_small_shapes()),
                          ("2000 small tensors", small_shapes())):
        step = Step(lib, shapes)
        for threads in (1, 2):
            times = {name: [] for name, _ in WINDOWS}
            for _ in range(args.rounds):
                for name, value in WINDOWS:
                    os.environ["GS_CPU_WINDOW_BYTES"] = value
                    lib.run_step(kernels, step.args, threads)  # warm
                    start = time.perf_counter()
                    lib.run_step(kernels, step.args, threads)
                    times[name].append(time.perf_counter() - start)
            base = min(times[WINDOWS[0][0]])
            for name, _ in WINDOWS:
                best, median = min(times[name]), statistics.median(times[name])
                print(f"| {model} | {threads} | {name} | {best * 1e3:.1f} | "
                      f"{median * 1e3:.1f} | {base / best:.2f}x |")
        del step
    os.environ.pop("GS_CPU_WINDOW_BYTES", None)


if __name__ == "__main__":
    main()
