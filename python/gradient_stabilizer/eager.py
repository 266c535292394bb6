"""GradientStabilizer in plain PyTorch (the "eager" backend).

One function, `stabilize_`, rescales gradients in place following spec
section 1; the scalar state math is in f64 Python floats. It is the reference
the compiled backend is compared with, and the fallback for what the compiler
does not cover (CUDA tensors without the GPU runtime, unsupported optimizer
flags).
"""

from __future__ import annotations

import math
from typing import Dict, Iterable, List

import torch

POLICIES = ("skip", "zero", "passthrough")


def new_state() -> Dict[str, float]:
    """A parameter's GS state: EMAs m, v (f64), counters k, skipped."""
    return {"m": 0.0, "v": 0.0, "k": 0, "skipped": 0}


def grad_norm(grad: torch.Tensor) -> float:
    """||grad||_2 in f64: squares of any finite f32 / f16 / bf16 value and
    their sums stay far inside the f64 range, so it neither overflows nor
    underflows."""
    return float(torch.linalg.vector_norm(grad, dtype=torch.float64))


def update_state(state: Dict[str, float], norm: float, gamma1: float,
                 gamma2: float, eps: float, bias_correction: bool) -> float | None:
    """Applies one GS step to `state` for a gradient of norm `norm` and
    returns the factor to multiply the gradient by, or None for a zero or
    non-finite norm (state['skipped'] counts those; m, v, k stay)."""
    if not math.isfinite(norm) or norm == 0.0:
        state["skipped"] += 1
        return None
    k = state["k"] + 1
    m = gamma1 * state["m"] + (1.0 - gamma1) * norm
    v = gamma2 * state["v"] + (1.0 - gamma2) * norm * norm
    m_hat, v_hat = m, v
    if bias_correction:
        m_hat = m / (1.0 - gamma1 ** k)
        v_hat = v / (1.0 - gamma2 ** k)
    state.update(m=m, v=v, k=k)
    return (m_hat / (math.sqrt(v_hat) + eps)) / norm


def stabilize_(params: Iterable[torch.Tensor], states: Dict, gamma1: float = 0.6,
               gamma2: float = 0.999, eps: float = 1e-12, bias_correction: bool = True,
               on_nonfinite: str = "skip") -> List[torch.Tensor]:
    """Rescales each parameter's dense gradient in place (spec section 1).

    `states` maps a parameter to its state (created on first use). Returns
    the parameters whose gradient was non-finite: under "zero" their gradient
    has been zeroed, under "passthrough" it is left as it is, and under "skip"
    the caller must not step them (GSWrapper hides their gradient from the
    optimizer for that step).
    """
    nonfinite = []
    for p in params:
        g = p.grad
        if g is None or g.is_sparse:
            continue  # absent gradients are left alone; sparse ones pass
        state = states.setdefault(p, new_state())
        norm = grad_norm(g)
        factor = update_state(state, norm, gamma1, gamma2, eps, bias_correction)
        if factor is not None:
            # One rounding of the f64 factor to f32; f16 / bf16 gradients are
            # widened for the product.
            scale = torch.tensor(factor, dtype=torch.float32)
            if g.dtype in (torch.float16, torch.bfloat16):
                g.copy_(g.float().mul_(scale))
            else:
                g.mul_(scale.to(g.dtype))
        elif not math.isfinite(norm):
            nonfinite.append(p)
            if on_nonfinite == "zero":
                g.zero_()
    return nonfinite
