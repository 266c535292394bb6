"""CPU benchmark of the prebuilt generic kernels (libgs_cpu_kernels) on
GPT-2 small's parameter shapes (148 f32 tensors, 124.4M parameters), in one
process, side by side:

* the raw kernels (one gsCpuRunStep call on persistent tables) on 1 and 2
  threads, and on 1 thread with the update that also stores the stabilized
  gradients (what GSWrapper runs: `p.grad` after a step, docs/python.md);
* the same step through GSWrapper(AdamW, backend="compiled").step(), on 1
  and 2 threads: the difference to the raw kernels is the Python overhead;
* an in-place read+write stream over 32 B per parameter (x *= 1 on a buffer
  of the step's traffic), the floor the step's memory traffic allows;
* the Python overhead measured directly: 1000 tensors of 8 elements, where
  the kernels cost next to nothing, GSWrapper.step() against the raw kernels;
* in a fresh process: the first GSWrapper step against the steady ones.

    .venv/bin/python benchmarks/prebuilt_cpu_step.py [--steps N]

Times are min and median of N steps (perf_counter).
"""

import argparse
import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gpt2_shapes import gpt2_small_shapes  # noqa: E402
from gradient_stabilizer import GSWrapper  # noqa: E402
from gradient_stabilizer import _cpu_kernels as K  # noqa: E402
from raw_step import Step, timed  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    shapes = gpt2_small_shapes()
    numel = sum(int(np.prod(s)) for s in shapes)
    lib = K.cpu_kernels()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__}, kernels for {lib.isa}")
    print(f"GPT-2 small: {len(shapes)} tensors, {numel / 1e6:.1f}M parameters (f32)")

    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(s)) for s in shapes]
    for p in params:
        p.grad = torch.randn(p.shape)
    rows = []

    # Raw kernels on persistent tables (their own buffers).
    raw_step = Step(lib, shapes)  # keeps the buffers alive
    step_args = raw_step.args
    kernels = K.kernel_set("adamw", "f32")
    raw = {}
    for threads in (1, 2):
        run = lambda: lib.run_step(kernels, step_args, threads)
        run()
        raw[threads] = timed(run, args.steps)
        rows.append((f"raw kernels, {threads} thread(s)", *raw[threads]))
    store_kernels = K.kernel_set("adamw", "f32", store_grads=True)
    run = lambda: lib.run_step(store_kernels, step_args, 1)
    run()
    raw_store = timed(run, args.steps)
    rows.append(("raw kernels storing the stabilized gradients, 1 thread", *raw_store))

    # The whole GSWrapper step.
    wrapped = {}
    optimizer = GSWrapper(torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01),
                          backend="compiled")
    saved = torch.get_num_threads()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        optimizer.step()
        wrapped[threads] = timed(optimizer.step, args.steps)
        rows.append((f"GSWrapper.step(), {threads} thread(s)", *wrapped[threads]))
    torch.set_num_threads(saved)

    # The floor: a stream reading and writing the step's 32 B per parameter.
    buffer = np.ones(32 * numel // 8, np.float32)  # 16 B read + 16 B written each
    floor = timed(lambda: np.multiply(buffer, np.float32(1), out=buffer), args.steps)
    rows.append(("in-place stream, 32 B/param (floor)", *floor))

    print()
    print("| what | min (ms) | median (ms) |")
    print("|---|---|---|")
    for name, best, median in rows:
        print(f"| {name} | {best * 1e3:.1f} | {median * 1e3:.1f} |")
    print()
    for threads in (1, 2):
        print(f"raw kernels, {threads} thread(s): {100 * floor[0] / raw[threads][0]:.0f}% "
              f"of the stream floor (min), {32 * numel / raw[threads][0] / 1e9:.1f} GB/s")
        overhead = (wrapped[threads][1] - raw[threads][1]) / len(shapes)
        print(f"GSWrapper overhead, {threads} thread(s): "
              f"{overhead * 1e6:.1f} us per tensor (medians)")

    print(f"storing the stabilized gradients: x{raw_store[0] / raw[1][0]:.2f} (min), "
          f"x{raw_store[1] / raw[1][1]:.2f} (median) the raw kernels' time "
          f"(traffic: 36 / 32 B per parameter)")
    python_overhead(args.steps)

    # First step in a fresh process.
    script = textwrap.dedent(f"""
        import sys, time, torch
        sys.path[:0] = {[str(ROOT / 'python'), str(ROOT / 'benchmarks')]!r}
        from gpt2_shapes import gpt2_small_shapes
        from gradient_stabilizer import GSWrapper
        params = [torch.nn.Parameter(torch.randn(s)) for s in gpt2_small_shapes()]
        for p in params:
            p.grad = torch.randn(p.shape)
        opt = GSWrapper(torch.optim.AdamW(params), backend="compiled")
        if "--warm-state" in sys.argv:
            # The moments torch.optim.AdamW would allocate on its first step,
            # made (and touched) beforehand: what is left is this package's
            # own first-step cost.
            for p in params:
                opt.state[p].update(exp_avg=torch.zeros_like(p),
                                    exp_avg_sq=torch.zeros_like(p),
                                    step=torch.tensor(0.0))
        times = []
        for _ in range(6):
            start = time.perf_counter(); opt.step(); times.append(time.perf_counter() - start)
        print(times[0], sorted(times[2:])[1])
    """)
    for flag, what in (("--warm-state", "moments allocated beforehand"),
                       ("--cold", "the first step also allocates the 1 GB of AdamW moments")):
        out = subprocess.run([sys.executable, "-c", script, flag], capture_output=True,
                             text=True, check=True).stdout.split()
        first, steady = float(out[0]), float(out[1])
        print(f"fresh process, {what}: first step {first * 1e3:.0f} ms, steady "
              f"{steady * 1e3:.0f} ms (+{(first - steady) * 1e3:.0f} ms)")


def python_overhead(repeats: int, n: int = 1000) -> None:
    """GSWrapper.step() on n tiny tensors against its own kernels run raw."""
    torch.set_num_threads(1)
    params = [torch.nn.Parameter(torch.randn(8)) for _ in range(n)]
    for p in params:
        p.grad = torch.randn(8)
    opt = GSWrapper(torch.optim.AdamW(params, lr=1e-4), backend="compiled")
    opt.step()
    whole = timed(opt.step, repeats * 5)
    bucket = next(iter(opt._compiled._buckets.values()))
    lib = K.cpu_kernels()
    step_args = bucket.args(None, None)
    kernels = K.kernel_set("adamw", "f32", store_grads=True)
    raw = timed(lambda: lib.run_step(kernels, step_args, 1), repeats * 5)
    print(f"Python overhead, {n} tensors of 8 elements: "
          f"{(whole[0] - raw[0]) / n * 1e6:.1f} us per tensor (min), "
          f"{(whole[1] - raw[1]) / n * 1e6:.1f} (median); step {whole[1] * 1e3:.2f} ms, "
          f"kernels {raw[1] * 1e3:.2f} ms (medians)")


if __name__ == "__main__":
    main()
