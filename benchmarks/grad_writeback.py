"""What leaving the stabilized gradient in `p.grad` costs the compiled CPU
step (docs/python.md, "What a step leaves behind"): in one process,
GSWrapper(AdamW, backend="compiled").step() on GPT-2 small's shapes (148
f32 tensors, 124.4M parameters) with the write-back and with it replaced by
a no-op, interleaved, each step from the same gradients.

    .venv/bin/python benchmarks/grad_writeback.py [--steps N] [--threads T]

Times are min and median of N steps of each (perf_counter).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gpt2_shapes import gpt2_small_shapes  # noqa: E402
from gradient_stabilizer import GSWrapper  # noqa: E402
from gradient_stabilizer import prebuilt_cpu as P  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(s) * 0.02) for s in gpt2_small_shapes()]
    saved = [torch.randn(p.shape) for p in params]
    for p, g in zip(params, saved):
        p.grad = g.clone()
    opt = GSWrapper(torch.optim.AdamW(params, lr=1e-4), backend="compiled")
    write_back = P.store_stabilized_grads
    variants = {"with the write-back": write_back, "without": lambda *args: None}
    times = {name: [] for name in variants}
    try:
        for i in range(args.steps + 2):
            for name, function in variants.items():
                P.store_stabilized_grads = function
                for p, g in zip(params, saved):
                    p.grad.copy_(g)
                start = time.perf_counter()
                opt.step()
                if i >= 2:  # (warm-up)
                    times[name].append((time.perf_counter() - start) * 1e3)
    finally:
        P.store_stabilized_grads = write_back
    count = sum(p.numel() for p in params)
    print(f"GPT-2 small: {len(params)} tensors, {count / 1e6:.1f}M parameters (f32), "
          f"{args.threads} thread(s)\n")
    print("| GSWrapper.step() | min (ms) | median (ms) |\n|---|---|---|")
    for name, t in times.items():
        print(f"| {name} | {min(t):.1f} | {statistics.median(t):.1f} |")
    w, o = times["with the write-back"], times["without"]
    print(f"\nratio: min {min(w) / min(o):.2f}, median "
          f"{statistics.median(w) / statistics.median(o):.2f}")


if __name__ == "__main__":
    main()
