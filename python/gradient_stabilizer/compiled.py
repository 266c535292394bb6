"""The compiled backend: one fused kernel per parameter group, dtype and
device.

For each param group the parameters with dense gradients are bucketed by
dtype and device (CPU, or a CUDA GPU: kernels queued on PyTorch's current
stream); each bucket runs one compiled `gs.group_step` in place on the
parameters, gradients, the inner optimizer's state tensors and the GS state.
Kernels are specialized on shapes, dtypes and the optimizer's compile-time
hyperparameters (betas, momentum, ...) and cached; `lr` and `weight_decay`
are read from the param group at every step, so schedulers need no
recompilation.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import torch

from . import _compiler as C
from .lion import Lion

DTYPES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}


# The most tensors one compiled kernel updates.
MAX_TENSORS_PER_STEP = 128


class Unsupported(ValueError):
    """The compiled backend cannot run this optimizer or these tensors."""


def optimizer_spec(optimizer: torch.optim.Optimizer, group: dict) -> Tuple[str, Tuple[str, ...]]:
    """The gs optimizer attribute for `group` and the names of the state
    tensors it keeps, in the compiler's order."""
    for flag in ("maximize", "capturable", "differentiable", "fused"):
        if group.get(flag):
            raise Unsupported(f"{type(optimizer).__name__}({flag}=True) is not supported "
                              "by backend='compiled'")
    f = C.mlir_float
    if type(optimizer) is torch.optim.SGD:
        momentum, dampening = group["momentum"], group["dampening"]
        attr = (f"#gs.sgd<momentum = {f(momentum)}, dampening = {f(dampening)}, "
                f"nesterov = {'true' if group['nesterov'] else 'false'}>")
        return attr, (("momentum_buffer",) if momentum != 0 else ())
    if type(optimizer) in (torch.optim.Adam, torch.optim.AdamW):
        beta1, beta2 = group["betas"]
        name = "adam" if type(optimizer) is torch.optim.Adam else "adamw"
        amsgrad = bool(group.get("amsgrad", False))
        attr = (f"#gs.{name}<beta1 = {f(beta1)}, beta2 = {f(beta2)}, "
                f"eps = {f(group['eps'])}, amsgrad = {'true' if amsgrad else 'false'}>")
        return attr, ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ())
    if type(optimizer) is Lion:
        beta1, beta2 = group["betas"]
        return f"#gs.lion<beta1 = {f(beta1)}, beta2 = {f(beta2)}>", ("exp_avg",)
    raise Unsupported(f"backend='compiled' supports torch.optim.SGD, Adam, AdamW and "
                      f"gradient_stabilizer.Lion, not {type(optimizer).__name__}")


def target_of(device: torch.device) -> str:
    """The compiler target of a device: "cpu", or the CUDA chip ("sm_90")."""
    if device.type == "cpu":
        return "cpu"
    if device.type == "cuda" and torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability(device)
        return f"sm_{major}{minor}"
    raise Unsupported(f"backend='compiled' runs CPU and CUDA tensors, got {device}")


def check_supported(optimizer: torch.optim.Optimizer) -> None:
    """Raises Unsupported when any group cannot be compiled."""
    for group in optimizer.param_groups:
        optimizer_spec(optimizer, group)
        for p in group["params"]:
            target_of(p.device)
            if p.dtype not in DTYPES:
                raise Unsupported(f"backend='compiled' supports float32, float16 and "
                                  f"bfloat16 parameters, got {p.dtype}")


def _step_count(state: dict) -> int:
    """The optimizer's step count; an SGD momentum buffer made by the eager
    path (which keeps no count) means the first step is behind us."""
    step = state.get("step")
    if step is None:
        return 1 if state.get("momentum_buffer") is not None else 0
    return int(step.item() if isinstance(step, torch.Tensor) else step)


