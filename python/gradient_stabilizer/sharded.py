"""GradientStabilizer on sharded parameters (FSDP2's DTensors): each
parameter's norm over the whole parameter, with one all-reduce per step.

Under FSDP2 every rank holds a shard of every parameter and of its gradient
(a DTensor with a `Shard` placement). The GS norm of a parameter is the norm
of its whole gradient, so each rank

1. sums the squares of its local gradient shards (the CPU kernels' norms
   phase, or PyTorch ops on the eager path): one f64 per parameter;
2. all-reduces those sums for all sharded parameters of the step together:
   ONE `dist.all_reduce` of one flat f64 tensor, never one per tensor;
3. runs the GS scalar math on the global sums (every rank computes the same
   m, v, k and factor) and updates its own shards (the kernels' scalars and
   update phases, or the eager multiply and the wrapped optimizer's step).

The flat tensor is `[header (7), sums (S), present (S)]` for the S sharded
parameters:

* a NaN or Inf in any rank's shard makes that rank's sum NaN or Inf, and a
  sum of non-negative numbers with a NaN / Inf in it stays NaN / Inf, so the
  reduced sum itself tells every rank that the parameter is non-finite: all
  ranks take the same `on_nonfinite` decision;
* `present` counts the ranks that have a gradient for the parameter (all or
  none must);
* the header carries the loss scaler's `found_inf` (any rank's overflow
  skips the step everywhere) and a 48-bit hash of each rank's parameter list
  as three 16-bit values v with their squares: the reduced sums satisfy
  W * sum(v^2) == sum(v)^2 exactly when all W ranks hold the same v, a test
  every rank evaluates alike.

The parameter list (positions, global shapes, dtypes, placements) is
checked across ranks with `all_gather_object` on the first step, so a
mismatch names the parameter's position instead of hanging; afterwards the
hash in every step's all-reduce catches a rank whose list changed, and the
ranks check the lists again together.

`norm="local"` keeps the original library's behaviour: each rank's norms are
those of its own shards, with no collective (the GS state then differs from
rank to rank and depends on the world size).
"""

from __future__ import annotations

import hashlib
import math
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.distributed as dist

from . import _cpu_kernels as K
from . import kernel_sets as P
from ._compiler import CompilerError
from .compiled import (DTYPES, CompiledBackend, Unsupported, _moments_and_step,
                       _store_step_count, optimizer_spec)
from .eager import new_state, nonfinite_error, stabilize_

try:
    from torch.distributed.tensor import DTensor
except ImportError:  # torch < 2.4
    try:
        from torch.distributed._tensor import DTensor
    except ImportError:  # torch without DTensor (1.13)
        DTensor = None

NORMS = ("exact", "local")

# The flat tensor's header: three hash values and their squares, found_inf.
_HASH_PARTS = 3
_HEADER = 2 * _HASH_PARTS + 1
_FOUND_INF = 2 * _HASH_PARTS


def check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def is_dtensor(t) -> bool:
    return DTensor is not None and isinstance(t, DTensor)


def local(t: torch.Tensor) -> torch.Tensor:
    """A DTensor's local shard (the same storage), or `t` itself."""
    return t.to_local() if is_dtensor(t) else t


def has_dtensors(params: Sequence[torch.Tensor]) -> bool:
    return any(is_dtensor(p) for p in params)


def _shard_group(index: int, p: torch.Tensor):
    """The process group over which `p` is sharded, or None when every rank
    holds all of it (a plain tensor, a replicated DTensor)."""
    if not is_dtensor(p):
        return None
    dims = [d for d, placement in enumerate(p.placements) if placement.is_shard()]
    if not dims:
        return None
    if len(dims) > 1:
        raise ValueError(f"GSWrapper(norm='exact'): parameter {index} (shape "
                         f"{tuple(p.shape)}) is sharded over {len(dims)} mesh dimensions "
                         f"{tuple(p.placements)}; exact norms support one sharded mesh "
                         "dimension (FSDP2, HSDP)")
    return p.device_mesh.get_group(dims[0])


