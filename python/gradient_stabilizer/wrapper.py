"""GSWrapper: an optimizer that stabilizes the gradients, then steps the
optimizer it wraps."""

from __future__ import annotations

import contextlib
import warnings
from collections import OrderedDict
from typing import List, Optional, Tuple

import torch

from . import checkpoint
from ._compiler import CompilerError
from .compiled import CompiledBackend, Unsupported, check_supported
from .eager import check_finite, not_traced
from .stabilizer import BACKENDS, GradientStabilizer, parameters_of
from .validation import check_param_groups

# What torch.optim.Optimizer.__init__ sets besides the param groups and state
# (which stay the wrapped optimizer's), in the torch versions that have them.
_HOOK_DICTS = ("_optimizer_step_pre_hooks", "_optimizer_step_post_hooks",
               "_optimizer_state_dict_pre_hooks", "_optimizer_state_dict_post_hooks",
               "_optimizer_load_state_dict_pre_hooks",
               "_optimizer_load_state_dict_post_hooks")

# Optimizer flags that choose an implementation, not the math: the eager path
# runs them as they are; the compiled kernels, where they accept them, compute
# the same update.
_IMPLEMENTATION_FLAGS = ("fused",)


class GSWrapper(torch.optim.Optimizer):
    """Wraps `optimizer`; `step()` applies GradientStabilizer to the
    gradients, then the optimizer's update.

    It is a `torch.optim.Optimizer` to everything that checks (LR schedulers,
    `torch.amp.GradScaler`, hooks) and forwards `param_groups`, `state`,
    `defaults`, `zero_grad` and `add_param_group` to the wrapped optimizer.
    `scaler` is its GradientStabilizer.

    backend: "compiled" runs each param group as fused compiled kernels (SGD,
    Adam, AdamW, Lion); "eager" uses PyTorch ops and the wrapped optimizer's
    own step; "auto" picks "compiled" when it supports the optimizer and
    tensors, else "eager". Sparse gradients pass through unstabilized under
    every backend; a `fused=True` optimizer takes the eager path.

    Mixed precision: `torch.amp.GradScaler.step` hands the loss scale and its
    inf/NaN flag to `step()` (`_step_supports_amp_scaling`): the gradients
    are unscaled inside the stabilizing multiply, and a step with an inf/NaN
    gradient changes nothing.
    """

    _step_supports_amp_scaling = True

    def __init__(self, optimizer: torch.optim.Optimizer, gamma1: float = 0.6,
                 gamma2: float = 0.999, eps: float = 1e-12, bias_correction: bool = True,
                 on_nonfinite: str = "skip", raise_on_nonfinite: bool = False,
                 backend: str = "auto"):
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got "
                            f"{type(optimizer).__name__}")
        if isinstance(optimizer, GSWrapper):
            raise TypeError("optimizer is already a GSWrapper: wrapping it again would "
                            "stabilize every gradient twice")
        check_param_groups(optimizer)
        self.optimizer = optimizer
        self.scaler = GradientStabilizer(gamma1, gamma2, eps, bias_correction, on_nonfinite,
                                         raise_on_nonfinite, backend)
        if backend == "compiled":
            flags = self._implementation_flags()
            if flags:
                warnings.warn(f"GSWrapper: backend='compiled' steps {flags[0]}=True "
                              "optimizers on the eager path", stacklevel=2)
            else:
                check_supported(optimizer)  # raises, naming what is unsupported
        self._compiled = CompiledBackend() if backend != "eager" else None
        # Compiled GPU steps keep the step counts on the device: whoever
        # saves or loads the wrapped optimizer directly sees them current.
        if hasattr(optimizer, "register_state_dict_pre_hook"):
            optimizer.register_state_dict_pre_hook(_SyncState(self.scaler))
            optimizer.register_load_state_dict_pre_hook(_SyncState(self.scaler))
        for name in _HOOK_DICTS:
            setattr(self, name, OrderedDict())
        if hasattr(self, "_patch_step_function"):
            self._patch_step_function()

    @property
    def backend(self) -> str:
        return self.scaler.backend

    # Copies and pickles: the compiled kernels (ctypes functions of this
    # process) are a cache, which a copy rebuilds on its first step; hooks are
    # not copied, as torch.optim.Optimizer does not copy them.
    def __getstate__(self):
        self.scaler.sync()  # state held by compiled steps, before the copy
        state = dict(self.__dict__)
        if state.get("_compiled") is not None:
            state["_compiled"] = True
        for name in _HOOK_DICTS:
            state.pop(name, None)
        return state

    def __setstate__(self, state):
        if state.get("_compiled") is True:
            state = dict(state, _compiled=CompiledBackend())
        self.__dict__.update(state)
        for name in _HOOK_DICTS:
            setattr(self, name, OrderedDict())
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
        # Compiled steps keep the step counts in their buckets: current here.
        self.scaler.sync()
        return self.optimizer.state

    @state.setter
    def state(self, value):
        self.scaler.sync()
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
        s = self.scaler
        return (f"GSWrapper({self.optimizer!r}, gamma1={s.gamma1}, gamma2={s.gamma2}, "
                f"eps={s.eps}, bias_correction={s.bias_correction}, "
                f"on_nonfinite={s.on_nonfinite!r}, "
                f"raise_on_nonfinite={s.raise_on_nonfinite}, backend={self.backend!r})")

    def _params(self) -> List[torch.Tensor]:
        return parameters_of(self.optimizer)

    def _implementation_flags(self) -> List[str]:
        """The implementation flags (fused=True) set in any param group."""
        return [flag for flag in _IMPLEMENTATION_FLAGS
                if any(group.get(flag) for group in self.optimizer.param_groups)]

    def _use_compiled(self, amp: bool) -> bool:
        """Whether this step runs on the compiled backend: it must exist,
        take the optimizer, and (for a loss-scaled step) take the scale."""
        if self._compiled is None or self._implementation_flags():
            return False
        if amp and not getattr(self._compiled, "supports_amp", False):
            return False
        if self.backend == "compiled":
            return True
        try:
            check_supported(self.optimizer)
        except Unsupported:
            return False
        return True

    @not_traced
    @torch.no_grad()
    def step(self, closure=None, **kwargs):
        """One stabilize-then-optimize step. `grad_scaler` (passed by
        GradScalers that hand themselves to the optimizer) is the only
        keyword accepted besides `closure`."""
        grad_scaler = kwargs.pop("grad_scaler", None)
        if kwargs:
            raise TypeError(f"GSWrapper.step() got unexpected keyword arguments "
                            f"{sorted(kwargs)}")
        try:
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            grad_scale, found_inf = self._amp_arguments(grad_scaler)
            self._step(grad_scale, found_inf)
            return loss
        except BaseException:
            # GradScaler removes what it set only after a successful step;
            # left behind, its scale would multiply the next step's.
            if grad_scaler is None:
                self.__dict__.pop("grad_scale", None)
                self.__dict__.pop("found_inf", None)
            raise

    def _amp_arguments(self, grad_scaler) -> Tuple[Optional[torch.Tensor],
                                                     Optional[torch.Tensor]]:
        """(loss scale, inf/NaN flag) of a GradScaler step, (None, None)
        otherwise. The scale is None when the gradients are unscaled already
        (`scaler.unscale_(optimizer)` before `scaler.step(optimizer)`).

        torch 2.x's GradScaler sets `grad_scale` and `found_inf` on the
        optimizer; older ones (torch 1.13) pass `grad_scaler=` and leave the
        inf check to the optimizer, which asks the scaler for it."""
        if grad_scaler is None:
            found_inf = self.__dict__.get("found_inf")
            return (self.__dict__.get("grad_scale") if found_inf is not None else None,
                    found_inf)
        state = grad_scaler._per_optimizer_states[id(self)]
        unscaled = state["stage"].name == "UNSCALED"
        if not unscaled:
            grad_scaler._check_inf_per_device(self)
        scale = grad_scaler._get_scale_async()
        found_inf = sum(t.to(scale.device, non_blocking=True)
                        for t in state["found_inf_per_device"].values())
        if not torch.is_tensor(found_inf):
            found_inf = torch.zeros((), dtype=torch.float32, device=scale.device)
        return (None if unscaled else scale), found_inf

    def _step(self, grad_scale, found_inf):
        # A duplicate parameter or a bad hyperparameter (a scheduler's NaN
        # beta) is the caller's error on every backend: raised before
        # anything runs, it neither falls back nor turns the compiler off.
        check_param_groups(self.optimizer)
        params = self._params()
        sparse = [p for p in params if p.grad is not None and p.grad.is_sparse]
        amp = found_inf is not None
        if self._use_compiled(amp):
            try:
                self._compiled_step(params, sparse, grad_scale, found_inf)
                return
            except Unsupported as reason:
                if self.backend == "compiled":
                    raise
                # "auto": nothing has run (the backend checks and compiles
                # everything first), so this step goes the eager way.
                warnings.warn(f"GSWrapper: eager step ({reason})", stacklevel=4)
            except CompilerError as error:
                if self.backend == "compiled":
                    raise
                self._compiled = None  # e.g. no toolchain: stay eager
                warnings.warn(f"GSWrapper: the compiler is unavailable, using the "
                              f"eager backend: {error}", stacklevel=4)
        self._eager_step(params, grad_scale, found_inf)

    def _compiled_step(self, params, sparse, grad_scale, found_inf):
        """The compiled kernels step the dense gradients; the wrapped
        optimizer steps the sparse ones, unstabilized."""
        dense = [p for p in params if p.grad is not None and not p.grad.is_sparse]
        if found_inf is None:
            if self.scaler.raise_on_nonfinite:
                check_finite(params)
            with _hidden_grads(sparse):
                self._compiled.step(self.optimizer, self.scaler)
            if sparse:
                with _hidden_grads(dense):
                    self.optimizer.step()
            return
        devices = {p.device for p in dense}
        if len(devices) > 1:
            raise Unsupported("a loss-scaled compiled step needs all parameters on one "
                              "device")
        device = devices.pop() if devices else found_inf.device
        flag = found_inf.to(device=device, dtype=torch.float32)
        inv_scale = (torch.ones((), dtype=torch.float32, device=device) if grad_scale is None
                     else grad_scale.double().reciprocal().float().to(device))
        with _hidden_grads(sparse):
            self._compiled.step(self.optimizer, self.scaler, inv_scale=inv_scale,
                                found_inf=flag)
        if sparse and not bool(found_inf):
            for p in sparse:
                p.grad._values().mul_(inv_scale.to(p.grad.device))
            with _hidden_grads(dense):
                self.optimizer.step()

    def _eager_step(self, params, grad_scale, found_inf):
        inv_scale = None
        if found_inf is not None:
            if bool(found_inf):  # the loss scale overflowed: skip the whole step
                return
            if grad_scale is not None:
                inv_scale = float(grad_scale.double().reciprocal().float())
        nonfinite = self.scaler.stabilize(params, inv_scale)
        if nonfinite is None:
            return  # an unscaled gradient is non-finite: skip the whole step
        # Under "skip" the optimizer leaves a parameter without gradient
        # alone: hide the non-finite gradient for this step, then give it back.
        with _hidden_grads(nonfinite if self.scaler.on_nonfinite == "skip" else []):
            self.optimizer.step()

    def state_dict(self, format: str = "gs") -> dict:
        """The wrapped optimizer's state and the GS state keyed by parameter
        position. `format="original"` writes the original library's layout
        (`optimizer`, `scaler_state_by_idx`, `scaler_hparams`), which it can
        load; the default keeps this package's f64 EMAs."""
        checkpoint.check_format(format)
        self.scaler.sync()  # state held on a GPU, before the optimizer's part
        for hook in self._optimizer_state_dict_pre_hooks.values():
            hook(self)
        result = {"optimizer": self.optimizer.state_dict(),
                  **checkpoint.export(self.scaler.state, self._params(),
                                      self.scaler.hyperparameters(),
                                      self.scaler.on_nonfinite, format)}
        for hook in self._optimizer_state_dict_post_hooks.values():
            returned = hook(self, result)
            if returned is not None:
                result = returned
        return result

    def load_state_dict(self, state_dict: dict) -> None:
        """Loads a checkpoint of either format (detected from its keys). The
        GS part is checked in full first; a bad entry raises ValueError
        naming it. If the wrapped optimizer's load fails, its previous state
        is restored: a failed load changes nothing."""
        for hook in self._optimizer_load_state_dict_pre_hooks.values():
            returned = hook(self, state_dict)
            if returned is not None:
                state_dict = returned
        params = self._params()
        try:
            entries, saved = checkpoint.parse(state_dict, len(params))
            checkpoint.check_optimizer_part(state_dict, len(params))
        except ValueError as error:
            raise ValueError(f"GSWrapper.load_state_dict: {error}; nothing was "
                             "loaded") from None
        self.scaler.warn_if_different(saved)  # (before anything changes)
        inner = self.optimizer
        state, groups = inner.state, inner.param_groups
        group_contents = [dict(group) for group in groups]
        try:
            inner.load_state_dict(state_dict["optimizer"])
        except BaseException:
            for group, contents in zip(groups, group_contents):
                group.clear()
                group.update(contents)
            inner.state, inner.param_groups = state, groups
            raise
        self.scaler.install(entries, params)
        for hook in self._optimizer_load_state_dict_post_hooks.values():
            hook(self)


class _SyncState:
    """A state-dict pre-hook of the wrapped optimizer: brings the state that
    compiled GPU steps hold on the device up to date first."""

    def __init__(self, stabilizer):
        self.stabilizer = stabilizer

    def __call__(self, optimizer, *args):
        self.stabilizer.sync()


@contextlib.contextmanager
def _hidden_grads(params):
    """Sets the gradients of `params` to None, and gives them back after."""
    hidden = [(p, p.grad) for p in params]
    for p, _ in hidden:
        p.grad = None
    try:
        yield
    finally:
        for p, grad in hidden:
            p.grad = grad
