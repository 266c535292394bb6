"""The compiled steps of sharded parameters: the prebuilt kernels' phases
around the step's one all-reduce (sharded.py), on the CPU (libgs_cpu_kernels)
and on NVIDIA GPUs (libgs_gpu_kernels, or its emulated build on CPU tensors).

One code path for both: per bucket (a param group's local shards of one
dtype) the norms kernel writes per-chunk sums of squares; PyTorch ops on the
same device add them per tensor; the step's one `dist.all_reduce` makes them
whole-parameter sums; the scalars kernel runs the GS math on those (a table
of one chunk per tensor, whose partial is the global sum) and the update
kernel steps the local shards. The GS state stays resident in the bucket
(resident.py), keyed by the sharded parameters.

On a GPU every piece is queued on PyTorch's current stream and nothing
waits for the device: NCCL orders the all-reduce after the norms and the
scalars after the all-reduce on the device, the loss scaler's found_inf is
combined there, and the ranks' agreement on the parameter list is checked
there too, gating the step (sharded.ShardedSteps._global_sums); the host reads
that verdict at the next step. `raise_on_nonfinite=True` reads the norms on
the host (a synchronization, documented).
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

import torch

from . import _cpu_kernels as K
from . import _gpu_kernels as G
from . import kernel_sets as P
from . import resident as R
from ._compiler import CompilerError
from .compiled import DTYPES, CompiledBackend, Unsupported, _moments_and_step, optimizer_spec
from .eager import nonfinite_error
from .sharded import local


class ShardBucket(R.ResidentBucket):
    """A ResidentBucket of local shards, with the scalars phase's view: one
    chunk per tensor, whose partial is the tensor's global sum of squares.
    The scalars kernel reads a tensor's norm from its partials only (the
    table's element counts size the chunks; no element is read), so a rank
    whose shard of a parameter is empty still steps its GS state."""

    def __init__(self, params, tensors, device: torch.device, gpu: bool):
        super().__init__(params, device, gpu, tensors=tensors)
        n = len(self.params)
        # The chunk partials, with a zero after them that pads `_gather`.
        self.partials = torch.zeros(self.num_chunks + 1, dtype=torch.float64,
                                    device=device)
        bounds = self.host_offsets.tolist()
        width = max((bounds[t + 1] - bounds[t] for t in range(n)), default=0)
        gather = torch.full((n, width), self.num_chunks, dtype=torch.int64)
        for t in range(n):
            gather[t, :bounds[t + 1] - bounds[t]] = torch.arange(bounds[t], bounds[t + 1])
        self._gather = R.to_device(gather, device)
        self.host_scalar_offsets = torch.arange(n + 1, dtype=torch.int64)
        self.scalar_offsets = R.to_device(self.host_scalar_offsets, device)
        self.host_scalar_table = self.scalar_table = None
        self.positions_key: Optional[tuple] = None
        self.positions: Optional[torch.Tensor] = None

    def tensor_sums(self) -> torch.Tensor:
        """Each tensor's local sum of squares from the norms kernel's chunk
        partials: f64 on the device, in an order that does not depend on
        timing (no atomics), nothing read by the host."""
        return self.partials[self._gather].sum(dim=1)

    def scalar_args(self, sums: torch.Tensor, inv_scale, found_inf):
        n, width = self.host_table.shape
        if self.host_scalar_table is None or self.host_scalar_table.shape[1] != width:
            table = torch.zeros((n, width), dtype=torch.int64)
            table[:, 0] = 1
            self.host_scalar_table = table
            self.scalar_table = R.to_device(table, self.device)
        return self.args_with(self.scalar_table, self.host_scalar_table,
                              self.scalar_offsets, self.host_scalar_offsets, sums,
                              inv_scale, found_inf)

    def positions_on_device(self, positions: Sequence[int]) -> torch.Tensor:
        key = tuple(positions)
        if key != self.positions_key:
            self.positions = R.to_device(torch.tensor(key, dtype=torch.int64), self.device)
            self.positions_key = key
        return self.positions


class ShardedKernels:
    """The compiled steps of one GSWrapper's sharded parameters; `steps`:
    the ShardedSteps that reduces the sums."""

    def __init__(self, steps):
        self.steps = steps
        # One per (group, dtype), replaced (its state written back) when the
        # group's tensors change.
        self._buckets: Dict[tuple, ShardBucket] = {}

    def plan(self, wrapper, params: List[torch.Tensor], amp: bool):
        """Checks everything and prepares each bucket; raises Unsupported (or
        CompilerError) before anything changes. Returns the buckets' runs and
        an `undo` that forgets what the plan made: the optimizer state
        buffers, the GS state entries and the buckets' residency (for a step
        that fails before its kernels change anything)."""
        optimizer, stabilizer = wrapper.optimizer, wrapper.scaler
        backend = wrapper._compiled
        position = {id(p): i for i, p in enumerate(params)}
        prepared, devices = [], set()
        for index, group in enumerate(optimizer.param_groups):
            _, moment_names = optimizer_spec(optimizer, group)
            buckets: Dict[torch.dtype, List[torch.Tensor]] = {}
            for p in group["params"]:
                if p.grad is None:
                    continue
                CompiledBackend._check_tensors(optimizer, p, moment_names)
                if not local(p).is_contiguous():
                    raise Unsupported("backend='compiled' needs contiguous local shards")
                devices.add(local(p).device)
                buckets.setdefault(p.dtype, []).append(p)
            if buckets:
                prepared.append((index, group, moment_names, buckets))
        if len(devices) > 1:
            raise Unsupported(f"a sharded compiled step runs on one device, got "
                              f"{sorted(map(str, devices))}")
        device = devices.pop() if devices else torch.device("cpu")
        gpu = device.type == "cuda" or backend._gpu_kernels_on_cpu
        if device.type == "cuda" and not backend._runs_prebuilt_gpu(device):
            raise Unsupported(f"sharded compiled steps on {device} need the prebuilt GPU "
                              "kernels (libgs_gpu_kernels, sm_70 or newer)")
        try:
            (G.gpu_kernels if gpu else K.cpu_kernels)()
        except K.KernelError as error:
            raise CompilerError(str(error)) from error
        plan, created, loaded = [], [], []
        opt_state = optimizer.state
        for index, group, moment_names, buckets in prepared:
            structure, optimizer_hyper = P.structure_of(optimizer, group)
            hyper = [float(group["lr"]), float(group.get("weight_decay", 0.0)),
                     stabilizer.gamma1, stabilizer.gamma2, stabilizer.eps, *optimizer_hyper]
            for dtype, ps in buckets.items():
                key = (index, dtype)
                bucket = self._buckets.get(key)
                shards = [local(p) for p in ps]
                if bucket is None or bucket.identity != tuple(map(id, ps)) \
                        or bucket.numels != [t.numel() for t in shards] \
                        or bucket.device != device or bucket.gpu != gpu:
                    if bucket is not None:
                        bucket.release(stabilizer)
                    bucket = self._buckets[key] = ShardBucket(ps, shards, device, gpu)
                # As compiled.py: a missing moment restarts the bucket from
                # the dicts.
                moments = [opt_state[p].get(name) if p in opt_state else None
                           for p in ps for name in moment_names]
                if not bucket.resident or any(m is None for m in moments):
                    bucket.release(stabilizer)
                    moments, step_counts = [], []
                    for p in ps:
                        had = opt_state.get(p)
                        missing = [n for n in moment_names if had is None or n not in had]
                        created.append((p, had is None, missing))
                        buffers, step = _moments_and_step(optimizer, p, moment_names)
                        moments += buffers
                        step_counts.append(step)
                    fresh = [p for p in ps if p not in stabilizer._state]
                    bucket.load(stabilizer, optimizer, step_counts)
                    loaded.append((bucket, fresh))
                grads = [local(p.grad).contiguous() for p in ps]
                bucket.prepare(grads, [local(m) for m in moments], len(moment_names), hyper,
                               tensors=shards)
                plan.append(dict(
                    bucket=bucket, params=ps, grads=grads,
                    positions=bucket.positions_on_device([position[id(p)] for p in ps]),
                    kernels=P.kernels_for(structure, DTYPES[dtype], stabilizer, amp,
                                          found_inf=True)))

        def undo():
            for bucket, fresh in loaded:
                if bucket.resident:
                    stabilizer._residents.remove(bucket.flush)
                    bucket.drop()
                for p in fresh:
                    stabilizer._state.pop(p, None)
            for p, absent, missing in created:
                if absent:
                    optimizer.state.pop(p, None)
                else:
                    for name in missing:
                        optimizer.state[p].pop(name, None)
        return plan, undo

    def norms(self, wrapper, params, plan, grad_scale, found_inf):
        """The norms phase of every bucket and the collective: returns the
        global sums of squares per position (on the device), the step's
        inv_scale (or None) and its found_inf, which also carries the
        collective's verdict on the ranks' agreement (a step they disagree
        on changes nothing)."""
        device = plan[0]["bucket"].device if plan else torch.device("cpu")
        runner = R.Runner(device, plan[0]["bucket"].gpu) if plan else None
        stabilizer = wrapper.scaler
        amp = found_inf is not None
        inv_scale = None
        if amp:
            inv_scale = (torch.ones((), dtype=torch.float32, device=device)
                         if grad_scale is None
                         else grad_scale.double().reciprocal().float().reshape(()))
            found_inf = found_inf.to(dtype=torch.float32).reshape(())
        sums = torch.zeros(len(params), dtype=torch.float64, device=device)
        for run in plan:  # the local sums of squares
            bucket = run["bucket"]
            runner.kernel(run["kernels"].norms, bucket.args(inv_scale, found_inf))
            sums.index_copy_(0, run["positions"], bucket.tensor_sums())
        present = [p.grad is not None for p in params]
        sums, found_inf, agreed = self.steps._global_sums(params, sums, present, found_inf,
                                                          deferred=runner is not None
                                                          and runner.gpu)
        if found_inf is None:
            found_inf = torch.zeros((), dtype=torch.float32, device=device)
        elif plan:
            # Any non-finite gradient of the step skips all of it (spec
            # section 4), across groups and dtypes.
            norms = torch.cat([sums.index_select(0, r["positions"]) for r in plan])
            bad = (~torch.isfinite(norms.sqrt() * inv_scale.double())).any()
            found_inf = torch.where(bad, torch.ones_like(found_inf), found_inf)
        if agreed is not None:
            found_inf = torch.where(agreed, found_inf, torch.ones_like(found_inf))
        if not amp and stabilizer.raise_on_nonfinite:
            # A host read of the sums: the one synchronization of this option.
            values = sums.tolist()
            for i, p in enumerate(params):
                if p.grad is not None and not math.isfinite(values[i]):
                    raise nonfinite_error(i, p, math.sqrt(values[i]))
        return sums, inv_scale, found_inf

    def update(self, plan, sums, inv_scale, found_inf) -> None:
        """The scalars phase on the global sums, then the update phase, of
        every bucket; the GS state stays in the buckets."""
        if not plan:
            return
        runner = R.Runner(plan[0]["bucket"].device, plan[0]["bucket"].gpu)
        for run in plan:
            bucket = run["bucket"]
            run["sums"] = sums.index_select(0, run["positions"])
            runner.kernel(run["kernels"].scalars,
                          bucket.scalar_args(run["sums"], inv_scale, found_inf),
                          parallel=False)
            runner.kernel(run["kernels"].update, bucket.args(inv_scale, found_inf))
            # The update stored the stabilized gradients; where a local
            # gradient was a contiguous copy, into the copy.
            for p, g in zip(run["params"], run["grads"]):
                target = local(p.grad)
                if g.data_ptr() != target.data_ptr():
                    target.copy_(g)
