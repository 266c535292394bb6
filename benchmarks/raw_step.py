"""The prebuilt CPU kernels' AdamW step on persistent tables, as the
benchmarks run it raw (one gsCpuRunStep call, no Python per tensor), and
the timing helper they share."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from gradient_stabilizer import _cpu_kernels as K  # noqa: E402

# GS's defaults (gamma1, gamma2, eps) and AdamW's (beta1, beta2, eps).
GS_DEFAULTS = (0.6, 0.999, 1e-12)
ADAMW_DEFAULTS = (0.9, 0.999, 1e-8)


class Step:
    """Parameters and gradients (random), moments (zero), GS state, scratch
    and the address table of an AdamW f32 step over `shapes`; `args` is
    what lib.run_step takes."""

    def __init__(self, lib, shapes, lr: float = 1e-4, weight_decay: float = 0.01):
        self.tensors = [torch.randn(s) for s in shapes for _ in range(2)]
        self.tensors += [torch.zeros(s) for s in shapes for _ in range(2)]
        n = len(shapes)
        self.params, self.grads = self.tensors[0:2 * n:2], self.tensors[1:2 * n:2]
        self.moments = self.tensors[2 * n:]
        self.numel = sum(p.numel() for p in self.params)
        table = torch.tensor([[p.numel(), p.data_ptr(), g.data_ptr(),
                               self.moments[2 * i].data_ptr(),
                               self.moments[2 * i + 1].data_ptr()]
                              for i, (p, g) in enumerate(zip(self.params, self.grads))],
                             dtype=torch.int64)
        offsets = torch.tensor(K.chunk_offsets([p.numel() for p in self.params]),
                               dtype=torch.int64)
        hyper = torch.tensor([lr, weight_decay, *GS_DEFAULTS, *ADAMW_DEFAULTS],
                             dtype=torch.float64)
        scratch = [torch.zeros(n, 2, dtype=torch.float64), torch.zeros(n, 2, dtype=torch.int64),
                   torch.zeros(n, dtype=torch.int64),
                   torch.zeros(int(offsets[-1]), dtype=torch.float64),
                   torch.zeros(n * K.RECORD_WORDS, dtype=torch.float32)]
        self.keep = [table, offsets, hyper, *scratch]
        stats, counts, steps, partials, records = scratch
        self.args = lib.args(n, 5, table.data_ptr(), offsets.data_ptr(), hyper.data_ptr(),
                             hyper.numel(), stats.data_ptr(), counts.data_ptr(),
                             steps.data_ptr(), partials.data_ptr(), partials.numel(),
                             records.data_ptr(), records.numel())


def timed(fn, repeats: int) -> tuple:
    """(min, median) seconds of `repeats` calls of `fn`."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)
