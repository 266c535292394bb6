"""GradientStabilizer in plain PyTorch (the "eager" backend).

One function, `stabilize_`, rescales gradients in place following spec
section 1; the scalar state math is in f64 Python floats. It is the reference
the compiled backend is compared with, and the fallback for what the compiler
does not cover (CUDA tensors without the GPU runtime, unsupported optimizer
flags).
"""

from __future__ import annotations

import math
from typing import Dict, Iterable, List, Tuple

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


# Outside [2^-64, 2^64], the gradient factor c/n is applied as that power of
# two times the rest, as the compiled steps do (buildF32FactorPair in
# lib/Dialect/GS/IR/GSAttrs.cpp): c/n of an entirely subnormal gradient
# exceeds f32's range, that of one near f32's largest value is subnormal in
# f32, while the gradient times the power of two is exact.
FACTOR_SPLIT = 2.0 ** 64


def f32_factors(factor: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """The gradient factor as the f32 pair (prefactor, factor) whose product
    the compiled steps multiply by, `(g * prefactor) * factor`: prefactor is 1,
    2^64 or 2^-64 (exact), factor is c/n divided by it, rounded once to f32."""
    prefactor = 1.0
    if factor > FACTOR_SPLIT:
        prefactor = FACTOR_SPLIT
    elif factor < 1.0 / FACTOR_SPLIT:
        prefactor = 1.0 / FACTOR_SPLIT
    return (torch.tensor(prefactor, dtype=torch.float32),
            torch.tensor(factor / prefactor, dtype=torch.float32))


def check_real_floating(params: Iterable[torch.Tensor]) -> None:
    """Raises TypeError naming the first parameter with a gradient that is not
    a real floating-point tensor (the GS norm and factor are real)."""
    for index, p in enumerate(params):
        if p.grad is not None and (p.is_complex() or not p.is_floating_point()):
            raise TypeError(
                f"GradientStabilizer supports real floating-point parameters; parameter "
                f"{index} (shape {tuple(p.shape)}) is {p.dtype}")


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
    params = list(params)
    check_real_floating(params)
    nonfinite = []
    for p in params:
        g = p.grad
        if g is None or g.is_sparse:
            continue  # absent gradients are left alone; sparse ones pass
        state = states.setdefault(p, new_state())
        norm = grad_norm(g)
        factor = update_state(state, norm, gamma1, gamma2, eps, bias_correction)
        if factor is not None:
            # The f32 factors of the compiled steps; f16 / bf16 gradients are
            # widened for the product, rounded back once.
            prefactor, scale = f32_factors(factor)
            if g.dtype in (torch.float16, torch.bfloat16):
                g.copy_(g.float().mul_(prefactor).mul_(scale))
            else:
                if prefactor != 1.0:
                    g.mul_(prefactor.to(g.dtype))
                g.mul_(scale.to(g.dtype))
        elif not math.isfinite(norm):
            nonfinite.append(p)
            if on_nonfinite == "zero":
                g.zero_()
    return nonfinite
