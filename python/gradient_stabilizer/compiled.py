"""The compiled backend: fused kernels per parameter group, dtype and device.

For each param group the parameters with dense gradients are bucketed by
dtype and device, and each bucket is stepped in place on the parameters,
gradients, the inner optimizer's state tensors and the GS state:

* CPU tensors run the prebuilt generic kernels (libgs_cpu_kernels):
  nothing is compiled, any number of tensors is one set of kernel runs over
  a table of addresses, all hyperparameters are run-time values (schedulers
  of lr, betas or momentum change nothing), and the chunks are spread over
  torch's intra-op threads.
* CUDA tensors run the same kernels prebuilt for NVIDIA GPUs
  (libgs_gpu_kernels): three launches per bucket on PyTorch's current
  stream, no copy and no synchronization per step. Without that library (a
  build without it, or a GPU older than sm_70) they run a JIT-compiled
  `gs.group_step`, specialized on shapes and cached in the process.

Either way a bucket keeps its tables and the GS state of its tensors
resident (resident.py) until something reads the state.
"""

from __future__ import annotations

import functools
from typing import Dict, List, Optional, Tuple

import torch

from . import _compiler as C
from . import _cpu_kernels as K
from . import _gpu_kernels as G
from . import kernel_sets as P
from . import resident as R
from ._cache import LRUCache
from .lion import Lion

DTYPES = {torch.float32: "f32", torch.float16: "f16", torch.bfloat16: "bf16"}


# The most tensors one compiled kernel updates.
MAX_TENSORS_PER_STEP = 128

# The most JIT-compiled CUDA steps (one per signature: shapes, dtypes, the
# compile-time hyperparameters) a CompiledBackend keeps; the least recently
# used go first.
MAX_CACHED_STEPS = 32


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
        return _cuda_chip(device)
    raise Unsupported(f"backend='compiled' runs CPU and CUDA tensors, got {device}")


