"""The Python package's backends on GPT-2 small (124M f32 parameters): one
GSWrapper(AdamW) step with backend="compiled" against backend="eager" (GS in
PyTorch ops + torch.optim.AdamW's own step), including the wrapper's Python
overhead, plus the first (compiling) step.

    /usr/bin/python3 benchmarks/python_backends.py [--steps N]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpt2_shapes import gpt2_small_shapes  # noqa: E402
from gradient_stabilizer import GSWrapper  # noqa: E402


def make(backend, shapes):
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(s)) for s in shapes]
    for p in params:
        p.grad = torch.randn_like(p)
    return GSWrapper(torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01),
                     backend=backend)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    shapes = gpt2_small_shapes()
    print(f"GPT-2 small: {len(shapes)} tensors, "
          f"{sum(int(np.prod(s)) for s in shapes) / 1e6:.1f}M parameters; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print()
    print("| backend | first step (s) | best step (ms) | median step (ms) |")
    print("|---|---|---|---|")
    results = {}
    for backend in ["compiled", "eager"]:
        opt = make(backend, shapes)
        start = time.perf_counter()
        opt.step()
        first = time.perf_counter() - start
        times = []
        for _ in range(args.steps):
            start = time.perf_counter()
            opt.step()
            times.append(time.perf_counter() - start)
        results[backend] = min(times)
        print(f"| {backend} | {first:.1f} | {min(times) * 1e3:.1f} | "
              f"{np.median(times) * 1e3:.1f} |")
    print()
    print(f"compiled speed-up over eager (best): "
          f"{results['eager'] / results['compiled']:.2f}x")


if __name__ == "__main__":
    main()
