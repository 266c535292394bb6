"""The compiled step against what users would pick instead, on GPT-2 small's
parameter shapes (148 f32 tensors, 124.4M parameters), in one process, side
by side, on 1 and 2 threads:

* ours: GSWrapper(AdamW, backend="compiled").step() (the prebuilt CPU
  kernels; Python overhead included) and the raw kernels (one gsCpuRunStep
  call on persistent tables);
* (a) GS in eager torch, the original library's algorithm (a per-tensor
  norm, the running statistics and the rescale in torch ops, no host
  synchronization) + torch.optim.AdamW(fused=True);
* (b) torch.compile of the same GS + AdamW step (AdamW(foreach=True), as
  torch's compiled-optimizer recipe has it), and its compile time against
  our first step;
* (c) clip_grad_norm_(foreach=True) + AdamW(fused=True): no GS;
* (d) the floor: an in-place read+write stream at 32 B per parameter
  (x.mul_(1) over 16 B per parameter: 16 B read and 16 B written, as an
  AdamW step reads and writes the parameter, gradient and two moments at 4 B
  each).

Every variant takes `--steps` timed steps per round, `--rounds` rounds,
interleaved (round 1 of every variant, then round 2, ...), so a change of
the machine's load hits them alike. Reported: min and median over all
rounds' steps, and ratios.

    .venv/bin/python benchmarks/peers.py [--steps N] [--rounds R] [--no-compile]
"""

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gpt2_shapes import gpt2_small_shapes  # noqa: E402
from gradient_stabilizer import GSWrapper  # noqa: E402
from gradient_stabilizer import _cpu_kernels as K  # noqa: E402
from raw_step import GS_DEFAULTS, Step  # noqa: E402

LR, WEIGHT_DECAY = 1e-4, 0.01
GAMMA1, GAMMA2, EPS = GS_DEFAULTS


def gs_torch_(grads, m, v, k):
    """The original library's GS in torch ops, in place: per tensor, the
    norm, the bias-corrected running mean / RMS of the norms (f32 tensors),
    the gradient rescaled to m_hat / (sqrt(v_hat) + eps). A zero or
    non-finite norm leaves the gradient and the state as they are. No
    .item(): nothing waits for the device."""
    for g, mi, vi, ki in zip(grads, m, v, k):
        n = torch.linalg.vector_norm(g)
        ok = torch.isfinite(n) & (n > 0)
        k_new = ki + ok.to(ki.dtype)
        m_new = torch.where(ok, GAMMA1 * mi + (1 - GAMMA1) * n, mi)
        v_new = torch.where(ok, GAMMA2 * vi + (1 - GAMMA2) * n * n, vi)
        m_hat = m_new / (1 - GAMMA1 ** k_new)
        v_hat = v_new / (1 - GAMMA2 ** k_new)
        g.mul_(torch.where(ok, m_hat / (v_hat.sqrt() + EPS) / n, torch.ones_like(n)))
        mi.copy_(m_new)
        vi.copy_(v_new)
        ki.copy_(k_new)


def gs_state(n):
    return ([torch.zeros(()) for _ in range(n)], [torch.zeros(()) for _ in range(n)],
            [torch.zeros(()) for _ in range(n)])


def model(shapes, seed=0):
    """Parameters with gradients: each variant has its own (every step
    rewrites the gradient in place)."""
    generator = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(s, generator=generator)) for s in shapes]
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator)
    return params


