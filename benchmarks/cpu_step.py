"""CPU benchmark: the compiled GradientStabilizer + AdamW step against the
PyTorch reference (GS in PyTorch eager + torch.optim.AdamW(foreach=True)) on
GPT-2 small's parameter shapes, in the same process, and the compiled step's
achieved bandwidth against a measured memory copy.

    /usr/bin/python3 benchmarks/cpu_step.py [--steps N]

Bytes counted per step for the compiled step (f32, AdamW): the norm pass
reads g (4 B/element); the update pass reads p, g, exp_avg, exp_avg_sq and
writes p, exp_avg, exp_avg_sq (28 B/element): 32 B per parameter.
"""

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpt2_shapes import gpt2_small_shapes  # noqa: E402
from gradient_stabilizer import _compiler as C  # noqa: E402
from gradient_stabilizer.eager import stabilize_  # noqa: E402


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), float(np.median(times))


def copy_bandwidth(nbytes, repeats):
    """memcpy between two buffers, counted as read + write. The destination's
    lines are also read (write-allocate), which this count does not see."""
    src = np.ones(nbytes // 4, np.float32)
    dst = np.zeros_like(src)
    best, _ = best_of(lambda: np.copyto(dst, src), repeats)
    return 2 * nbytes / best


def inplace_bandwidth(nbytes, repeats):
    """A buffer read and written back in place (x *= 1), counted as read +
    write: the access pattern of the update pass."""
    buf = np.ones(nbytes // 4, np.float32)
    best, _ = best_of(lambda: np.multiply(buf, np.float32(1), out=buf), repeats)
    return 2 * nbytes / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()

    shapes = gpt2_small_shapes()
    numel = sum(int(np.prod(s)) for s in shapes)
    rng = np.random.default_rng(0)
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads)")
    print(f"GPT-2 small: {len(shapes)} tensors, {numel / 1e6:.1f}M parameters (f32)")

    # Compiled step, in place on NumPy buffers.
    sig = C.StepSignature(shapes=tuple(shapes), dtypes=("f32",) * len(shapes),
                          optimizer="#gs.adamw<>", num_moments=2)
    start = time.perf_counter()
    step = C.CompiledStep(sig)
    print(f"compile (or cache hit): {time.perf_counter() - start:.1f} s")
    params = [rng.standard_normal(s, np.float32) for s in shapes]
    grads = [rng.standard_normal(s, np.float32) for s in shapes]
    moments = [np.zeros(s, np.float32) for s in shapes for _ in range(2)]
    stats = np.zeros((len(shapes), 2))
    counts = np.zeros((len(shapes), 2), np.int64)
    steps = np.zeros(len(shapes), np.int64)
    addresses = ([C.address(a) for a in params], [C.address(a) for a in grads],
                 [C.address(a) for a in moments])

    def compiled():
        step(*addresses, C.address(stats), C.address(counts), C.address(steps),
             1e-4, 0.01)

    compiled()  # warm-up
    compiled_best, compiled_median = best_of(compiled, args.steps)

    # PyTorch reference: GS in eager PyTorch, then AdamW(foreach=True).
    torch_params = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params]
    for p, g in zip(torch_params, grads):
        p.grad = torch.from_numpy(g.copy())
    optimizer = torch.optim.AdamW(torch_params, lr=1e-4, weight_decay=0.01,
                                  foreach=True)
    state = {}

    def reference():
        stabilize_(torch_params, state)
        optimizer.step()

    reference()  # warm-up: allocates the optimizer state
    reference_best, reference_median = best_of(reference, args.steps)

    nbytes = 32 * numel
    bandwidth = copy_bandwidth(1 << 30, 5)
    inplace = inplace_bandwidth(1 << 30, 5)
    achieved = nbytes / compiled_best
    print()
    print("| step | best (ms) | median (ms) |")
    print("|---|---|---|")
    print(f"| compiled GS + AdamW | {compiled_best * 1e3:.1f} | {compiled_median * 1e3:.1f} |")
    print(f"| PyTorch eager GS + AdamW(foreach) | {reference_best * 1e3:.1f} | "
          f"{reference_median * 1e3:.1f} |")
    print()
    print(f"speed-up over PyTorch (best): {reference_best / compiled_best:.2f}x")
    print(f"compiled traffic: {nbytes / 1e9:.2f} GB/step, {achieved / 1e9:.2f} GB/s")
    print(f"memory copy (np.copyto, 1 GiB, read+write): {bandwidth / 1e9:.2f} GB/s")
    print(f"in-place read+write (x *= 1, 1 GiB): {inplace / 1e9:.2f} GB/s")
    print(f"compiled / copy bandwidth: {100 * achieved / bandwidth:.0f}%")
    print(f"compiled / in-place bandwidth: {100 * achieved / inplace:.0f}%")


if __name__ == "__main__":
    main()