def _signature(params: Sequence[torch.Tensor]) -> Tuple[tuple, ...]:
    """What every rank must agree on, per position."""
    rows = []
    for p in params:
        kind = (tuple(str(pl) for pl in p.placements) if is_dtensor(p) else "tensor")
        rows.append((tuple(p.shape), str(p.dtype).replace("torch.", ""), kind))
    return tuple(rows)


def _hash_parts(signature) -> List[int]:
    digest = hashlib.blake2b(repr(signature).encode(), digest_size=2 * _HASH_PARTS).digest()
    return [int.from_bytes(digest[2 * i:2 * i + 2], "little") for i in range(_HASH_PARTS)]


def _describe_row(row) -> str:
    shape, dtype, kind = row
    where = "a plain tensor" if kind == "tensor" else f"placements {list(kind)}"
    return f"shape {shape}, {dtype}, {where}"


def _mismatch_message(signatures: List[tuple], ranks: List[int]) -> Optional[str]:
    """The first disagreement between the ranks' parameter lists, or None."""
    for position in range(max(len(s) for s in signatures)):
        rows = [s[position] if position < len(s) else None for s in signatures]
        if any(row != rows[0] for row in rows):
            parts = []
            for signature, rank, row in zip(signatures, ranks, rows):
                parts.append(f"rank {rank}: " + (f"no such parameter (it has "
                                                 f"{len(signature)})" if row is None
                                                 else _describe_row(row)))
            return (f"GSWrapper(norm='exact'): the ranks disagree on the parameter list at "
                    f"parameter {position}: " + "; ".join(parts))
    return None