@functools.lru_cache(maxsize=None)
def _cuda_chip(device: torch.device) -> str:
    major, minor = torch.cuda.get_device_capability(device)
    return f"sm_{major}{minor}"


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

    def __init__(self, vector_width: int = 8, gpu_kernels_on_cpu: bool = False):
        """`gpu_kernels_on_cpu` (for tests): CPU tensors take the GPU path,
        with GS_GPU_KERNELS_LIB naming the emulated kernels
        (libgs_gpu_kernels_emulated.so), so its host logic runs without a
        GPU."""
        self.vector_width = vector_width
        self._steps: LRUCache[C.CompiledStep] = LRUCache(MAX_CACHED_STEPS)
        # One per (group, dtype, device), replaced (its state written back)
        # when the group's tensors change: bounded without eviction.
        self._buckets: R.Buckets = {}
        self._gpu_kernels_on_cpu = gpu_kernels_on_cpu
        # Device index -> whether the prebuilt GPU kernels run there.
        self._prebuilt_gpu: Dict[int, bool] = {}

    def __getstate__(self):
        return {"vector_width": self.vector_width,
                "gpu_kernels_on_cpu": self._gpu_kernels_on_cpu}

    def __setstate__(self, state):
        self.__init__(**state)

    def _runs_prebuilt_gpu(self, device: torch.device) -> bool:
        """Whether `device`'s buckets take the prebuilt GPU kernels."""
        if device.type == "cpu":
            return self._gpu_kernels_on_cpu
        index = R.device_index(device)
        usable = self._prebuilt_gpu.get(index)
        if usable is None:
            try:
                G.gpu_kernels().image(index)
                usable = True
            except G.KernelError:
                usable = False  # no library, or a GPU older than sm_70: JIT
            self._prebuilt_gpu[index] = usable
        return usable

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
        prebuilt_work, gpu_work = [], []
        for index, group in enumerate(optimizer.param_groups):
            attr, moment_names = optimizer_spec(optimizer, group)
            buckets: Dict[tuple, List[torch.Tensor]] = {}
            for p in group["params"]:
                if p.grad is None:
                    continue  # absent gradients: left alone (spec section 5)
                self._check_tensors(optimizer, p, moment_names)
                buckets.setdefault((p.dtype, p.device), []).append(p)
            prebuilt = [(dtype, device, params)
                        for (dtype, device), params in buckets.items()
                        if device.type == "cpu" or self._runs_prebuilt_gpu(device)]
            if prebuilt:
                prebuilt_work.append((index, group, moment_names, prebuilt))
            # Without the prebuilt kernels a GPU bucket runs as JIT-compiled
            # kernels of at most MAX_TENSORS_PER_STEP tensors (ctypes calls
            # at most 1024 arguments); with a loss scale the whole group
            # must be one kernel.
            for (dtype, device), params in buckets.items():
                if device.type == "cpu" or self._runs_prebuilt_gpu(device):
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
        if prebuilt_work:
            self._check_amp_tensors(prebuilt_work, inv_scale, found_inf)
            try:
                if any(d.type == "cpu" for _, _, _, b in prebuilt_work for _, d, _ in b):
                    (G.gpu_kernels if self._gpu_kernels_on_cpu else K.cpu_kernels)()
            except K.KernelError as error:
                raise C.CompilerError(str(error)) from error
        for index, group, moment_names, buckets in prebuilt_work:
            self._run_prebuilt_group(optimizer, stabilizer, index, group, moment_names,
                                     buckets, inv_scale, found_inf)
        for step, group, params, moment_names in gpu_work:
            self._run_bucket(step, optimizer, stabilizer, group, params, moment_names,
                             inv_scale, found_inf)

    @staticmethod
    def _check_amp_tensors(work, inv_scale, found_inf):
        devices = {device for _, _, _, buckets in work for _, device, _ in buckets}
        for name, value in (("inv_scale", inv_scale), ("found_inf", found_inf)):
            if value is None:
                continue
            if not isinstance(value, torch.Tensor) or value.numel() != 1 \
                    or value.dtype != torch.float32 or {value.device} != devices:
                raise Unsupported(f"{name} must be a one-element float32 tensor on the "
                                  f"parameters' device ({sorted(map(str, devices))}), "
                                  f"got {value!r}")

    def _run_prebuilt_group(self, optimizer, stabilizer, index, group, moment_names,
                            buckets, inv_scale, found_inf):
        """Steps one param group's buckets through the prebuilt kernels, with
        their GS state resident in the bucket (resident.py)."""
        structure, optimizer_hyper = P.structure_of(optimizer, group)
        hyper = [float(group["lr"]), float(group.get("weight_decay", 0.0)),
                 stabilizer.gamma1, stabilizer.gamma2, stabilizer.eps, *optimizer_hyper]
        amp = inv_scale is not None or found_inf is not None
        opt_state = optimizer.state
        by_device: Dict[torch.device, List[dict]] = {}
        for dtype, device, params in buckets:
            key = (index, dtype, device)
            bucket = self._buckets.get(key)
            if bucket is None or bucket.identity != tuple(map(id, params)):
                if bucket is not None:
                    bucket.release(stabilizer)
                gpu = device.type == "cuda" or self._gpu_kernels_on_cpu
                bucket = self._buckets[key] = R.ResidentBucket(params, device, gpu)
            # Steady steps only look the moments up; a missing one (a first
            # step, momentum turned on) restarts the bucket from the dicts,
            # where its step count starts over.
            moments = [opt_state[p].get(name) for p in params for name in moment_names]
            if not bucket.resident or any(m is None for m in moments):
                bucket.release(stabilizer)
                moments, step_counts = [], []
                for p in params:
                    buffers, step = _moments_and_step(optimizer, p, moment_names)
                    moments += buffers
                    step_counts.append(step)
                bucket.load(stabilizer, optimizer, step_counts)
            # The update stores the stabilized gradients into these.
            grads = [p.grad.contiguous() for p in params]
            bucket.prepare(grads, moments, len(moment_names), hyper)
            by_device.setdefault(device, []).append(dict(
                bucket=bucket, params=params, grads=grads,
                kernels=P.kernels_for(structure, DTYPES[dtype], stabilizer, amp)))
        for device, runs in by_device.items():
            scale = flag = None
            if amp:
                scale = (torch.ones((), dtype=torch.float32, device=device)
                         if inv_scale is None else inv_scale.reshape(()).contiguous())
                flag = (torch.zeros((), dtype=torch.float32, device=device)
                        if found_inf is None else found_inf.reshape(()).contiguous())
            R.run_buckets(runs, R.Runner(device, runs[0]["bucket"].gpu), scale, flag)
            for run in runs:
                P.restore_grad_copies(run["params"], run["grads"])

    @staticmethod
    def _check_tensors(optimizer, p, moment_names):
        """Raises Unsupported for what the kernels cannot step. Every step,
        for every tensor with a gradient: kept to a few attribute reads."""
        g, dtype, device = p.grad, p.dtype, p.device
        if g.is_sparse:
            raise Unsupported("sparse gradients take the eager path")
        if device.type != "cpu":
            target_of(device)
        if dtype not in DTYPES:
            raise Unsupported(f"backend='compiled' runs float32 / float16 / bfloat16 "
                              f"tensors, got {dtype}")
        if g.device != device:
            raise Unsupported("a gradient is on another device than its parameter")
        if not p.is_contiguous():
            raise Unsupported("backend='compiled' needs contiguous parameters")
        if g.dtype != dtype or g.shape != p.shape:
            raise Unsupported("a gradient's shape or dtype differs from its parameter's")
        state = optimizer.state.get(p) if moment_names else None
        for name in moment_names if state else ():
            buf = state.get(name)
            if buf is not None and (buf.dtype != dtype or buf.shape != p.shape
                                    or not buf.is_contiguous()):
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
            gs_state = stabilizer._state_of(p)
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
            stabilizer._state[p].update(m=float(stats[i, 0]), v=float(stats[i, 1]),
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


_store_step_count = R.store_step_count
