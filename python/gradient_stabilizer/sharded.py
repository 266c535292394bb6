"""GradientStabilizer on sharded parameters (FSDP2's DTensors): each
parameter's norm over the whole parameter, with one all-reduce per step.

Under FSDP2 every rank holds a shard of every parameter and of its gradient
(a DTensor with a `Shard` placement). The GS norm of a parameter is the norm
of its whole gradient, so each rank

1. sums the squares of its local gradient shards (the prebuilt kernels'
   norms phase on the CPU or GPU, sharded_kernels.py, or PyTorch ops on the
   eager path): one f64 per parameter;
2. all-reduces those sums for all sharded parameters of the step together:
   ONE `dist.all_reduce` of one flat f64 tensor, never one per tensor;
3. runs the GS scalar math on the global sums (every rank computes the same
   m, v, k and factor) and updates its own shards (the kernels' scalars and
   update phases, or the eager multiply and the wrapped optimizer's step).

The flat tensor is `[header (8), sums (S), present (S)]` for the S sharded
parameters:

* a NaN or Inf in any rank's shard makes that rank's sum NaN or Inf, and a
  sum of non-negative numbers with a NaN / Inf in it stays NaN / Inf, so the
  reduced sum itself tells every rank that the parameter is non-finite: all
  ranks take the same `on_nonfinite` decision;
* `present` counts the ranks that have a gradient for the parameter (all or
  none must);
* the header carries the loss scaler's `found_inf` (any rank's overflow
  skips the step everywhere), the number of ranks whose list changed since
  the ranks agreed on it, and a 48-bit hash of each rank's parameter list
  as three 16-bit values v with their squares: the reduced sums satisfy
  W * sum(v^2) == sum(v)^2 exactly when all W ranks hold the same v, a test
  every rank evaluates alike.

The parameter list (positions, global shapes, dtypes, placements) is
checked across ranks with `all_gather_object` on the first step, so a
mismatch names the parameter's position instead of hanging; afterwards the
hash in every step's all-reduce catches a rank whose list changed (each
rank sums over its current list), and the ranks check the lists again
together. The host reads the reduced header at once on the CPU; a GPU step
does not wait for it: the device skips the step on every rank when the
ranks disagree (through the kernels' found_inf), and the host reads the
verdict at the next step, which then raises as the CPU step would have.

`norm="local"` keeps the original library's behaviour: each rank's norms are
those of its own shards, with no collective (the GS state then differs from
rank to rank and depends on the world size).
"""

from __future__ import annotations

import ctypes
import hashlib
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.distributed as dist

from ._compiler import CompilerError
from .compiled import Unsupported
from .eager import stabilize_
from .resident import to_device

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
_FOUND_INF = 2 * _HASH_PARTS
_STALE = _FOUND_INF + 1   # how many ranks' lists changed since they agreed
_HEADER = _STALE + 1


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


def _agree(values: List[float], world: int) -> bool:
    """Whether a reduced header says that all ranks sent the same hash."""
    return all(world * values[_HASH_PARTS + j] == values[j] * values[j]
               for j in range(_HASH_PARTS))


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


