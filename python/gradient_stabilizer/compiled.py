"""The compiled backend: fused kernels per parameter group, dtype and device.

For each param group the parameters with dense gradients are bucketed by
dtype and device, and each bucket is stepped in place on the parameters,
gradients, the inner optimizer's state tensors and the GS state:

* CPU tensors run the prebuilt generic kernels (prebuilt_cpu.py,
  libgs_cpu_kernels): nothing is compiled, any number of tensors is one set
  of kernel runs over a table of addresses, all hyperparameters are run-time
  values (schedulers of lr, betas or momentum change nothing), and the
  chunks are spread over torch's intra-op threads.
* CUDA tensors run a compiled `gs.group_step` (kernels queued on PyTorch's
  current stream), specialized on shapes and compile-time hyperparameters
  and cached in the process (an LRU of MAX_CACHED_STEPS); the generic GPU
  kernels will replace it.

After a CPU step `p.grad` holds the gradient the optimizer stepped with
(prebuilt_cpu.store_stabilized_grads), as after an eager step.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch

from . import _compiler as C
from . import _cpu_kernels as K
from . import prebuilt_cpu as P
from ._cache import LRUCache
from .lion import Lion

DTYPES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}


# The most tensors one compiled kernel updates.
MAX_TENSORS_PER_STEP = 128

# The most compiled CUDA steps (one per signature: shapes, dtypes, the
# compile-time hyperparameters) and CPU bucket tables (one per param group
# and dtype) a CompiledBackend keeps; the least recently used go first.
MAX_CACHED_STEPS = 32
MAX_CACHED_BUCKETS = 256


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

    # step() takes inv_scale / found_inf (torch.amp.GradScaler's scale and
    # overflow flag): the kernels unscale inside the norm pass.
    supports_amp = True

    def __init__(self, vector_width: int = 8):
        self.vector_width = vector_width
        self._steps: LRUCache[C.CompiledStep] = LRUCache(MAX_CACHED_STEPS)
        self._cpu_buckets: LRUCache[P.CpuBucket] = LRUCache(MAX_CACHED_BUCKETS)

    def _compiled(self, sig: C.StepSignature) -> C.CompiledStep:
        return self._steps.get_or_make(sig, lambda: C.CompiledStep(sig, self.vector_width))

    def step(self, optimizer: torch.optim.Optimizer, stabilizer,
             inv_scale: Optional[torch.Tensor] = None,
             found_inf: Optional[torch.Tensor] = None) -> None:
        """One stabilize-then-optimize step of every param group, in place.
        Everything is checked before anything runs: an Unsupported or
        CompilerError leaves all parameters and states untouched.

        `inv_scale` and `found_inf` (0-d f32 tensors on the parameters'
        device, as torch.amp.GradScaler makes them): gradients are used as
        `grad * inv_scale`, and the whole step is skipped when `found_inf` is
        nonzero or any gradient is non-finite (spec section 4)."""
        amp = inv_scale is not None or found_inf is not None
        stabilizer_attr = C.stabilizer_attr(
            stabilizer.gamma1, stabilizer.gamma2, stabilizer.eps,
            stabilizer.bias_correction, stabilizer.on_nonfinite)
        cpu_work, gpu_work = [], []
        for index, group in enumerate(optimizer.param_groups):
            attr, moment_names = optimizer_spec(optimizer, group)
            buckets: Dict[tuple, List[torch.Tensor]] = {}
            for p in group["params"]:
                if p.grad is None:
                    continue  # absent gradients: left alone (spec section 5)
                self._check_tensors(optimizer, p, moment_names)
                buckets.setdefault((p.dtype, p.device), []).append(p)
            cpu = [(dtype, params) for (dtype, device), params in buckets.items()
                   if device.type == "cpu"]
            if cpu:
                cpu_work.append((index, group, moment_names, cpu))
            # A GPU bucket runs as kernels of at most MAX_TENSORS_PER_STEP
            # tensors (ctypes calls at most 1024 arguments); with a loss scale
            # the whole group must be one kernel.
            for (dtype, device), params in buckets.items():
                if device.type == "cpu":
                    continue
                if amp and len(params) > MAX_TENSORS_PER_STEP:
                    raise Unsupported(f"a loss-scaled step of more than "
                                      f"{MAX_TENSORS_PER_STEP} CUDA tensors per group")
                for i in range(0, len(params), MAX_TENSORS_PER_STEP):
                    chunk = params[i:i + MAX_TENSORS_PER_STEP]
                    sig = C.StepSignature(
                        shapes=tuple(tuple(p.shape) for p in chunk),
                        dtypes=(DTYPES[dtype],) * len(chunk), optimizer=attr,
                        num_moments=len(moment_names), stabilizer=stabilizer_attr,
                        inv_scale=amp, found_inf=amp, target=target_of(device))
                    gpu_work.append((self._compiled(sig), group, chunk, moment_names))
        if cpu_work:
            self._check_amp_tensors(inv_scale, found_inf)
            try:
                K.cpu_kernels()
            except K.KernelError as error:
                raise C.CompilerError(str(error)) from error
        for index, group, moment_names, buckets in cpu_work:
            self._run_cpu_group(optimizer, stabilizer, index, group, moment_names,
                                buckets, inv_scale, found_inf)
        for step, group, params, moment_names in gpu_work:
            self._run_bucket(step, optimizer, stabilizer, group, params, moment_names,
                             inv_scale, found_inf)

    @staticmethod
    def _check_amp_tensors(inv_scale, found_inf):
        for name, value in (("inv_scale", inv_scale), ("found_inf", found_inf)):
            if value is None:
                continue
            if not isinstance(value, torch.Tensor) or value.numel() != 1 \
                    or value.dtype != torch.float32 or value.device.type != "cpu":
                raise Unsupported(f"{name} must be a one-element float32 CPU tensor "
                                  f"for CPU parameters, got {value!r}")

    def _run_cpu_group(self, optimizer, stabilizer, index, group, moment_names,
                       buckets, inv_scale, found_inf):
        """Steps one param group's CPU buckets through the prebuilt kernels."""
        structure, optimizer_hyper = P.structure_of(optimizer, group)
        hyper = P.hyper_tensor(group, stabilizer, optimizer_hyper)
        amp = inv_scale is not None or found_inf is not None
        if amp:
            inv_scale = (torch.ones((), dtype=torch.float32) if inv_scale is None
                         else inv_scale.reshape(()).contiguous())
            found_inf = (torch.zeros((), dtype=torch.float32) if found_inf is None
                         else found_inf.reshape(()).contiguous())
        runs = []
        for dtype, params in buckets:
            bucket = self._cpu_buckets.get_or_make((index, dtype), P.CpuBucket)
            moments, step_counts = [], []
            for p in params:
                buffers, step = _moments_and_step(optimizer, p, moment_names)
                moments += buffers
                step_counts.append(step)
            grads = [p.grad.contiguous() for p in params]  # read only
            bucket.prepare(params, grads, moments, len(moment_names))
            states = [stabilizer.state_of(p) for p in params]
            stats, counts, steps = P.state_tensors(states, step_counts)
            runs.append(dict(bucket=bucket, params=params, grads=grads, states=states,
                             kernels=P.kernels_for(structure, DTYPES[dtype], stabilizer,
                                                     amp),
                             hyper=hyper, stats=stats, counts=counts, steps=steps))
        P.run_buckets(runs, torch.get_num_threads(), inv_scale, found_inf)
        for run in runs:
            P.store_stabilized_grads(run["params"], run["bucket"].records,
                                     stabilizer.on_nonfinite)
            stats, counts, steps = (run["stats"].tolist(), run["counts"].tolist(),
                                    run["steps"].tolist())
            for i, p in enumerate(run["params"]):
                run["states"][i].update(m=stats[i][0], v=stats[i][1], k=counts[i][0],
                                        skipped=counts[i][1])
                _store_step_count(optimizer.state[p], steps[i])

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
    def _run_bucket(step, optimizer, stabilizer, group, params, moment_names,
                    inv_scale=None, found_inf=None):
        n = len(params)
        device = params[0].device
        # The GS and step state travel as small tensors on the parameters'
        # device (for CUDA: one copy in and out per step and group).
        stats = torch.empty((n, 2), dtype=torch.float64)
        counts = torch.empty((n, 2), dtype=torch.int64)
        steps = torch.empty(n, dtype=torch.int64)
        moments, grads, keep_alive = [], [], []
        # An empty tensor has no storage (address 0), which the step refuses;
        # its kernels never read it, so any live address stands in.
        scratch = torch.empty(1, dtype=params[0].dtype, device=device)
        keep_alive.append(scratch)
        address = lambda t: t.data_ptr() or scratch.data_ptr()
        for i, p in enumerate(params):
            gs_state = stabilizer.state_of(p)
            stats[i, 0], stats[i, 1] = gs_state["m"], gs_state["v"]
            counts[i, 0], counts[i, 1] = gs_state["k"], gs_state["skipped"]
            buffers, steps[i] = _moments_and_step(optimizer, p, moment_names)
            moments += [address(buf) for buf in buffers]
            grad = p.grad.contiguous()  # read only: a copy is harmless
            keep_alive.append(grad)
            grads.append(address(grad))
        lr = float(group["lr"])
        weight_decay = float(group.get("weight_decay", 0.0))
        stream = None
        if device.type == "cuda":
            stats, counts, steps = (t.to(device) for t in (stats, counts, steps))
            stream = torch.cuda.current_stream(device).cuda_stream
        amp = []
        if inv_scale is not None or found_inf is not None:
            scale = (torch.ones((), dtype=torch.float32, device=device) if inv_scale is None
                     else inv_scale.to(device=device, dtype=torch.float32).reshape(()))
            flag = (torch.zeros((), dtype=torch.float32, device=device) if found_inf is None
                    else found_inf.to(device=device, dtype=torch.float32).reshape(()))
            keep_alive += [scale, flag]
            amp = [scale.data_ptr(), flag.data_ptr()]
        step([address(p) for p in params], grads, moments, stats.data_ptr(),
             counts.data_ptr(), steps.data_ptr(), lr, weight_decay, *amp, stream=stream)
        stats, counts, steps = stats.cpu(), counts.cpu(), steps.cpu()
        for i, p in enumerate(params):
            stabilizer.state[p].update(m=float(stats[i, 0]), v=float(stats[i, 1]),
                                       k=int(counts[i, 0]), skipped=int(counts[i, 1]))
            _store_step_count(optimizer.state[p], int(steps[i]))


def _moments_and_step(optimizer, p, moment_names) -> Tuple[List[torch.Tensor], int]:
    """The optimizer's state tensors of `p` (made, zeroed, where missing) and
    the step count its kernels take. torch.optim.SGD starts a new momentum
    buffer at the direction (b = d), as on a first step: step 0."""
    state = optimizer.state[p]
    step = _step_count(state)
    buffers = []
    for name in moment_names:
        buf = state.get(name)
        if buf is None:
            buf = state[name] = torch.zeros_like(p, memory_format=torch.contiguous_format)
            if name == "momentum_buffer":
                step = 0
        buffers.append(buf)
    return buffers, step


def _store_step_count(opt_state: dict, step: int) -> None:
    """Writes the step count back in the form the optimizer keeps it."""
    old = opt_state.get("step")
    if isinstance(old, torch.Tensor) or old is None:
        opt_state["step"] = torch.tensor(float(step))
    else:
        opt_state["step"] = int(step)