class ShardedSteps:
    """The exact-norm steps of one GSWrapper whose parameters are DTensors."""

    def __init__(self, norm: str = "exact"):
        check_norm(norm)
        self.norm = norm
        self._verified: Optional[tuple] = None   # the agreed signature
        self._group = None
        self._sharded: List[int] = []            # positions in the flat tensor
        self._buckets: Dict[tuple, _ShardBucket] = {}
        self._scalar_tables: Dict[tuple, tuple] = {}
        self._signature_key: Optional[tuple] = None
        self._signature: Optional[tuple] = None
        self._hash: List[int] = []

    def __getstate__(self):
        # Process groups and kernel scratch belong to this process.
        return {"norm": self.norm}

    def __setstate__(self, state):
        self.__init__(state["norm"])

    # The parameter list, agreed by all ranks.

    def _verify(self, params, signature) -> None:
        """Checks the ranks' parameter lists with one all_gather_object (all
        ranks call it on the same step); raises ValueError naming the first
        position where they differ."""
        groups = []
        for i, p in enumerate(params):
            group = _shard_group(i, p)
            if group is not None:
                groups.append((i, group))
        if not groups:
            self._verified, self._group, self._sharded = signature, None, []
            return
        group = groups[0][1]
        ranks = dist.get_process_group_ranks(group)
        for i, other in groups:
            if other is not group and dist.get_process_group_ranks(other) != ranks:
                raise ValueError(
                    f"GSWrapper(norm='exact'): parameter {i} is sharded over ranks "
                    f"{dist.get_process_group_ranks(other)}, parameter {groups[0][0]} over "
                    f"{ranks}; one step's norms are reduced over one process group")
        gathered = [None] * dist.get_world_size(group)
        dist.all_gather_object(gathered, signature, group=group)
        message = _mismatch_message(gathered, ranks)
        if message is not None:
            raise ValueError(message + "; nothing was changed")
        self._verified, self._group = signature, group
        self._sharded = [i for i, _ in groups]

    def _reduce(self, params, signature, sums: torch.Tensor, present: torch.Tensor,
                found_inf: Optional[torch.Tensor]):
        """The one all-reduce of a step: returns the global sums of squares
        (f64, one per position) and the step's found_inf (or None)."""
        if self._verified is None:
            self._verify(params, signature)
        if self._group is None:
            return sums, found_inf
        world = dist.get_world_size(self._group)
        for attempt in range(2):
            if attempt:
                # A rank's list changed since the lists were checked: check
                # them again together (every rank saw the same header), and
                # either raise naming the position or redo the reduction on
                # the new list.
                self._verified = None
                self._verify(params, signature)
            count = len(self._sharded)
            # On the sums' device: the CPU for gloo, the GPU for NCCL.
            flat = torch.zeros(_HEADER + 2 * count, dtype=torch.float64, device=sums.device)
            parts = torch.tensor(self._hash, dtype=torch.float64, device=sums.device)
            flat[0:_HASH_PARTS] = parts
            flat[_HASH_PARTS:2 * _HASH_PARTS] = parts * parts
            if found_inf is not None:
                flag = found_inf.to(sums.device).double().reshape(())
                flat[_FOUND_INF] = (flag != 0).double()
            same = signature == self._verified
            if same and count:
                index = torch.tensor(self._sharded, dtype=torch.int64, device=sums.device)
                flat[_HEADER:_HEADER + count] = sums.index_select(0, index)
                flat[_HEADER + count:] = present.index_select(0, index)
            dist.all_reduce(flat, group=self._group)
            header = [int(x) for x in flat[:2 * _HASH_PARTS].tolist()]
            agree = all(world * header[_HASH_PARTS + j] == header[j] * header[j]
                        for j in range(_HASH_PARTS))
            if agree and same:
                break
        else:
            raise RuntimeError("GSWrapper(norm='exact'): the ranks' parameter lists "
                               "changed while they were being checked")
        reduced = sums.clone()
        if count:
            index = torch.tensor(self._sharded, dtype=torch.int64, device=sums.device)
            counts = flat[_HEADER + count:]
            partial = ((counts != 0) & (counts != world)).nonzero()
            if partial.numel():
                i = self._sharded[int(partial[0])]
                ranks_with = int(counts[partial[0]])
                raise ValueError(
                    f"GSWrapper(norm='exact'): parameter {i} (shape "
                    f"{tuple(params[i].shape)}) has a gradient on {ranks_with} "
                    f"of {world} ranks; a sharded parameter needs its gradient on all "
                    "ranks or none; nothing was changed")
            reduced.index_copy_(0, index, flat[_HEADER:_HEADER + count])
        if found_inf is not None:
            found_inf = (flat[_FOUND_INF] > 0).float().reshape(found_inf.shape).to(
                found_inf.device)
        return reduced, found_inf

    # The step.

    def step(self, wrapper, params: List[torch.Tensor], grad_scale, found_inf) -> None:
        """One GSWrapper step with exact (or local) norms of sharded
        parameters; chooses the compiled or eager path as GSWrapper does."""
        amp = found_inf is not None
        if wrapper._use_compiled(amp):
            try:
                plan = self._plan_compiled(wrapper, params, amp)
            except Unsupported as reason:
                if wrapper.backend == "compiled":
                    raise
                warnings.warn(f"GSWrapper: eager step ({reason})", stacklevel=5)
            except CompilerError as error:
                if wrapper.backend == "compiled":
                    raise
                warnings.warn(f"GSWrapper: the compiler is unavailable, eager step: "
                              f"{error}", stacklevel=5)
            else:
                runs, created = plan
                try:
                    sums, found_inf = self._compiled_norms(wrapper, params, runs,
                                                           grad_scale, found_inf)
                except BaseException:
                    # Nothing has been stepped: drop the optimizer state
                    # buffers the plan made, so that the error changes nothing.
                    for p, absent, missing in created:
                        if absent:
                            wrapper.optimizer.state.pop(p, None)
                        else:
                            for name in missing:
                                wrapper.optimizer.state[p].pop(name, None)
                    raise
                self._compiled_update(wrapper, runs, sums, found_inf)
                return
        self._eager_step(wrapper, params, grad_scale, found_inf)

    def _global_sums(self, params, sums, present, found_inf):
        if self.norm == "local":
            return sums, found_inf
        # The signature is computed again only when the parameters or their
        # shapes change (placements do not change under a parameter).
        key = tuple((id(p), p.shape) for p in params)
        if self._signature_key != key:
            self._signature_key, self._signature = key, _signature(params)
            self._hash = _hash_parts(self._signature)
        return self._reduce(params, self._signature, sums, present, found_inf)

    # Eager: PyTorch ops on the local shards.

    def grad_norms(self, params: List[torch.Tensor], found_inf=None):
        """The gradient norm of each parameter with a dense gradient, by
        position (whole parameters under norm="exact", through the step's
        one all-reduce), and the step's found_inf."""
        dense = [i for i, p in enumerate(params)
                 if p.grad is not None and not p.grad.is_sparse]
        device = local(params[dense[0]].grad).device if dense else torch.device("cpu")
        sums = torch.zeros(len(params), dtype=torch.float64, device=device)
        present = torch.tensor([float(p.grad is not None) for p in params],
                               dtype=torch.float64, device=device)
        if dense:
            norms = torch.stack([torch.linalg.vector_norm(local(params[i].grad),
                                                          dtype=torch.float64)
                                 for i in dense])
            sums.index_copy_(0, torch.tensor(dense, dtype=torch.int64, device=device),
                             (norms * norms).to(device))
        sums, found_inf = self._global_sums(params, sums, present, found_inf)
        values = sums.sqrt().tolist()
        return {i: values[i] for i in dense}, found_inf

    def _eager_step(self, wrapper, params, grad_scale, found_inf) -> None:
        norms, found_inf = self.grad_norms(params, found_inf)
        inv_scale = None
        if found_inf is not None:
            if bool(found_inf):
                return  # a rank's loss scale overflowed: every rank skips
            if grad_scale is not None:
                inv_scale = float(grad_scale.double().reciprocal().float())
        scaler = wrapper.scaler
        nonfinite = stabilize_(params, scaler.state, scaler.gamma1, scaler.gamma2,
                               scaler.eps, scaler.bias_correction, scaler.on_nonfinite,
                               scaler.raise_on_nonfinite, inv_scale, grad_norms=norms)
        if nonfinite is None:
            return
        from .wrapper import _hidden_grads
        with _hidden_grads(nonfinite if scaler.on_nonfinite == "skip" else []):
            wrapper.optimizer.step()

    # Compiled: the prebuilt CPU kernels' phases around the collective.

    def _plan_compiled(self, wrapper, params, amp) -> Tuple[List[dict], list]:
        """Checks everything and prepares each bucket (a param group's local
        shards of one dtype); raises Unsupported before anything changes.
        Returns the buckets' runs and the optimizer state buffers it made
        (parameter, whether it had no state, the names made)."""
        optimizer, stabilizer = wrapper.optimizer, wrapper.scaler
        position = {id(p): i for i, p in enumerate(params)}
        prepared = []
        for index, group in enumerate(optimizer.param_groups):
            _, moment_names = optimizer_spec(optimizer, group)
            buckets: Dict[torch.dtype, List[torch.Tensor]] = {}
            for p in group["params"]:
                if p.grad is None:
                    continue
                CompiledBackend._check_tensors(optimizer, p, moment_names)
                if p.device.type != "cpu":
                    raise Unsupported(f"sharded compiled steps run CPU tensors, got "
                                      f"{p.device}")
                if not local(p).is_contiguous():
                    raise Unsupported("backend='compiled' needs contiguous local shards")
                buckets.setdefault(p.dtype, []).append(p)
            if buckets:
                prepared.append((index, group, moment_names, buckets))
        try:
            K.cpu_kernels()
        except K.KernelError as error:
            raise CompilerError(str(error)) from error
        plan, created = [], []
        for index, group, moment_names, buckets in prepared:
            structure, optimizer_hyper = P.structure_of(optimizer, group)
            hyper = torch.tensor([float(group["lr"]), float(group.get("weight_decay", 0.0)),
                                  stabilizer.gamma1, stabilizer.gamma2, stabilizer.eps,
                                  *optimizer_hyper], dtype=torch.float64)
            for dtype, ps in buckets.items():
                bucket = self._buckets.setdefault((index, dtype), _ShardBucket())
                moments, step_counts = [], []
                for p in ps:
                    had = optimizer.state.get(p)
                    missing = [n for n in moment_names if had is None or n not in had]
                    created.append((p, had is None, missing))
                    buffers, step = _moments_and_step(optimizer, p, moment_names)
                    moments += [local(b) for b in buffers]
                    step_counts.append(step)
                grads = [local(p.grad).contiguous() for p in ps]
                bucket.prepare([local(p) for p in ps], grads, moments, len(moment_names))
                # (new states enter stabilizer.state when they are stepped)
                states = [stabilizer.state.get(p) or new_state() for p in ps]
                stats, counts, steps = P.state_tensors(states, step_counts)
                plan.append(dict(
                    key=(index, dtype), bucket=bucket, params=ps, grads=grads,
                    states=states, hyper=hyper, stats=stats, counts=counts, steps=steps,
                    positions=torch.tensor([position[id(p)] for p in ps],
                                           dtype=torch.int64),
                    kernels=P.kernels_for(structure, DTYPES[dtype], stabilizer, amp)))
        return plan, created

    def _scalar_table(self, key, n: int, width: int):
        """The scalars phase's view of a bucket: one chunk per tensor whose
        partial is the tensor's global sum of squares. The scalars kernel
        reads a tensor's norm from its partials only (the table's element
        counts size the chunks; no element is read), so a rank whose shard
        of a parameter is empty still steps that parameter's GS state."""
        cached = self._scalar_tables.get(key)
        if cached is None or cached[0].shape != (n, width):
            table = torch.zeros((n, width), dtype=torch.int64)
            table[:, 0] = 1
            offsets = torch.arange(n + 1, dtype=torch.int64)
            cached = self._scalar_tables[key] = (table, offsets)
        return cached

    def _compiled_norms(self, wrapper, params, plan, grad_scale, found_inf):
        """The norms phase of every bucket and the collective: returns the
        global sums of squares per position and the step's found_inf; each
        run keeps its inv_scale."""
        lib = K.cpu_kernels()
        threads = torch.get_num_threads()
        stabilizer = wrapper.scaler
        amp = found_inf is not None
        inv_scale = None
        if amp:
            inv_scale = (torch.ones((), dtype=torch.float32) if grad_scale is None
                         else grad_scale.double().reciprocal().float().reshape(()))
            found_inf = found_inf.to(dtype=torch.float32).reshape(()).clone()
        sums = torch.zeros(len(params), dtype=torch.float64)
        present = torch.tensor([float(p.grad is not None) for p in params],
                               dtype=torch.float64)
        for run in plan:  # phase 1: the local sums of squares
            bucket = run["bucket"]
            args = bucket.args(run["hyper"], run["stats"], run["counts"], run["steps"],
                               inv_scale, found_inf)
            lib.run_kernel(run["kernels"].norms, args, threads)
            sums.index_copy_(0, run["positions"], _tensor_sums(bucket))
        sums, found_inf = self._global_sums(params, sums, present, found_inf)
        if amp:
            # Any non-finite gradient of the step skips all of it (spec
            # section 4), across groups and dtypes.
            norms = sums.index_select(0, torch.cat([r["positions"] for r in plan])) \
                if plan else sums[:0]
            bad = (~torch.isfinite(norms.sqrt() * inv_scale.double())).any()
            found_inf = torch.where(bad, torch.ones_like(found_inf), found_inf)
        elif stabilizer.raise_on_nonfinite:
            for i, p in enumerate(params):
                if p.grad is not None and not math.isfinite(float(sums[i])):
                    raise nonfinite_error(i, p, math.sqrt(float(sums[i])))
        for run in plan:
            run["inv_scale"] = inv_scale
        return sums, found_inf

    def _compiled_update(self, wrapper, plan, sums, found_inf) -> None:
        """The scalars phase on the global sums, then the update phase, of
        every bucket; the GS state and step counts written back."""
        lib = K.cpu_kernels()
        threads = torch.get_num_threads()
        for run in plan:
            inv_scale = run["inv_scale"]
            bucket = run["bucket"]
            n, width = bucket.table.shape
            table, offsets = self._scalar_table(run["key"], n, width)
            partials = sums.index_select(0, run["positions"]).contiguous()
            scalar_args = lib.args(
                n, width, table.data_ptr(), offsets.data_ptr(), run["hyper"].data_ptr(),
                run["hyper"].numel(), run["stats"].data_ptr(), run["counts"].data_ptr(),
                run["steps"].data_ptr(), partials.data_ptr(), partials.numel(),
                bucket.records.data_ptr(), bucket.records.numel(),
                0 if inv_scale is None else inv_scale.data_ptr(),
                0 if found_inf is None else found_inf.data_ptr())
            lib.run_kernel(run["kernels"].scalars, scalar_args, 1)
            args = bucket.args(run["hyper"], run["stats"], run["counts"], run["steps"],
                               inv_scale, found_inf)
            lib.run_kernel(run["kernels"].update, args, threads)
            stats, counts, steps = (run["stats"].tolist(), run["counts"].tolist(),
                                    run["steps"].tolist())
            for i, p in enumerate(run["params"]):
                run["states"][i].update(m=stats[i][0], v=stats[i][1], k=counts[i][0],
                                        skipped=counts[i][1])
                wrapper.scaler.state[p] = run["states"][i]
                _store_step_count(wrapper.optimizer.state[p], steps[i])


