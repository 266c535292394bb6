"""What the prebuilt kernels (CPU and GPU alike) need to know about a
PyTorch optimizer and stabilizer: the optimizer's structure and run-time
hyperparameters, the kernel set of a bucket, the GS state as tensors, and
the loss-scaled skip across a group's dtypes. resident.py runs them."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch

from . import _cpu_kernels as K
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


def nonfinite_norms(offsets: torch.Tensor, partials: torch.Tensor,
                    inv_scale: torch.Tensor, num_chunks: int) -> torch.Tensor:
    """Whether any tensor's norm, from the `num_chunks` chunk sums of
    squares `partials` of a norms kernel and scaled by `inv_scale`, is NaN
    or Inf: a 0-d bool tensor on their device, computed there (no
    synchronization)."""
    n = offsets.numel() - 1
    counts = offsets[1:] - offsets[:-1]
    owner = torch.repeat_interleave(torch.arange(n, device=offsets.device), counts,
                                    output_size=num_chunks)
    sums = torch.zeros(n, dtype=torch.float64, device=offsets.device).index_add_(
        0, owner, partials[:num_chunks])
    norms = sums.sqrt() * inv_scale.double()
    return (~torch.isfinite(norms)).any()


def state_tensors(states: Sequence[dict], steps: Sequence[int]):
    """The GS state rows and step counts of a bucket as tensors."""
    stats = torch.tensor([[s["m"], s["v"]] for s in states], dtype=torch.float64)
    counts = torch.tensor([[s["k"], s["skipped"]] for s in states], dtype=torch.int64)
    return (stats.reshape(len(states), 2), counts.reshape(len(states), 2),
            torch.tensor(list(steps), dtype=torch.int64))


def kernels_for(structure: str, dtype: str, stabilizer, amp: bool,
                found_inf: bool = False) -> K.KernelSet:
    """The kernels of a bucket of `dtype` ("f32", "f16", "bf16"). The update
    writes the stabilized gradients back (what `p.grad` holds after a step,
    docs/python.md). `found_inf`: the scalars kernel takes a skip flag even
    without a loss scale (a sharded step gates itself with it)."""
    return K.kernel_set(structure, dtype, stabilizer.on_nonfinite,
                        stabilizer.bias_correction, inv_scale=amp,
                        found_inf=amp or found_inf, store_grads=True)


def restore_grad_copies(params: Sequence[torch.Tensor],
                        grads: Sequence[torch.Tensor]) -> None:
    """The kernels stored the stabilized gradients into `grads`; where one is
    a contiguous copy of a strided `p.grad`, copies it back."""
    for p, g in zip(params, grads):
        if g is not p.grad:
            p.grad.copy_(g)



def address_table(numels: Sequence[int], pointers: Sequence[int],
                  num_moments: int) -> torch.Tensor:
    """The kernels' table, one row per tensor: [numel, param, grad, moments...]
    from `pointers` = the params', then the grads', then every tensor's
    moments' addresses. An empty tensor has no storage: its address is
    never read."""
    n = len(numels)
    rows = []
    for i in range(n):
        row = [numels[i], pointers[i], pointers[n + i]]
        row += pointers[2 * n + i * num_moments:2 * n + (i + 1) * num_moments]
        rows.append(row)
    return torch.tensor(rows, dtype=torch.int64).reshape(n, 3 + num_moments)
