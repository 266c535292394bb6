"""GSWrapper: an optimizer that stabilizes the gradients, then steps the
optimizer it wraps."""

from __future__ import annotations

import warnings
from collections import OrderedDict
from typing import List

import torch

from ._compiler import CompilerError
from .compiled import CompiledBackend, Unsupported, check_supported
from .stabilizer import GradientStabilizer, parameters_of

BACKENDS = ("auto", "compiled", "eager")


class GSWrapper(torch.optim.Optimizer):
    """Wraps `optimizer`; `step()` applies GradientStabilizer to the
    gradients, then the optimizer's update.

    It is a `torch.optim.Optimizer` to everything that checks (LR schedulers,
    `torch.amp.GradScaler`, hooks) and forwards `param_groups`, `state`,
    `defaults`, `zero_grad` and `add_param_group` to the wrapped optimizer.
    `scaler` is its GradientStabilizer.

    backend: "compiled" runs each param group as one fused compiled kernel
    (SGD, Adam, AdamW, Lion on CPU tensors); "eager" uses PyTorch ops and the
    wrapped optimizer's own step; "auto" picks "compiled" when it supports the
    optimizer and tensors, else "eager".
    """

    def __init__(self, optimizer: torch.optim.Optimizer, gamma1: float = 0.6,
                 gamma2: float = 0.999, eps: float = 1e-12, bias_correction: bool = True,
                 on_nonfinite: str = "skip", backend: str = "auto"):
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got "
                            f"{type(optimizer).__name__}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.optimizer = optimizer
        self.scaler = GradientStabilizer(gamma1, gamma2, eps, bias_correction, on_nonfinite)
        if backend == "compiled":
            check_supported(optimizer)  # raises, naming what is unsupported
        self.backend = backend
        self._compiled = CompiledBackend() if backend != "eager" else None
        # What torch.optim.Optimizer.__init__ would set besides the param
        # groups, which stay the wrapped optimizer's.
        self._optimizer_step_pre_hooks = OrderedDict()
        self._optimizer_step_post_hooks = OrderedDict()
        if hasattr(self, "_patch_step_function"):
            self._patch_step_function()

    # Copies and pickles: the compiled kernels (ctypes functions of this
    # process) are a cache, which a copy rebuilds on its first step; hooks are
    # not copied, as torch.optim.Optimizer does not copy them.
    def __getstate__(self):
        state = dict(self.__dict__)
        if state.get("_compiled") is not None:
            state["_compiled"] = True
        state.pop("_optimizer_step_pre_hooks", None)
        state.pop("_optimizer_step_post_hooks", None)
        return state

    def __setstate__(self, state):
        if state.get("_compiled") is True:
            state = dict(state, _compiled=CompiledBackend())
        self.__dict__.update(state)
        self._optimizer_step_pre_hooks = OrderedDict()
        self._optimizer_step_post_hooks = OrderedDict()
        if hasattr(self, "_patch_step_function"):
            self._patch_step_function()

    # Forwarded to the wrapped optimizer.
    @property
    def param_groups(self):
        return self.optimizer.param_groups

    @param_groups.setter
    def param_groups(self, value):
        self.optimizer.param_groups = value

    @property
    def state(self):
        return self.optimizer.state

    @state.setter
    def state(self, value):
        self.optimizer.state = value

    @property
    def defaults(self):
        return self.optimizer.defaults

    @defaults.setter
    def defaults(self, value):
        self.optimizer.defaults = value

    def zero_grad(self, set_to_none: bool = True):
        return self.optimizer.zero_grad(set_to_none=set_to_none)

    def add_param_group(self, param_group: dict) -> None:
        self.optimizer.add_param_group(param_group)

    def __repr__(self):
        return (f"GSWrapper({self.optimizer!r}, gamma1={self.scaler.gamma1}, "
                f"gamma2={self.scaler.gamma2}, eps={self.scaler.eps}, "
                f"bias_correction={self.scaler.bias_correction}, "
                f"on_nonfinite={self.scaler.on_nonfinite!r}, backend={self.backend!r})")

    def _params(self) -> List[torch.Tensor]:
        return parameters_of(self.optimizer)

    def _use_compiled(self) -> bool:
        if self._compiled is None:
            return False
        if self.backend == "compiled":
            return True
        try:
            check_supported(self.optimizer)
        except Unsupported:
            return False
        return not any(p.grad is not None and p.grad.is_sparse for p in self._params())

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self._use_compiled():
            try:
                self._compiled.step(self.optimizer, self.scaler)
                return loss
            except Unsupported as reason:
                if self.backend == "compiled":
                    raise
                # "auto": nothing has run (the backend checks and compiles
                # everything first), so this step goes the eager way.
                warnings.warn(f"GSWrapper: eager step ({reason})", stacklevel=2)
            except CompilerError as error:
                if self.backend == "compiled":
                    raise
                self._compiled = None  # e.g. no toolchain: stay eager
                warnings.warn(f"GSWrapper: the compiler is unavailable, using the "
                              f"eager backend: {error}", stacklevel=2)
        self._eager_step()
        return loss

    def _eager_step(self):
        nonfinite = self.scaler.stabilize(self._params())
        hidden = []
        if self.scaler.on_nonfinite == "skip":
            # The optimizer leaves a parameter without gradient alone: hide the
            # non-finite gradient for this step, then give it back.
            hidden = [(p, p.grad) for p in nonfinite]
            for p, _ in hidden:
                p.grad = None
        try:
            self.optimizer.step()
        finally:
            for p, grad in hidden:
                p.grad = grad

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(),
                "gradient_stabilizer": self.scaler.state_dict(self._params())}

    def load_state_dict(self, state_dict: dict) -> None:
        if "optimizer" not in state_dict or "gradient_stabilizer" not in state_dict:
            raise ValueError("not a GSWrapper state dict: expected the keys 'optimizer' "
                             "and 'gradient_stabilizer'")
        self.optimizer.load_state_dict(state_dict["optimizer"])
        self.scaler.load_state_dict(state_dict["gradient_stabilizer"], self._params())