class _ShardBucket:
    """The tables and scratch of one bucket of local shards. Unlike the
    unsharded compiled path (resident.py) the GS state is not kept here: a
    sharded step reads it from the stabilizer, the same on every rank."""

    def __init__(self):
        self.pointers: Optional[tuple] = None
        self.numels: Optional[tuple] = None
        self.table = self.offsets = self.partials = self.records = None

    def prepare(self, params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor],
                moments: Sequence[torch.Tensor], num_moments: int) -> None:
        numels = tuple(p.numel() for p in params)
        if numels != self.numels:
            self.numels = numels
            self.offsets = torch.tensor(K.chunk_offsets(numels), dtype=torch.int64)
            self.partials = torch.empty(max(int(self.offsets[-1]), 1),
                                        dtype=torch.float64)
            self.records = torch.empty(len(params) * K.RECORD_WORDS, dtype=torch.float32)
            self.pointers = None
        pointers = tuple(t.data_ptr() for t in (*params, *grads, *moments))
        if pointers != self.pointers:
            self.table = P.address_table(numels, pointers, num_moments)
            self.pointers = pointers

    def args(self, hyper: torch.Tensor, stats: torch.Tensor, counts: torch.Tensor,
             steps: torch.Tensor, inv_scale: Optional[torch.Tensor],
             found_inf: Optional[torch.Tensor]):
        return K.cpu_kernels().args(
            self.table.shape[0], self.table.shape[1], self.table.data_ptr(),
            self.offsets.data_ptr(), hyper.data_ptr(), hyper.numel(), stats.data_ptr(),
            counts.data_ptr(), steps.data_ptr(), self.partials.data_ptr(),
            self.partials.numel(), self.records.data_ptr(), self.records.numel(),
            0 if inv_scale is None else inv_scale.data_ptr(),
            0 if found_inf is None else found_inf.data_ptr())