class CompiledBackend:
    """Runs GSWrapper steps through compiled kernels."""

    def __init__(self, vector_width: int = 8):
        self.vector_width = vector_width
        self._steps: Dict[C.StepSignature, C.CompiledStep] = {}

    def _compiled(self, sig: C.StepSignature) -> C.CompiledStep:
        step = self._steps.get(sig)
        if step is None:
            step = self._steps[sig] = C.CompiledStep(sig, self.vector_width)
        return step

    def step(self, optimizer: torch.optim.Optimizer, stabilizer) -> None:
        """One stabilize-then-optimize step of every param group, in place.
        Everything is checked before anything runs: an Unsupported error
        leaves all parameters and states untouched."""
        stabilizer_attr = C.stabilizer_attr(
            stabilizer.gamma1, stabilizer.gamma2, stabilizer.eps,
            stabilizer.bias_correction, stabilizer.on_nonfinite)
        work = []
        for group in optimizer.param_groups:
            attr, moment_names = optimizer_spec(optimizer, group)
            buckets: Dict[tuple, List[torch.Tensor]] = {}
            for p in group["params"]:
                if p.grad is None:
                    continue  # absent gradients: left alone (spec section 5)
                self._check_tensors(optimizer, p, moment_names)
                buckets.setdefault((p.dtype, p.device), []).append(p)
            # Tensors are independent within a step (no inv_scale here), so a
            # large bucket runs as several kernels: ctypes calls at most 1024
            # arguments, and compile time grows faster than the group size.
            chunks = [((dtype, device), params[i:i + MAX_TENSORS_PER_STEP])
                      for (dtype, device), params in buckets.items()
                      for i in range(0, len(params), MAX_TENSORS_PER_STEP)]
            for (dtype, device), params in chunks:
                sig = C.StepSignature(
                    shapes=tuple(tuple(p.shape) for p in params),
                    dtypes=(DTYPES[dtype],) * len(params), optimizer=attr,
                    num_moments=len(moment_names), stabilizer=stabilizer_attr,
                    target=target_of(device))
                work.append((self._compiled(sig), group, params, moment_names))
        for step, group, params, moment_names in work:
            self._run_bucket(step, optimizer, stabilizer, group, params, moment_names)

    @staticmethod
    def _check_tensors(optimizer, p, moment_names):
        if p.grad.is_sparse:
            raise Unsupported("sparse gradients take the eager path")
        target_of(p.device)
        if p.dtype not in DTYPES:
            raise Unsupported(f"backend='compiled' runs float32 / float16 / bfloat16 "
                              f"tensors, got {p.dtype}")
        if p.grad.device != p.device:
            raise Unsupported("a gradient is on another device than its parameter")
        if not p.is_contiguous():
            raise Unsupported("backend='compiled' needs contiguous parameters")
        if p.grad.shape != p.shape or p.grad.dtype != p.dtype:
            raise Unsupported("a gradient's shape or dtype differs from its parameter's")
        for name in moment_names:
            buf = optimizer.state[p].get(name) if p in optimizer.state else None
            if buf is not None and (not buf.is_contiguous() or buf.dtype != p.dtype
                                    or buf.shape != p.shape):
                raise Unsupported(f"optimizer state '{name}' must be a contiguous tensor "
                                  "of its parameter's shape and dtype")

    @staticmethod
    def _run_bucket(step, optimizer, stabilizer, group, params, moment_names):
        n = len(params)
        device = params[0].device
        # The GS and step state travel as small tensors on the parameters'
        # device (for CUDA: one copy in and out per step and group).
        stats = torch.empty((n, 2), dtype=torch.float64)
        counts = torch.empty((n, 2), dtype=torch.int64)
        steps = torch.empty(n, dtype=torch.int64)
        moments, grads, keep_alive = [], [], []
        for i, p in enumerate(params):
            gs_state = stabilizer.state_of(p)
            stats[i, 0], stats[i, 1] = gs_state["m"], gs_state["v"]
            counts[i, 0], counts[i, 1] = gs_state["k"], gs_state["skipped"]
            opt_state = optimizer.state[p]
            steps[i] = _step_count(opt_state)
            for name in moment_names:
                buf = opt_state.get(name)
                if buf is None:
                    buf = opt_state[name] = torch.zeros_like(
                        p, memory_format=torch.contiguous_format)
                moments.append(buf.data_ptr())
            grad = p.grad.contiguous()  # read only: a copy is harmless
            keep_alive.append(grad)
            grads.append(grad.data_ptr())
        lr = float(group["lr"])
        weight_decay = float(group.get("weight_decay", 0.0))
        stream = None
        if device.type == "cuda":
            stats, counts, steps = (t.to(device) for t in (stats, counts, steps))
            stream = torch.cuda.current_stream(device).cuda_stream
        step([p.data_ptr() for p in params], grads, moments, stats.data_ptr(),
             counts.data_ptr(), steps.data_ptr(), lr, weight_decay, stream=stream)
        stats, counts, steps = stats.cpu(), counts.cpu(), steps.cpu()
        for i, p in enumerate(params):
            stabilizer.state[p].update(m=float(stats[i, 0]), v=float(stats[i, 1]),
                                       k=int(counts[i, 0]), skipped=int(counts[i, 1]))
            opt_state = optimizer.state[p]
            old = opt_state.get("step")
            if isinstance(old, torch.Tensor) or old is None:
                opt_state["step"] = torch.tensor(float(steps[i]))
            else:
                opt_state["step"] = int(steps[i])