def _on(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`t` on `device`; the same tensor (and no call) when it is there."""
    return t if t.device == device else t.to(device)


class _Layout:
    """A step's parameter list as the collective sees it: its signature and
    hash, the process group and the positions of the sharded parameters,
    and the small constant tensors of the flat tensor on each device (made
    once, copied without waiting)."""

    def __init__(self, params: Sequence[torch.Tensor], signature: tuple):
        self.signature = signature
        self.hash = _hash_parts(signature)
        groups = []
        for i, p in enumerate(params):
            group = _shard_group(i, p)
            if group is not None:
                groups.append((i, group))
        self.group = groups[0][1] if groups else None
        if groups:
            ranks = dist.get_process_group_ranks(self.group)
            for i, other in groups:
                if other is not self.group and dist.get_process_group_ranks(other) != ranks:
                    raise ValueError(
                        f"GSWrapper(norm='exact'): parameter {i} is sharded over ranks "
                        f"{dist.get_process_group_ranks(other)}, parameter {groups[0][0]} "
                        f"over {ranks}; one step's norms are reduced over one process group")
        self.sharded = [i for i, _ in groups]
        self.shapes = [tuple(p.shape) for p in params]
        self._constants: Dict[torch.device, tuple] = {}
        self._present: Dict[tuple, torch.Tensor] = {}

    def constants(self, device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
        """The header's hash values and squares, and the sharded positions."""
        if device not in self._constants:
            parts = torch.tensor(self.hash, dtype=torch.float64)
            self._constants[device] = (
                to_device(torch.cat([parts, parts * parts]), device),
                to_device(torch.tensor(self.sharded, dtype=torch.int64), device))
        return self._constants[device]

    def present(self, device: torch.device, present: Sequence[bool]) -> torch.Tensor:
        """1.0 for each sharded parameter with a gradient on this rank."""
        pattern = tuple(bool(present[i]) for i in self.sharded)
        key = (device, pattern)
        if key not in self._present:
            if len(self._present) >= 8:
                self._present.clear()
            self._present[key] = to_device(torch.tensor(pattern, dtype=torch.float64),
                                           device)
        return self._present[key]


class _Staging:
    """A host buffer the reduced flat tensor is copied into without waiting
    (pinned memory for a GPU), read through ctypes after the copy is known
    to be done: reading it is no device access."""

    def __init__(self, size: int, device: torch.device):
        self.tensor = torch.empty(size, dtype=torch.float64,
                                  pin_memory=device.type == "cuda")
        self.values = (ctypes.c_double * size).from_address(self.tensor.data_ptr())
        self.event = None

    def queue(self, flat: torch.Tensor) -> None:
        self.tensor.copy_(flat, non_blocking=True)
        if flat.is_cuda:
            self.event = torch.cuda.Event()
            self.event.record(torch.cuda.current_stream(flat.device))

    def read(self) -> List[float]:
        if self.event is not None:
            self.event.synchronize()  # the previous step's collective
            self.event = None
        return list(self.values)


class ShardedSteps:
    """The exact-norm steps of one GSWrapper whose parameters are DTensors."""

    def __init__(self, norm: str = "exact"):
        check_norm(norm)
        self.norm = norm
        self._verified: Optional[_Layout] = None  # the list all ranks agreed on
        self._layout: Optional[_Layout] = None
        self._layout_key: Optional[tuple] = None
        self._staging: Optional[_Staging] = None
        # A GPU step's verdict, read at the next step: (staging, layout, world).
        self._pending: Optional[tuple] = None
        self._kernels = None                     # sharded_kernels.ShardedKernels

    def __getstate__(self):
        # Process groups, kernel buckets and staging belong to this process.
        return {"norm": self.norm}

    def __setstate__(self, state):
        self.__init__(state["norm"])

    # The parameter list, agreed by all ranks.

    def _layout_of(self, params) -> _Layout:
        # Made again only when the parameters or their shapes change
        # (placements do not change under a parameter).
        key = tuple((id(p), p.shape) for p in params)
        if self._layout_key != key:
            self._layout = _Layout(params, _signature(params))
            self._layout_key = key
        return self._layout

    def _verify(self, layout: _Layout) -> None:
        """Checks the ranks' parameter lists with one all_gather_object (all
        ranks call it on the same step); raises ValueError naming the first
        position where they differ."""
        if layout.group is not None:
            ranks = dist.get_process_group_ranks(layout.group)
            gathered = [None] * dist.get_world_size(layout.group)
            dist.all_gather_object(gathered, layout.signature, group=layout.group)
            message = _mismatch_message(gathered, ranks)
            if message is not None:
                raise ValueError(message + "; nothing was changed")
        self._verified = layout

    def _check(self, params, layout: _Layout, values: List[float], world: int,
               deferred: bool) -> None:
        """The host's reading of a reduced flat tensor over `layout` (the
        agreed list): raises when the ranks' lists differ (naming the
        position, through `_verify`) or a sharded parameter has its gradient
        on some ranks only. `deferred`: the reduction was the previous
        step's, which the device skipped on every rank if either holds."""
        when = " at the previous step (which every rank skipped)" if deferred else ""
        if not _agree(values, world):
            # Every rank saw the same header: they check the lists together.
            self._verify(self._layout_of(params))
            raise ValueError(f"GSWrapper(norm='exact'): the ranks' parameter lists "
                             f"differed{when}; they agree now; nothing was changed")
        count = len(layout.sharded)
        counts = values[_HEADER + count:_HEADER + 2 * count]
        for j, ranks_with in enumerate(counts):
            if ranks_with not in (0, world):
                i = layout.sharded[j]
                raise ValueError(
                    f"GSWrapper(norm='exact'): parameter {i} (shape {layout.shapes[i]}) "
                    f"has a gradient on {int(ranks_with)} of {world} ranks{when}; a "
                    "sharded parameter needs its gradient on all ranks or none; nothing "
                    "was changed")

    def _settle(self, params) -> None:
        """Reads the previous GPU step's verdict (waiting, if need be, for
        that step's collective to finish) and raises as `_check` does."""
        if self._pending is not None:
            staging, layout, world = self._pending
            self._pending = None
            self._check(params, layout, staging.read(), world, deferred=True)

    def _global_sums(self, params, sums: torch.Tensor, present: Sequence[bool],
                     found_inf: Optional[torch.Tensor], deferred: bool = False):
        """The one all-reduce of a step: returns the global sums of squares
        (f64, one per position, on the sums' device), the step's found_inf
        (or None) and, when `deferred`, whether the ranks agreed (a 0-d bool
        on the device, or None: nothing to agree on).

        Not deferred, the host reads the reduction's header and raises at
        once on a disagreement. Deferred (a GPU step), nothing waits: the
        verdict gates the step on the device, and the host reads it at the
        next step (`_settle`). A rank whose list changed since the ranks
        agreed on it sends no sums (its flat tensor keeps the agreed size)
        and reads the header at once: when every rank's list changed alike,
        they agree on the new list together and reduce again."""
        if self.norm == "local":
            return sums, found_inf, None
        layout = self._layout_of(params)
        if self._verified is None or (self._verified.group is None
                                      and layout.group is not None):
            self._verify(layout)  # the first step: one all_gather_object
        device = sums.device
        for attempt in range(2):
            agreed_layout = self._verified
            if agreed_layout.group is None:
                return sums, found_inf, None
            stale = layout.signature != agreed_layout.signature
            world = dist.get_world_size(agreed_layout.group)
            count = len(agreed_layout.sharded)
            index = agreed_layout.constants(device)[1]
            if found_inf is None:
                flag = torch.zeros(1, dtype=torch.float64, device=device)
            else:
                flag = _on(found_inf, device).reshape(1).ne(0).double()
            if stale:
                body = torch.zeros(2 * count + 1, dtype=torch.float64, device=device)
                body[0] = 1.0  # the stale count
            else:
                body = torch.cat([torch.zeros(1, dtype=torch.float64, device=device),
                                  sums.index_select(0, index),
                                  agreed_layout.present(device, present)])
            flat = torch.cat([layout.constants(device)[0], flag, body])
            dist.all_reduce(flat, group=agreed_layout.group)
            if stale or not deferred:
                values = flat.tolist()  # the host reads the header
                if _agree(values, world) and values[_STALE]:
                    # Every rank's list changed, alike (all read this).
                    self._verify(layout)
                    continue
                if not deferred:
                    self._check(params, agreed_layout, values, world, deferred=False)
            break
        else:
            raise RuntimeError("GSWrapper(norm='exact'): the ranks' parameter lists "
                               "changed while they were being checked")
        agreed = None
        if deferred:
            if self._staging is None or self._staging.tensor.numel() != flat.numel():
                self._staging = _Staging(flat.numel(), device)
            self._staging.queue(flat)
            self._pending = (self._staging, agreed_layout, world)
            hashes, squares = flat[:_HASH_PARTS], flat[_HASH_PARTS:2 * _HASH_PARTS]
            counts = flat[_HEADER + count:]
            agreed = ((world * squares == hashes * hashes).all() & (flat[_STALE] == 0)
                      & ((counts == 0) | (counts == world)).all())
        reduced = sums.index_copy(0, index, flat[_HEADER:_HEADER + count])
        if found_inf is not None:
            found_inf = _on((flat[_FOUND_INF] > 0).float().reshape(found_inf.shape),
                            found_inf.device)
        return reduced, found_inf, agreed

    # The step.

    def step(self, wrapper, params: List[torch.Tensor], grad_scale, found_inf) -> None:
        """One GSWrapper step with exact (or local) norms of sharded
        parameters; chooses the compiled or eager path as GSWrapper does."""
        self._settle(params)
        amp = found_inf is not None
        if wrapper._use_compiled(amp):
            from .sharded_kernels import ShardedKernels
            if self._kernels is None:
                self._kernels = ShardedKernels(self)
            kernels = self._kernels
            try:
                plan, undo = kernels.plan(wrapper, params, amp)
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
                try:
                    sums, inv_scale, found_inf = kernels.norms(wrapper, params, plan,
                                                               grad_scale, found_inf)
                except BaseException:
                    undo()  # nothing has been stepped: the error changes nothing
                    raise
                kernels.update(plan, sums, inv_scale, found_inf)
                return
        self._eager_step(wrapper, params, grad_scale, found_inf)

    # Eager: PyTorch ops on the local shards.

    def grad_norms(self, params: List[torch.Tensor], found_inf=None):
        """The gradient norm of each parameter with a dense gradient, by
        position (whole parameters under norm="exact", through the step's
        one all-reduce), and the step's found_inf."""
        self._settle(params)
        dense = [i for i, p in enumerate(params)
                 if p.grad is not None and not p.grad.is_sparse]
        device = local(params[dense[0]].grad).device if dense else torch.device("cpu")
        sums = torch.zeros(len(params), dtype=torch.float64, device=device)
        if dense:
            norms = torch.stack([torch.linalg.vector_norm(local(params[i].grad),
                                                          dtype=torch.float64)
                                 for i in dense])
            sums.index_copy_(0, torch.tensor(dense, dtype=torch.int64, device=device),
                             (norms * norms).to(device))
        sums, found_inf, _ = self._global_sums(params, sums,
                                               [p.grad is not None for p in params],
                                               found_inf)
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