def _tensor_sums(bucket: _ShardBucket) -> torch.Tensor:
    """Each tensor's sum of squares from the norms kernel's chunk partials,
    added in chunk order as the scalars kernel adds them."""
    n = bucket.table.shape[0]
    offsets = bucket.offsets
    sums = torch.zeros(n, dtype=torch.float64)
    partials = bucket.partials.tolist()
    bounds = offsets.tolist()
    for t in range(n):
        total = 0.0
        for j in range(bounds[t], bounds[t + 1]):
            total += partials[j]
        sums[t] = total
    return sums


# Checkpoints through torch.distributed.checkpoint.

def _names(model: torch.nn.Module, params: Sequence[torch.Tensor]) -> List[str]:
    """Each optimizer parameter's name in `model`."""
    by_id = {id(p): name for name, p in model.named_parameters(remove_duplicate=False)}
    names = []
    for i, p in enumerate(params):
        if id(p) not in by_id:
            raise ValueError(f"parameter {i} (shape {tuple(p.shape)}) of the optimizer is "
                             "not a parameter of the model")
        names.append(by_id[id(p)])
    return names


def state_dict(model: torch.nn.Module, wrapper) -> dict:
    """A GSWrapper checkpoint for `torch.distributed.checkpoint` (DCP):

        {"optimizer": get_optimizer_state_dict(model, wrapper.optimizer),
         "gradient_stabilizer": {"state": {name: {"m", "v", "k", "skipped"}},
                                 "gamma1": ..., ..., "on_nonfinite": ...}}

    keyed by parameter name, so DCP reshards the optimizer's DTensors to
    another world size. With exact norms the GS state of a parameter is the
    same on every rank (one value per whole parameter) and fits any world
    size as it is. Every parameter has an entry (zeros before its first
    step), so the same call on a fresh wrapper is the template `dcp.load`
    fills in."""
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict
    params = wrapper._params()
    if wrapper.norm == "local" and has_dtensors(params):
        raise ValueError("norm='local' keeps a different GS state on every rank, which "
                         "does not carry over to another world size; save it per rank "
                         "with wrapper.state_dict()")
    names = _names(model, params)
    scaler = wrapper.scaler
    state = {}
    for name, p in zip(names, params):
        s = scaler.state.get(p) or {"m": 0.0, "v": 0.0, "k": 0, "skipped": 0}
        state[name] = {"m": float(s["m"]), "v": float(s["v"]), "k": int(s["k"]),
                       "skipped": int(s["skipped"])}
    return {"optimizer": get_optimizer_state_dict(model, wrapper.optimizer),
            "gradient_stabilizer": {"state": state, **scaler.hyperparameters(),
                                    "on_nonfinite": scaler.on_nonfinite}}


