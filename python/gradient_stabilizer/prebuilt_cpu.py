"""CPU steps through the prebuilt generic kernels (libgs_cpu_kernels).

Nothing is compiled: the kernels take a run-time table of the tensors'
addresses and the hyperparameters as values, so one kernel set serves every
model, every subset of parameters that has gradients and every scheduler
setting. Each bucket (a param group's tensors of one dtype) keeps its table,
chunk offsets and scratch between steps; the table is rebuilt only when an
address changes (e.g. `zero_grad(set_to_none=True)` reallocating grads).
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch

from . import _cpu_kernels as K
from .eager import multiply_by_pair_
from .lion import Lion

def structure_of(optimizer: torch.optim.Optimizer, group: dict) -> Tuple[str, List[float]]:
    """The kernels' optimizer structure and its run-time hyperparameters
    (besides lr and weight_decay) for a param group."""
    if type(optimizer) is torch.optim.SGD:
        momentum = float(group["momentum"])
        if momentum == 0:
            return "sgd", []
        name = "sgd_nesterov" if group["nesterov"] else "sgd_momentum"
        return name, [momentum, float(group["dampening"])]
    if type(optimizer) is Lion:
        beta1, beta2 = group["betas"]
        return "lion", [float(beta1), float(beta2)]
    name = "adam" if type(optimizer) is torch.optim.Adam else "adamw"
    if group.get("amsgrad", False):
        name += "_amsgrad"
    beta1, beta2 = group["betas"]
    return name, [float(beta1), float(beta2), float(group["eps"])]


class CpuBucket:
    """The persistent tables and scratch of one bucket."""

    def __init__(self):
        self.pointers: Optional[tuple] = None
        self.numels: Optional[tuple] = None
        self.table = self.offsets = self.partials = self.records = None

    def prepare(self, params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor],
                moments: Sequence[torch.Tensor], num_moments: int) -> None:
        numels = tuple(p.numel() for p in params)
        if numels != self.numels:
            self.numels = numels
            self.offsets = torch.tensor(K.chunk_offsets(numels), dtype=torch.int64)
            self.partials = torch.empty(max(int(self.offsets[-1]), 1), dtype=torch.float64)
            self.records = torch.empty(len(params) * K.RECORD_WORDS, dtype=torch.float32)
            self.pointers = None
        pointers = tuple(t.data_ptr() for t in (*params, *grads, *moments))
        if pointers != self.pointers:
            n = len(params)
            rows = []
            for i in range(n):
                # An empty tensor has no storage: its address is never read.
                row = [numels[i], pointers[i], pointers[n + i]]
                row += pointers[2 * n + i * num_moments:2 * n + (i + 1) * num_moments]
                rows.append(row)
            self.table = torch.tensor(rows, dtype=torch.int64).reshape(n, 3 + num_moments)
            self.pointers = pointers

    def args(self, hyper: torch.Tensor, stats: torch.Tensor, counts: torch.Tensor,
             steps: torch.Tensor, inv_scale: Optional[torch.Tensor],
             found_inf: Optional[torch.Tensor]):
        return K.cpu_kernels().args(
            self.table.shape[0], self.table.shape[1], self.table.data_ptr(),
            self.offsets.data_ptr(), hyper.data_ptr(), hyper.numel(), stats.data_ptr(),
            counts.data_ptr(), steps.data_ptr(), self.partials.data_ptr(),
            self.partials.numel(), self.records.data_ptr(), self.records.numel(),
            0 if inv_scale is None else inv_scale.data_ptr(),
            0 if found_inf is None else found_inf.data_ptr())

    def nonfinite(self, inv_scale: torch.Tensor) -> torch.Tensor:
        """After the norms kernel: whether any tensor's scaled norm is NaN or
        Inf (a 0-d bool tensor, no host synchronization)."""
        n = self.table.shape[0]
        counts = (self.offsets[1:] - self.offsets[:-1])
        owner = torch.repeat_interleave(torch.arange(n), counts)
        chunks = int(self.offsets[-1])
        sums = torch.zeros(n, dtype=torch.float64).index_add_(
            0, owner, self.partials[:chunks])
        norms = sums.sqrt() * inv_scale.double()
        return (~torch.isfinite(norms)).any()


def run_buckets(runs: List[dict], threads: int, inv_scale: Optional[torch.Tensor],
                found_inf: Optional[torch.Tensor]) -> None:
    """Runs the buckets of one param group. With a loss scale the whole group
    skips on any non-finite gradient, across dtypes: every bucket's norms
    run first, then one found_inf serves them all."""
    lib = K.cpu_kernels()
    if inv_scale is not None and found_inf is None:
        found_inf = torch.zeros((), dtype=torch.float32)
    if inv_scale is None or len(runs) == 1:
        for run in runs:
            lib.run_step(run["kernels"], run["bucket"].args(
                run["hyper"], run["stats"], run["counts"], run["steps"], inv_scale,
                found_inf), threads)
        return
    found = found_inf.clone()
    for run in runs:
        args = run["bucket"].args(run["hyper"], run["stats"], run["counts"],
                                  run["steps"], inv_scale, found)
        lib.run_kernel(run["kernels"].norms, args, threads)
        found = torch.where(run["bucket"].nonfinite(inv_scale), torch.ones_like(found),
                            found)
    for run in runs:
        args = run["bucket"].args(run["hyper"], run["stats"], run["counts"],
                                  run["steps"], inv_scale, found)
        lib.run_kernel(run["kernels"].scalars, args, 1)
        lib.run_kernel(run["kernels"].update, args, threads)


def store_stabilized_grads(params: Sequence[torch.Tensor], records: torch.Tensor,
                           on_nonfinite: str) -> None:
    """Leaves in each `p.grad` the gradient the optimizer stepped with, as
    the eager path and the original library do: the stabilized (and
    unscaled) gradient, zeros under "zero" for a non-finite one, and the
    gradient as it was where the step skipped the tensor. It is formed from
    the records the scalars kernel wrote ([enabled, prefactor, factor,
    zero_grad, ...] per tensor), as the update kernel formed it."""
    rows = records[:len(params) * K.RECORD_WORDS].view(len(params), K.RECORD_WORDS)
    for p, (enabled, prefactor, factor, zero) in zip(params, rows[:, :4].tolist()):
        if not enabled or p.grad.numel() == 0:
            continue
        if on_nonfinite == "zero" and zero:
            p.grad.zero_()
        elif prefactor != 1.0 or factor != 1.0:
            multiply_by_pair_(p.grad, prefactor, factor)


def state_tensors(states: Sequence[dict], steps: Sequence[int]):
    """The GS state rows and step counts of a bucket as tensors."""
    stats = torch.tensor([[s["m"], s["v"]] for s in states], dtype=torch.float64)
    counts = torch.tensor([[s["k"], s["skipped"]] for s in states], dtype=torch.int64)
    return (stats.reshape(len(states), 2), counts.reshape(len(states), 2),
            torch.tensor(list(steps), dtype=torch.int64))


def hyper_tensor(group: dict, stabilizer, optimizer_hyper: Sequence[float]) -> torch.Tensor:
    return torch.tensor([float(group["lr"]), float(group.get("weight_decay", 0.0)),
                         stabilizer.gamma1, stabilizer.gamma2, stabilizer.eps,
                         *optimizer_hyper], dtype=torch.float64)


def kernels_for(structure: str, dtype: str, stabilizer, amp: bool) -> K.KernelSet:
    """The kernels of a bucket of `dtype` ("f32", "f16", "bf16")."""
    return K.kernel_set(structure, dtype, stabilizer.on_nonfinite,
                        stabilizer.bias_correction, inv_scale=amp, found_inf=amp)

