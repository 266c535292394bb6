"""Checks of a wrapped optimizer's param groups that GSWrapper runs before
every step, whatever the backend: a bad value raises ValueError naming it
before anything is written, and never reaches a kernel (where a NaN beta
would silently give NaN parameters) or a compiler (where it would read as
"the compiler failed")."""

from __future__ import annotations

import math
import numbers

import torch


def check_param_groups(optimizer: torch.optim.Optimizer) -> None:
    """Raises ValueError for a parameter listed twice (in one group or in two)
    or a hyperparameter torch.optim would refuse at construction."""
    seen = {}
    for g, group in enumerate(optimizer.param_groups):
        for i, p in enumerate(group["params"]):
            where = seen.setdefault(id(p), (g, i))
            if where != (g, i):
                raise ValueError(
                    f"GSWrapper: param group {g} lists parameter {i} (shape "
                    f"{tuple(p.shape)}) again (first at param group {where[0]}, "
                    f"position {where[1]}); each parameter must appear once, or it "
                    "would be stepped twice with one stabilized gradient")
        _check_hyperparameters(g, group)


def _value(group: dict, name: str):
    value = group[name]
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    return value


def _check_number(g: int, name: str, value, low: float | None = 0.0,
                  below: float | None = None) -> None:
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool)
          and math.isfinite(value) and (low is None or value >= low)
          and (below is None or value < below))
    if not ok:
        bound = (f"in [{low}, {below})" if below is not None
                 else "a finite number" if low is None else f"a finite number >= {low}")
        raise ValueError(f"Invalid {name} in param group {g}: {value!r} "
                         f"(it must be {bound})")


def _check_hyperparameters(g: int, group: dict) -> None:
    """The hyperparameters torch's optimizers check in their constructors
    (which a scheduler or a user may have changed since), as they check them,
    and finite."""
    for name in ("lr", "weight_decay", "eps", "momentum", "dampening"):
        if name in group and group[name] is not None:
            # (torch leaves dampening unchecked; any finite value is math)
            _check_number(g, name, _value(group, name),
                          None if name == "dampening" else 0.0)
    if "betas" in group:
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"Invalid betas in param group {g}: {betas!r} (expected "
                             "two numbers)")
        for i, beta in enumerate(betas):
            if isinstance(beta, torch.Tensor) and beta.numel() == 1:
                beta = beta.item()
            _check_number(g, f"beta parameter at index {i}", beta, 0.0, 1.0)
    if group.get("nesterov") and (_value(group, "momentum") <= 0
                                  or _value(group, "dampening") != 0):
        raise ValueError(f"Invalid nesterov in param group {g}: Nesterov momentum "
                         "requires a momentum and zero dampening")