def load_state_dict(model: torch.nn.Module, wrapper, checkpoint_state: dict) -> None:
    """Loads what `state_dict` made (after `dcp.load` filled it in) into
    `wrapper`, at any world size. The GS part is checked in full first (a
    bad entry raises ValueError naming it, and nothing changes); then the
    optimizer's state is set with `set_optimizer_state_dict`."""
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict
    from . import checkpoint
    params = wrapper._params()
    names = _names(model, params)
    try:
        gs = checkpoint._require(checkpoint_state, "gradient_stabilizer", "the checkpoint")
        checkpoint._expect_dict(gs, "gradient_stabilizer")
        saved = checkpoint._require(gs, "state", "gradient_stabilizer")
        checkpoint._expect_dict(saved, "gradient_stabilizer['state']")
        position = {name: i for i, name in enumerate(names)}
        unknown = sorted(set(saved) - set(position))
        if unknown:
            raise ValueError(f"gradient_stabilizer['state'] names {unknown[0]!r}, which is "
                             "not a parameter of the optimizer")
        settings = {k: v for k, v in gs.items() if k != "state"}
        _, hyperparameters = checkpoint.parse(
            {"gradient_stabilizer": {**settings, "state": {}}}, len(params))
        entries = {}
        for name, entry in saved.items():
            # Checked one by one, so that an error names the parameter.
            try:
                one, _ = checkpoint.parse(
                    {"gradient_stabilizer": {**settings, "state": {0: entry}}}, 1)
            except ValueError as error:
                raise ValueError(str(error).replace(
                    "gradient_stabilizer['state'][0]",
                    f"gradient_stabilizer['state'][{name!r}]")) from None
            entries[position[name]] = one[0]
        checkpoint._require(checkpoint_state, "optimizer", "the checkpoint")
    except ValueError as error:
        raise ValueError(f"gradient_stabilizer.sharded.load_state_dict: {error}; nothing "
                         "was loaded") from None
    wrapper.scaler.warn_if_different(hyperparameters)
    set_optimizer_state_dict(model, wrapper.optimizer, checkpoint_state["optimizer"])
    wrapper.scaler.install(entries, params)
