"""GradientStabilizer: the gradient transform on its own, applied to `p.grad`
in place between `backward()` and `optimizer.step()`."""

from __future__ import annotations

import math
import warnings
from typing import Dict, Iterable, List

import torch

from .eager import POLICIES, new_state, stabilize_

HYPERPARAMETERS = ("gamma1", "gamma2", "eps", "bias_correction")


def check_hyperparameters(gamma1, gamma2, eps, bias_correction, on_nonfinite):
    """Raises ValueError naming the first bad argument."""
    for name, value in (("gamma1", gamma1), ("gamma2", gamma2)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0.0 \
            or not math.isfinite(eps):
        raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
    if not isinstance(bias_correction, bool):
        raise ValueError(f"bias_correction must be a bool, got {bias_correction!r}")
    if on_nonfinite not in POLICIES:
        raise ValueError(f"on_nonfinite must be one of {POLICIES}, got {on_nonfinite!r}")
    if gamma1 * gamma1 >= gamma2:
        warnings.warn(f"gamma1**2 >= gamma2 ({gamma1}**2 >= {gamma2}): the "
                      "stabilized gradient norm has no uniform bound", stacklevel=3)


def parameters_of(target) -> List[torch.Tensor]:
    """The parameters of an optimizer, a list of param-group dicts or an
    iterable of parameters, in order, each once."""
    if isinstance(target, torch.optim.Optimizer):
        groups = target.param_groups
    else:
        items = list(target)
        groups = items if items and isinstance(items[0], dict) else [{"params": items}]
    seen, params = set(), []
    for group in groups:
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError("expected an optimizer, param groups or parameters")
        group_params = group["params"]
        if isinstance(group_params, torch.Tensor):
            group_params = [group_params]
        for p in group_params:
            if not isinstance(p, torch.Tensor):
                raise TypeError(f"expected tensors as parameters, got {type(p).__name__}")
            if id(p) not in seen:
                seen.add(id(p))
                params.append(p)
    return params


class GradientStabilizer:
    """Rescales each parameter's gradient to a stabilized magnitude from
    running statistics of its norm, keeping its direction.

    Callable on a `torch.optim.Optimizer`, a list of param-group dicts or any
    iterable of parameters. `state` maps each parameter to its EMAs `m`, `v`
    (f64), the count `k` of applied stabilizations and the `skipped` counter.
    A non-finite gradient never reaches the statistics; `on_nonfinite`
    decides what the optimizer sees: "skip" removes the gradient (`p.grad`
    becomes None, so the optimizer leaves the parameter and its state alone),
    "zero" zeroes it, "passthrough" keeps it (the original library).
    """

    def __init__(self, gamma1: float = 0.6, gamma2: float = 0.999, eps: float = 1e-12,
                 bias_correction: bool = True, on_nonfinite: str = "skip"):
        check_hyperparameters(gamma1, gamma2, eps, bias_correction, on_nonfinite)
        self.gamma1, self.gamma2, self.eps = float(gamma1), float(gamma2), float(eps)
        self.bias_correction = bias_correction
        self.on_nonfinite = on_nonfinite
        self.state: Dict[torch.Tensor, Dict[str, float]] = {}

    def __call__(self, target) -> None:
        for p in self.stabilize(parameters_of(target)):
            if self.on_nonfinite == "skip":
                p.grad = None

    def stabilize(self, params: Iterable[torch.Tensor]) -> List[torch.Tensor]:
        """Rescales the gradients in place; returns the parameters whose
        gradient was non-finite (see `on_nonfinite`)."""
        return stabilize_(params, self.state, self.gamma1, self.gamma2, self.eps,
                          self.bias_correction, self.on_nonfinite)

    def state_of(self, p: torch.Tensor) -> Dict[str, float]:
        return self.state.setdefault(p, new_state())

    def reset(self) -> None:
        """Drops all EMAs and counters."""
        self.state.clear()

    def hyperparameters(self) -> Dict[str, object]:
        return {name: getattr(self, name) for name in HYPERPARAMETERS}

    def state_dict(self, params: List[torch.Tensor]) -> dict:
        """The state keyed by position in `params`, with the hyperparameters."""
        state = {i: dict(self.state[p]) for i, p in enumerate(params) if p in self.state}
        return {"state": state, **self.hyperparameters(),
                "on_nonfinite": self.on_nonfinite}

    def load_state_dict(self, state_dict: dict, params: List[torch.Tensor]) -> None:
        """Restores the state saved by `state_dict` onto `params` (same order).
        Different saved hyperparameters warn; the current ones are kept."""
        saved = {name: state_dict.get(name) for name in HYPERPARAMETERS}
        if saved != self.hyperparameters():
            warnings.warn(f"GradientStabilizer: checkpoint hyperparameters {saved} differ "
                          f"from the current {self.hyperparameters()}; keeping the "
                          "current settings", stacklevel=3)
        entries = state_dict.get("state", {})
        for index in entries:
            if not 0 <= int(index) < len(params):
                raise ValueError(f"checkpoint has state for parameter {index}, but there "
                                 f"are only {len(params)} parameters")
        self.state = {params[int(i)]: {"m": float(s["m"]), "v": float(s["v"]),
                                       "k": int(s["k"]), "skipped": int(s["skipped"])}
                      for i, s in entries.items()}
