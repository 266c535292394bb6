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


def not_traced(function):
    """Runs `function` eagerly inside a `torch.compile`d region (a graph
    break): the step's scalar state math and data-dependent branches would
    otherwise break the graph at every parameter and recompile per shape.
    Without torch.compiler (torch 1.13) `function` is returned as it is."""
    disable = getattr(getattr(torch, "compiler", None), "disable", None)
    return disable(function) if disable is not None else function


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


def describe(index: int, p: torch.Tensor) -> str:
    """How error messages name a parameter: its position and shape."""
    return f"parameter {index} (shape {tuple(p.shape)})"


def check_finite(params: Iterable[torch.Tensor]) -> None:
    """Raises FloatingPointError naming the first parameter whose dense
    gradient holds a NaN or Inf. Reads every gradient once; one host
    synchronization per device."""
    by_device: Dict[torch.device, list] = {}
    for i, p in enumerate(params):
        if p.grad is not None and not p.grad.is_sparse:
            by_device.setdefault(p.grad.device, []).append((i, p))
    bad = []
    for indexed in by_device.values():
        norms = torch.stack([torch.linalg.vector_norm(p.grad, dtype=torch.float64)
                             for _, p in indexed])
        finite = torch.isfinite(norms)
        if not bool(finite.all()):
            j = int((~finite).nonzero()[0])
            bad.append((indexed[j][0], indexed[j][1], float(norms[j])))
    if bad:
        raise nonfinite_error(*min(bad, key=lambda item: item[0]))


def nonfinite_error(index: int, p: torch.Tensor, norm: float) -> FloatingPointError:
    return FloatingPointError(
        f"GradientStabilizer: {describe(index, p)} has a non-finite gradient (norm "
        f"{norm}); nothing was changed (raise_on_nonfinite=True)")


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
               on_nonfinite: str = "skip", raise_on_nonfinite: bool = False,
               inv_scale: float | None = None) -> List[torch.Tensor] | None:
    """Rescales each parameter's dense gradient in place (spec section 1).

    `states` maps a parameter to its state (created on first use). Returns
    the parameters whose gradient was non-finite: under "zero" their gradient
    has been zeroed, under "passthrough" it is left as it is, and under "skip"
    the caller must not step them (GSWrapper hides their gradient from the
    optimizer for that step).

    Every norm is computed before anything changes, so with
    `raise_on_nonfinite` a NaN / Inf gradient raises FloatingPointError
    (naming the parameter) with no gradient and no state touched.

    `inv_scale` (spec section 4): the gradients are loss-scaled; each one is
    unscaled by the same multiply that stabilizes it (sparse ones, which GS
    leaves alone, are unscaled on their own). If any dense gradient is then
    non-finite, nothing changes and None is returned: the whole step is to be
    skipped.
    """
    params = list(params)
    check_real_floating(params)
    dense = [(i, p) for i, p in enumerate(params)
             if p.grad is not None and not p.grad.is_sparse]
    norms = [grad_norm(p.grad) for _, p in dense]
    if inv_scale is not None:
        if not all(math.isfinite(n) for n in norms):
            return None
        norms = [n * inv_scale for n in norms]
    if raise_on_nonfinite:
        for (i, p), norm in zip(dense, norms):
            if not math.isfinite(norm):
                raise nonfinite_error(i, p, norm)
    nonfinite = []
    for (_, p), norm in zip(dense, norms):
        g = p.grad
        state = states.setdefault(p, new_state())
        factor = update_state(state, norm, gamma1, gamma2, eps, bias_correction)
        if factor is not None:
            # The f64 factor (unscaling included) as the compiled steps' f32
            # pair; f16 / bf16 gradients are widened for the product.
            if inv_scale is not None:
                factor *= inv_scale
            _scale_(g, factor)
        elif not math.isfinite(norm):  # (never with inv_scale: see above)
            nonfinite.append(p)
            if on_nonfinite == "zero":
                g.zero_()
    if inv_scale is not None:
        for p in params:
            if p.grad is not None and p.grad.is_sparse:
                p.grad._values().mul_(inv_scale)
    return nonfinite


def _scale_(g: torch.Tensor, factor: float) -> None:
    """`g *= factor` as the compiled steps multiply: by the f32 pair of
    f32_factors."""
    prefactor, scale = f32_factors(factor)
    multiply_by_pair_(g, float(prefactor), float(scale))


def multiply_by_pair_(g: torch.Tensor, prefactor: float, factor: float) -> None:
    """`g = (g * prefactor) * factor` in f32, as the compiled steps form the
    stabilized gradient (both values are f32 numbers); f16 / bf16 gradients
    are widened for the product and rounded back once."""
    if g.dtype in (torch.float16, torch.bfloat16):
        g.copy_(g.float().mul_(prefactor).mul_(factor))
    else:
        if prefactor != 1.0:
            g.mul_(prefactor)
        g.mul_(factor)