class Variant:
    def __init__(self, name, step, threads):
        self.name, self.step, self.threads = name, step, threads
        self.times = []

    def run(self, steps):
        torch.set_num_threads(self.threads)
        for _ in range(steps):
            start = time.perf_counter()
            self.step()
            self.times.append(time.perf_counter() - start)

    @property
    def best(self):
        return min(self.times)

    @property
    def median(self):
        return float(np.median(self.times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--no-compile", action="store_true", help="leave (b) out")
    args = parser.parse_args()
    shapes = gpt2_small_shapes()
    numel = sum(int(np.prod(s)) for s in shapes)
    lib = K.cpu_kernels()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__}, kernels for {lib.isa}, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"GPT-2 small: {len(shapes)} tensors, {numel / 1e6:.1f}M parameters (f32); "
          f"{args.rounds} rounds x {args.steps} steps per variant")

    variants = {}

    # Ours: the GSWrapper step and the raw kernels (on their own buffers).
    params = model(shapes)
    ours = GSWrapper(torch.optim.AdamW(params, lr=LR, weight_decay=WEIGHT_DECAY),
                     backend="compiled")
    start = time.perf_counter()
    ours.step()
    our_first = time.perf_counter() - start
    raw_step = Step(lib, shapes, LR, WEIGHT_DECAY)
    n = len(shapes)
    kernels = K.kernel_set("adamw", "f32")

    # (a) GS in eager torch + fused AdamW.
    params_a = model(shapes)
    grads_a = [p.grad for p in params_a]
    state_a = gs_state(n)
    adamw_a = torch.optim.AdamW(params_a, lr=LR, weight_decay=WEIGHT_DECAY, fused=True)

    def eager_step():
        gs_torch_(grads_a, *state_a)
        adamw_a.step()

    # (c) clip_grad_norm_ + fused AdamW.
    params_c = model(shapes)
    adamw_c = torch.optim.AdamW(params_c, lr=LR, weight_decay=WEIGHT_DECAY, fused=True)

    def clip_step():
        torch.nn.utils.clip_grad_norm_(params_c, 1.0, foreach=True)
        adamw_c.step()

    # (d) The floor.
    stream = torch.ones(32 * numel // 4 // 2, dtype=torch.float32)  # 16 B read + 16 B written

    def stream_step():
        stream.mul_(1.0)

    for threads in (1, 2):
        variants[("ours", threads)] = Variant(
            "GSWrapper(AdamW, compiled).step()", ours.step, threads)
        variants[("raw", threads)] = Variant(
            "raw kernels (gsCpuRunStep)",
            lambda t=threads: lib.run_step(kernels, raw_step.args, t), threads)
        variants[("a", threads)] = Variant("(a) GS eager + AdamW(fused)", eager_step, threads)
        variants[("c", threads)] = Variant("(c) clip_grad_norm_ + AdamW(fused)", clip_step,
                                           threads)
        variants[("d", threads)] = Variant("(d) stream 32 B/param (floor)", stream_step,
                                           threads)

    # (b) torch.compile of GS + AdamW; the first call compiles.
    compile_time = None
    if not args.no_compile:
        params_b = model(shapes)
        grads_b = [p.grad for p in params_b]
        state_b = gs_state(n)
        adamw_b = torch.optim.AdamW(params_b, lr=LR, weight_decay=WEIGHT_DECAY,
                                    foreach=True)

        @torch.compile
        def compiled_step():
            gs_torch_(grads_b, *state_b)
            adamw_b.step()

        # The first call traces and compiles; the second compiles again
        # (AdamW's state exists now, so the first graph's guards fail).
        torch.set_num_threads(2)
        compile_time = []
        for _ in range(3):
            start = time.perf_counter()
            compiled_step()
            compile_time.append(time.perf_counter() - start)
        for threads in (1, 2):
            variants[("b", threads)] = Variant("(b) torch.compile(GS + AdamW)",
                                               compiled_step, threads)

    # Warm every variant once (page faults of the moments, thread pools).
    for variant in variants.values():
        variant.run(1)
        variant.times.clear()
    for _ in range(args.rounds):
        for variant in variants.values():
            variant.run(args.steps)

    print()
    print("| threads | what | min (ms) | median (ms) | min vs ours |")
    print("|---|---|---|---|---|")
    for threads in (1, 2):
        base = variants[("ours", threads)].best
        for key in ("ours", "raw", "a", "b", "c", "d"):
            variant = variants.get((key, threads))
            if variant is None:
                continue
            print(f"| {threads} | {variant.name} | {variant.best * 1e3:.1f} | "
                  f"{variant.median * 1e3:.1f} | {variant.best / base:.2f}x |")
    print()
    for threads in (1, 2):
        ours_v = variants[("ours", threads)]
        peers = [variants[(k, threads)] for k in ("a", "b", "c") if (k, threads) in variants]
        best_peer = min(peers, key=lambda v: v.best)
        floor = variants[("d", threads)]
        raw = variants[("raw", threads)]
        print(f"{threads} thread(s): ours {best_peer.best / ours_v.best:.2f}x faster than "
              f"the best peer, {best_peer.name} (min; medians "
              f"{best_peer.median / ours_v.median:.2f}x); ours at "
              f"{100 * floor.best / ours_v.best:.0f}% of the floor (raw kernels "
              f"{100 * floor.best / raw.best:.0f}%), {32 * numel / ours_v.best / 1e9:.1f} "
              f"GB/s")
    if compile_time is not None:
        print(f"first steps of torch.compile(GS + AdamW), 2 threads: "
              f"{', '.join(f'{t:.1f}' for t in compile_time)} s (Dynamo and Inductor "
              f"compile on the first calls); ours: {our_first * 1e3:.0f} ms for the first "
              f"step (no compile: the prebuilt kernels; AdamW's moments allocated)")
    else:
        print(f"first step: ours {our_first * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
