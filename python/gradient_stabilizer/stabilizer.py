"""GradientStabilizer: the gradient transform on its own, applied to `p.grad`
in place between `backward()` and `optimizer.step()`."""

from __future__ import annotations

import math
import warnings
from typing import Dict, Iterable, List, Optional

import torch

from . import checkpoint
from .eager import POLICIES, new_state, not_traced, stabilize_

HYPERPARAMETERS = checkpoint.HYPERPARAMETERS
BACKENDS = ("auto", "compiled", "eager")


def check_hyperparameters(gamma1, gamma2, eps, bias_correction, on_nonfinite,
                          raise_on_nonfinite=False, backend="auto"):
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
    if not isinstance(raise_on_nonfinite, bool):
        raise ValueError(f"raise_on_nonfinite must be a bool, got {raise_on_nonfinite!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
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
    iterable of parameters, between `backward()` and `optimizer.step()`; it
    can also be registered as an optimizer's step pre-hook
    (`optimizer.register_step_pre_hook(stabilizer)`). `state` maps each
    parameter to its EMAs `m`, `v` (f64), the count `k` of applied
    stabilizations and the `skipped` counter.

    A non-finite gradient never reaches the statistics. With
    `raise_on_nonfinite=True` it raises FloatingPointError naming the
    parameter, before anything changes; otherwise `on_nonfinite` decides what
    the optimizer sees: "skip" removes the gradient (`p.grad` becomes None, so
    the optimizer leaves the parameter and its state alone), "zero" zeroes it,
    "passthrough" keeps it (the original library).

    `backend` is the backend of a GSWrapper built around this stabilizer
    ("auto", "compiled" or "eager"); called on its own, the stabilizer
    rescales the gradients with PyTorch ops under every backend (the compiled
    kernels fuse the transform into the optimizer's update, which a
    standalone call leaves to `optimizer.step()`). Sparse gradients pass
    through untouched.
    """

    def __init__(self, gamma1: float = 0.6, gamma2: float = 0.999, eps: float = 1e-12,
                 bias_correction: bool = True, on_nonfinite: str = "skip",
                 raise_on_nonfinite: bool = False, backend: str = "auto"):
        check_hyperparameters(gamma1, gamma2, eps, bias_correction, on_nonfinite,
                              raise_on_nonfinite, backend)
        self.gamma1, self.gamma2, self.eps = float(gamma1), float(gamma2), float(eps)
        self.bias_correction = bias_correction
        self.on_nonfinite = on_nonfinite
        self.raise_on_nonfinite = raise_on_nonfinite
        self.backend = backend
        self._state: Dict[torch.Tensor, Dict[str, float]] = {}
        # Flushes of GS state that compiled steps keep in their buckets
        # (resident.ResidentBucket.flush); see `state`.
        self._residents: List = []

    @property
    def state(self) -> Dict[torch.Tensor, Dict[str, float]]:
        """Each parameter's GS state (`m`, `v`, `k`, `skipped`). Compiled
        steps keep it in their buckets between steps (on a GPU, in device
        memory); reading it brings it up to date here (one copy per bucket),
        and the next compiled step takes it from here again, edits
        included."""
        self.sync()
        return self._state

    @state.setter
    def state(self, value: Dict[torch.Tensor, Dict[str, float]]) -> None:
        self._drop_residents()
        self._state = value

    def sync(self) -> None:
        """Writes GS state held by compiled steps back to `state` (and the
        wrapped optimizer's step counts); a no-op when none is held."""
        while self._residents:
            self._residents.pop()()

    def _add_resident(self, flush) -> None:
        self._residents.append(flush)

    def _drop_residents(self) -> None:
        """Forgets device-held state without writing it back (the state is
        being replaced)."""
        for flush in self._residents:
            getattr(flush, "__self__", None).drop()
        self._residents = []

    def _state_of(self, p: torch.Tensor) -> Dict[str, float]:
        """state_of without sync(): for the backends' own bookkeeping."""
        return self._state.setdefault(p, new_state())

    # Copies and pickles carry the state, not device buffers of this process.
    def __getstate__(self):
        self.sync()
        return dict(self.__dict__, _residents=[])

    def __setstate__(self, state):
        state = dict(state)
        if "state" in state:  # pickled before the state could be resident
            state["_state"] = state.pop("state")
        state.setdefault("_residents", [])
        self.__dict__.update(state)

    @not_traced
    def __call__(self, target, *hook_arguments) -> None:
        """Stabilizes the gradients of `target` in place. `hook_arguments`:
        the (args, kwargs) a step pre-hook receives, ignored."""
        if len(hook_arguments) not in (0, 2):
            raise TypeError("GradientStabilizer is called with an optimizer, param groups "
                            "or parameters (or as a step pre-hook: optimizer, args, kwargs)")
        for p in self.stabilize(parameters_of(target)):
            if self.on_nonfinite == "skip":
                p.grad = None

    @not_traced
    def stabilize(self, params: Iterable[torch.Tensor],
                  inv_scale: Optional[float] = None) -> Optional[List[torch.Tensor]]:
        """Rescales the gradients in place; returns the parameters whose
        gradient was non-finite (see `on_nonfinite`). With `inv_scale` (the
        gradients are loss-scaled, spec section 4) they are unscaled in the
        same multiply, and None means a gradient was non-finite: nothing
        changed and the step is to be skipped."""
        return stabilize_(params, self.state, self.gamma1, self.gamma2, self.eps,
                          self.bias_correction, self.on_nonfinite,
                          self.raise_on_nonfinite, inv_scale)

    def state_of(self, p: torch.Tensor) -> Dict[str, float]:
        self.sync()
        return self._state_of(p)

    def reset(self) -> None:
        """Drops all EMAs and counters."""
        self.state.clear()

    def hyperparameters(self) -> Dict[str, object]:
        return {name: getattr(self, name) for name in HYPERPARAMETERS}

    def state_dict(self, params: List[torch.Tensor], format: str = "gs") -> dict:
        """The state keyed by position in `params`, with the hyperparameters:
        this package's format (`{"state": ..., "gamma1": ..., ...}`) or, with
        `format="original"`, the original library's `scaler_state_by_idx` and
        `scaler_hparams` (see `gradient_stabilizer.checkpoint`)."""
        exported = checkpoint.export(self.state, list(params), self.hyperparameters(),
                                     self.on_nonfinite, format)
        return exported["gradient_stabilizer"] if format == "gs" else exported

    def load_state_dict(self, state_dict: dict, params: List[torch.Tensor]) -> None:
        """Restores a state saved by `state_dict` (either format) onto
        `params` (same order). Everything is checked first: a bad entry raises
        ValueError naming it and nothing changes. Different saved
        hyperparameters warn; the current ones are kept."""
        params = list(params)
        if isinstance(state_dict, dict) and "state" in state_dict \
                and "gradient_stabilizer" not in state_dict:
            state_dict = {"gradient_stabilizer": state_dict}
        try:
            entries, saved = checkpoint.parse(state_dict, len(params))
        except ValueError as error:
            raise ValueError(f"GradientStabilizer.load_state_dict: {error}; nothing was "
                             "loaded") from None
        self.warn_if_different(saved)
        self.install(entries, params)

    def warn_if_different(self, saved: dict) -> None:
        """Warns when a checkpoint's hyperparameters differ from these."""
        if saved != self.hyperparameters():
            warnings.warn(f"GradientStabilizer: checkpoint hyperparameters {saved} differ "
                          f"from the current {self.hyperparameters()}; keeping the "
                          "current settings", stacklevel=3)

    def install(self, entries, params: List[torch.Tensor]) -> None:
        """Replaces the state with entries checked by `checkpoint.parse`."""
        self.state = {params[i]: dict(values) for i, values in entries.items()}
