"""The processes of test_sharded.py: a small transformer-like model under
FSDP2 (`fully_shard` over a 1-D CPU mesh, gloo) stepped by GSWrapper, and
the same model trained in one process on the same global batches."""

import datetime
import math
import os
import socket
import warnings

import torch
import torch.distributed as dist
import torch.nn.functional as F

from gradient_stabilizer import GSWrapper

VOCAB, WIDTH, CLASSES, BATCH, LENGTH = 29, 16, 3, 8, 6


class Model(torch.nn.Module):
    """Embedding, one attention block and an MLP, with odd sizes so that
    shards are uneven; `head` has 3 rows, so at 4 ranks one rank's shard of
    it is empty; `temperature` (position 0, the root's own parameter) stays
    a plain tensor under FSDP2. No bias in
    `qkv`: a key bias has a zero gradient up to rounding, which GS would
    rescale to a full-sized step of rounding noise."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, WIDTH)
        self.ln1 = torch.nn.LayerNorm(WIDTH)
        self.qkv = torch.nn.Linear(WIDTH, 3 * WIDTH, bias=False)
        self.proj = torch.nn.Linear(WIDTH, WIDTH)
        self.ln2 = torch.nn.LayerNorm(WIDTH)
        self.fc = torch.nn.Linear(WIDTH, 4 * WIDTH + 1)
        self.out = torch.nn.Linear(4 * WIDTH + 1, WIDTH)
        self.head = torch.nn.Linear(WIDTH, CLASSES)
        self.temperature = torch.nn.Parameter(torch.ones(1))

    def forward(self, tokens):
        x = self.embed(tokens)
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        mask = torch.ones(LENGTH, LENGTH, dtype=torch.bool).tril()
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(WIDTH)
        x = x + self.proj(scores.masked_fill(~mask, float("-inf")).softmax(-1) @ v)
        x = x + self.out(F.gelu(self.fc(self.ln2(x))))
        return self.head(x) * self.temperature


def make(seed=0):
    torch.manual_seed(seed)
    return Model()


def batch(step):
    gen = torch.Generator().manual_seed(1000 + step)
    return (torch.randint(0, VOCAB, (BATCH, LENGTH), generator=gen),
            torch.randint(0, CLASSES, (BATCH, LENGTH), generator=gen))


def loss_of(model, step, rank=0, world=1):
    tokens, labels = batch(step)
    rows = slice(rank * BATCH // world, (rank + 1) * BATCH // world)
    logits = model(tokens[rows])
    return F.cross_entropy(logits.reshape(-1, CLASSES), labels[rows].reshape(-1))


def optimizer(model, backend, params=None, gpu=False, **kwargs):
    """`gpu`: the compiled backend runs the GPU kernels (their emulated build
    on these CPU tensors, GS_GPU_KERNELS_LIB)."""
    params = list(model.parameters()) if params is None else params
    inner = torch.optim.AdamW(params, lr=3e-2, weight_decay=0.01)
    opt = GSWrapper(inner, backend=backend, **kwargs)
    if gpu:
        from gradient_stabilizer.compiled import CompiledBackend
        opt._compiled = CompiledBackend(gpu_kernels_on_cpu=True)
    return opt


def gs_rows(opt):
    """The GS state per position: (m, v, k, skipped)."""
    return [tuple(opt.scaler.state[p][key] for key in ("m", "v", "k", "skipped"))
            if p in opt.scaler.state else None for p in opt._params()]


def full(t):
    return t.full_tensor() if hasattr(t, "full_tensor") else t.detach().clone()


# Multi-process side.

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shard(model, world, keep_plain=True):
    """FSDP2 over all ranks; `temperature` stays a plain tensor unless
    keep_plain is False."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    mesh = init_device_mesh("cpu", (world,))
    fully_shard(model, mesh=mesh,
                ignored_params={model.temperature} if keep_plain else None)
    return model


class Counter:
    """Counts the collectives GSWrapper.step issues (dist.all_reduce and
    dist.all_gather_object calls while `active`)."""

    def __init__(self):
        self.active = False
        self.calls = {"all_reduce": 0, "all_gather_object": 0}
        for name in self.calls:
            original = getattr(dist, name)

            def counted(*args, _name=name, _original=original, **kwargs):
                if self.active:
                    self.calls[_name] += 1
                return _original(*args, **kwargs)
            setattr(dist, name, counted)

    def step(self, opt):
        before = dict(self.calls)
        self.active = True
        try:
            opt.step()
        finally:
            self.active = False
        return {k: self.calls[k] - before[k] for k in self.calls}


def train(model, opt, first, last, rank, world, counter=None, before_step=None):
    """Steps first..last-1; the plain `temperature` gradient is averaged by
    hand (FSDP2 leaves ignored parameters alone). Returns the collectives
    of each step."""
    counts = []
    for step in range(first, last):
        opt.zero_grad()
        loss_of(model, step, rank, world).backward()
        if world > 1:
            grad = model.temperature.grad
            dist.all_reduce(grad)
            grad /= world
        if before_step is not None:
            before_step(step)
        counts.append(counter.step(opt) if counter else opt.step())
    return counts


def run(rank, world, port, job, out_dir):
    # A collective that never completes fails the test after a minute
    # instead of hanging it.
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=60))
    torch.set_num_threads(1)
    try:
        result = JOBS[job](rank, world, out_dir)
        torch.save(result, os.path.join(out_dir, f"{job}-{world}-{rank}.pt"))
    finally:
        dist.destroy_process_group()


def job_train(rank, world, out_dir):
    """Both backends, exact norms: 25 steps, a DCP checkpoint, 25 more."""
    import torch.distributed.checkpoint as dcp
    from gradient_stabilizer import sharded
    counter = Counter()
    result = {}
    for backend in ("compiled", "eager"):
        model = shard(make(), world)
        opt = optimizer(model, backend)
        counts = train(model, opt, 0, 25, rank, world, counter)
        if backend == "compiled":
            dcp.save({"optimizer": sharded.state_dict(model, opt),
                      "model": model.state_dict()},
                     checkpoint_id=os.path.join(out_dir, "checkpoint"))
        counts += train(model, opt, 25, 50, rank, world, counter)
        result[backend] = {"params": [full(p) for p in model.parameters()],
                           "gs": gs_rows(opt), "counts": counts,
                           "local_shapes": [tuple(p.to_local().shape) if hasattr(p, "to_local")
                                            else None for p in model.parameters()]}
    return result


def resume(out_dir, rank=0, world=1):
    """Loads the checkpoint saved at 4 ranks and steps 25..49: sharded over
    `world` ranks, or (world 1) in one process without torch.distributed."""
    import torch.distributed.checkpoint as dcp
    from gradient_stabilizer import sharded
    model = make(seed=1)  # other values: all must come from the checkpoint
    if world > 1:
        shard(model, world)
    opt = optimizer(model, "compiled")
    state = {"optimizer": sharded.state_dict(model, opt), "model": model.state_dict()}
    with warnings.catch_warnings():  # world 1: "assuming ... a single process"
        warnings.filterwarnings("ignore", "torch.distributed is disabled")
        dcp.load(state, checkpoint_id=os.path.join(out_dir, "checkpoint"))
    model.load_state_dict(state["model"])
    sharded.load_state_dict(model, opt, state["optimizer"])
    train(model, opt, 25, 50, rank, world)
    return {"params": [full(p) for p in model.parameters()], "gs": gs_rows(opt)}


# The GPU path (the GPU kernels' emulated build on CPU tensors).

GPU_STEPS, GPU_WARMUP = 6, 2


class Launches:
    """Counts the GPU kernel launches while `active`."""

    def __init__(self):
        from gradient_stabilizer import _gpu_kernels as G
        self.active, self.names = False, []
        original = G.GpuKernels.run_kernel

        def counted(lib, name, *args, **kwargs):
            if self.active:
                self.names.append(name)
            return original(lib, name, *args, **kwargs)
        G.GpuKernels.run_kernel = counted


def guarded_steps(model, opt, first, last, rank, world):
    """Steps first..last-1, each opt.step() under NoHostSync: per step the
    all-reduces, the kernels launched, how many tensor functions the guard
    saw and its error (the steps stop at the first)."""
    from host_sync_guard import HostSync, NoHostSync
    counter, launches = Counter(), Launches()
    records = []
    for step in range(first, last):
        opt.zero_grad()
        loss_of(model, step, rank, world).backward()
        if world > 1:
            grad = model.temperature.grad
            dist.all_reduce(grad)
            grad /= world
        before, launched = dict(counter.calls), len(launches.names)
        guard, error = NoHostSync(), None
        counter.active = launches.active = True
        try:
            with guard:
                opt.step()
        except HostSync as caught:
            error = str(caught)
        finally:
            counter.active = launches.active = False
        records.append({"all_reduce": counter.calls["all_reduce"] - before["all_reduce"],
                        "kernels": launches.names[launched:], "seen": guard.calls,
                        "error": error})
        if error:
            break
    return records


def job_gpu(rank, world, out_dir):
    from gradient_stabilizer import _gpu_kernels as G
    G._loaded = None  # GS_GPU_KERNELS_LIB names the emulated build
    result = {}
    # The GPU path's steps after the first two run under the guard; the CPU
    # path's step after the same steps, for the guard to catch its reads.
    for path, gpu in (("gpu", True), ("cpu", False)):
        model = shard(make(), world)
        opt = optimizer(model, "compiled", gpu=gpu)
        warmup = GPU_WARMUP if gpu else GPU_STEPS
        counts = train(model, opt, 0, warmup, rank, world, Counter())
        records = guarded_steps(model, opt, warmup, GPU_STEPS, rank, world) if gpu else []
        result[path] = {"params": [full(p) for p in model.parameters()],
                        "gs": gs_rows(opt), "counts": counts, "guarded": records}
        if not gpu:
            train(model, opt, GPU_STEPS, GPU_STEPS + 1, rank, world)  # state resident
            result[path]["guarded"] = guarded_steps(model, opt, GPU_STEPS + 1,
                                                    GPU_STEPS + 2, rank, world)
    result["policies"] = policies(rank, world, backends=(("gpu", "compiled", True),),
                                  local=False)
    result["amp"] = amp(rank, world, backends=(("gpu", "compiled", True),))
    result["added"] = added_group(rank, world)
    for path, gpu in (("gpu", True), ("cpu", False)):
        result["alike", path] = added_alike(rank, world, gpu)
        result["presence", path] = presence(rank, world, gpu)
        result["mixed", path] = mixed_dtypes(rank, world, gpu)
    return result


MIXED_SHAPES = ((37, 5, torch.float32), (20, 3, torch.bfloat16), (9, 1, torch.float32),
                (6, 4, torch.bfloat16))


def mixed_params(mesh=None):
    """f32 and bf16 parameters in one group (two buckets), sharded over
    `mesh` (None: plain tensors, for one process)."""
    from torch.distributed.tensor import Shard, distribute_tensor
    torch.manual_seed(0)
    params = []
    for rows, cols, dtype in MIXED_SHAPES:
        value = torch.randn(rows, cols).to(dtype)
        if mesh is not None:
            value = distribute_tensor(value, mesh, [Shard(0)], src_data_rank=None)
        params.append(torch.nn.Parameter(value))
    return params


def mixed_steps(params, opt, mesh=None, steps=4, overflow_at=2, counter=None,
                launches=None, guard_from=None):
    """GradScaler steps on the same global gradients at any world size; an
    Inf in the bf16 parameter's row 0 (rank 0's shard) at one step. From
    step `guard_from` on, `scaler.step` runs under NoHostSync; its errors
    are returned."""
    from torch.distributed.tensor import Shard, distribute_tensor
    from host_sync_guard import HostSync, NoHostSync
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    counts, errors = [], []
    for step in range(steps):
        gen = torch.Generator().manual_seed(50 + step)
        for i, p in enumerate(params):
            grad = (torch.randn(p.shape, generator=gen) * 1024.0).to(p.dtype)
            if step == overflow_at and i == 1:
                grad[0, 0] = float("inf")
            p.grad = (grad if mesh is None else
                      distribute_tensor(grad, mesh, [Shard(0)], src_data_rank=None))
        scaler.scale(torch.ones(()))  # (as scaler.scale(loss) would)
        if counter is not None:
            before, launched = counter.calls["all_reduce"], len(launches.names)
            counter.active = launches.active = True
        try:
            if guard_from is not None and step >= guard_from:
                with NoHostSync():
                    scaler.step(opt)
            else:
                scaler.step(opt)
        except HostSync as error:
            errors.append(str(error))
        finally:
            if counter is not None:
                counter.active = launches.active = False
        if counter is not None:
            counts.append((counter.calls["all_reduce"] - before,
                           launches.names[launched:]))
        scaler.update()
    return counts, scaler.get_scale(), errors


def mixed_dtypes(rank, world, gpu):
    from torch.distributed.device_mesh import init_device_mesh
    mesh = init_device_mesh("cpu", (world,))
    params = mixed_params(mesh)
    opt = GSWrapper(torch.optim.AdamW(params, lr=1e-2, weight_decay=0.01),
                    backend="compiled")
    if gpu:
        from gradient_stabilizer.compiled import CompiledBackend
        opt._compiled = CompiledBackend(gpu_kernels_on_cpu=True)
    counts, scale, errors = mixed_steps(params, opt, mesh, counter=Counter(),
                                        launches=Launches(), guard_from=1 if gpu else None)
    return {"params": [full(p) for p in params], "gs": gs_rows(opt), "counts": counts,
            "scale": scale, "guard_errors": errors}


def _extra(model):
    """A new sharded parameter made without a collective, with a gradient."""
    extra = torch.nn.Parameter(torch.distributed.tensor.distribute_tensor(
        torch.zeros(5, 2), model.qkv.weight.device_mesh, model.qkv.weight.placements,
        src_data_rank=None))
    extra.grad = torch.zeros_like(extra)
    return extra


def added_alike(rank, world, gpu, steps=3):
    """Every rank adds the same parameter group after step 0: they agree on
    the new list on step 1 (a second all-reduce) and lose no step."""
    model = shard(make(), world)
    opt = optimizer(model, "compiled", gpu=gpu)

    def before(step):
        if step == 1:
            opt.add_param_group({"params": [_extra(model)]})
    counts = train(model, opt, 0, steps, rank, world, Counter(), before_step=before)
    return {"counts": counts, "params": [full(p) for p in model.parameters()],
            "gs": gs_rows(opt)[:len(list(model.parameters()))]}


def presence(rank, world, gpu):
    """Rank 1 drops the gradient of a sharded parameter at step 1: the CPU
    path raises on step 1, the GPU path skips step 1 and raises on step 2;
    either way naming the parameter, with nothing changed since step 1."""
    model = shard(make(), world)
    opt = optimizer(model, "compiled", gpu=gpu)
    seen = {}

    def before(step):
        seen["step"] = step
        if step == 1:
            seen["params"] = [full(p) for p in model.parameters()]
            seen["gs"] = gs_rows(opt)
            if rank == 1:
                model.qkv.weight.grad = None
    try:
        train(model, opt, 0, 4, rank, world, before_step=before)
        error = None
    except ValueError as caught:
        error = str(caught)
    return {"error": error, "step": seen["step"],
            "unchanged": all(torch.equal(a, full(b)) for a, b in
                             zip(seen["params"], model.parameters()))
            and gs_rows(opt) == seen["gs"]}


def added_group(rank, world):
    """Rank 0 adds a parameter group after step 0, on the GPU path: the
    device skips step 1 on every rank and step 2 raises on every rank,
    before anything. Returns the error, the step that raised and whether
    the original parameters and their GS state are those before step 1."""
    model = shard(make(), world)
    opt = optimizer(model, "compiled", gpu=True)
    seen = {}

    def before(step):
        seen["step"] = step
        if step != 1:
            return
        seen["params"] = [full(p) for p in model.parameters()]
        seen["gs"] = gs_rows(opt)
        if rank == 0:
            extra = torch.nn.Parameter(torch.distributed.tensor.distribute_tensor(
                torch.zeros(5, 2), model.qkv.weight.device_mesh,
                model.qkv.weight.placements, src_data_rank=None))  # no collective
            extra.grad = torch.zeros_like(extra)
            opt.add_param_group({"params": [extra]})
    try:
        train(model, opt, 0, 4, rank, world, before_step=before)
        error = None
    except ValueError as caught:
        error = str(caught)
    rows = gs_rows(opt)[:len(seen["gs"])]
    return {"error": error, "step": seen["step"],
            "unchanged": all(torch.equal(a, full(b)) for a, b in
                             zip(seen["params"], model.parameters())) and rows == seen["gs"]}


def job_two_ranks(rank, world, out_dir):
    return {"resume": resume(out_dir, rank, world), "policies": policies(rank, world),
            "mismatch": mismatch(rank, world), "zero": zero(rank, world),
            "amp": amp(rank, world), "standalone": standalone(rank, world)}


def standalone(rank, world):
    """GradientStabilizer called on its own on sharded gradients: the GS
    state after one call, and the collectives it made."""
    from gradient_stabilizer import GradientStabilizer
    model = shard(make(), world, keep_plain=False)
    stabilizer = GradientStabilizer()
    loss_of(model, 0, rank, world).backward()
    counter = Counter()
    counter.active = True
    stabilizer(model.parameters())
    return {"m": [stabilizer.state[p]["m"] for p in model.parameters()],
            "calls": dict(counter.calls)}


BACKENDS = (("compiled", "compiled", False), ("eager", "eager", False))
"""(result key, backend, whether the compiled backend runs the GPU kernels)"""


def amp(rank, world, steps=4, overflow_at=2, backends=BACKENDS):
    """torch.amp.GradScaler, an Inf in rank 1's shard at one step: every
    rank skips that step. All parameters are sharded: torch's GradScaler
    does not take DTensor and plain gradients together."""
    result = {}
    for key, backend, gpu in backends:
        model = shard(make(), world, keep_plain=False)
        opt = optimizer(model, backend, gpu=gpu)
        scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
        for step in range(steps):
            opt.zero_grad()
            scaler.scale(loss_of(model, step, rank, world)).backward()
            if step == overflow_at and rank == 1:
                model.qkv.weight.grad.to_local()[0, 0] = float("inf")
            scaler.step(opt)
            scaler.update()
        result[key] = {"gs": gs_rows(opt), "params": [full(p) for p in model.parameters()],
                       "scale": scaler.get_scale()}
    return result


def zero(rank, world, steps=10):
    """DDP with torch.distributed.optim.ZeroRedundancyOptimizer: every rank
    has whole gradients, so the GS norms are exact without a collective of
    GSWrapper's; each rank updates the parameters it owns, and ZeRO
    broadcasts them."""
    from torch.distributed.optim import ZeroRedundancyOptimizer
    model = make()
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    inner = ZeroRedundancyOptimizer(model.parameters(), optimizer_class=torch.optim.AdamW,
                                    lr=3e-2, weight_decay=0.01)
    opt = GSWrapper(inner)
    counter = Counter()
    counts = []
    for step in range(steps):
        opt.zero_grad()
        loss_of(ddp, step, rank, world).backward()
        counts.append(counter.step(opt))
    return {"params": [full(p) for p in model.parameters()], "gs": gs_rows(opt),
            "counts": counts}


def policies(rank, world, backends=BACKENDS, local=True):
    """A NaN in rank 1's shard of one parameter at step 3, under each
    backend and policy, and an Inf under raise_on_nonfinite; norm="local"
    for comparison."""
    result = {}
    nan_at = [name for name, _ in make().named_parameters()].index("qkv.weight")
    for key, backend, gpu in backends:
        for policy in ("skip", "zero"):
            model = shard(make(), world)
            opt = optimizer(model, backend, gpu=gpu, on_nonfinite=policy)
            snapshots = {}

            def poison(step, model=model, snapshots=snapshots):
                if step == 3:
                    snapshots["before"] = full(model.qkv.weight)
                    if rank == 1:
                        model.qkv.weight.grad.to_local()[0, 0] = float("nan")

            train(model, opt, 0, 5, rank, world, before_step=poison)
            result[(key, policy)] = {
                "gs": gs_rows(opt), "params": [full(p) for p in model.parameters()],
                "before": snapshots["before"], "position": nan_at}
        model = shard(make(), world)
        opt = optimizer(model, backend, gpu=gpu, raise_on_nonfinite=True)
        try:
            train(model, opt, 0, 5, rank, world, before_step=lambda step, model=model: (
                model.qkv.weight.grad.to_local().__setitem__((0, 0), float("inf"))
                if step == 3 and rank == 1 else None))
            result[(key, "raise")] = None
        except FloatingPointError as error:
            result[(key, "raise")] = (str(error), gs_rows(opt))
    if not local:
        return result
    counter = Counter()
    model = shard(make(), world)
    opt = optimizer(model, "compiled", norm="local")
    counts = train(model, opt, 0, 3, rank, world, counter)
    from gradient_stabilizer import sharded
    try:
        sharded.state_dict(model, opt)
        refused = None
    except ValueError as error:
        refused = str(error)
    result["local"] = {"gs": gs_rows(opt), "counts": counts, "checkpoint": refused}
    return result


def mismatch(rank, world):
    """Ranks that disagree on the parameter list: each case's error on each
    rank, and whether anything changed."""
    result = {}
    params = lambda model: list(model.parameters())  # noqa: E731

    def attempt(name, model, opt, steps=1, before_step=None):
        snapshot = {}

        def before(step):
            if before_step is not None:
                before_step(step)
            snapshot["params"] = [full(p) for p in model.parameters()]
            snapshot["state"] = _state_summary(opt)
        try:
            train(model, opt, 0, steps, rank, world, before_step=before)
            result[name] = None
        except ValueError as error:
            result[name] = str(error)
        after = [full(p) for p in model.parameters()]
        result[name + "/unchanged"] = (
            all(torch.equal(a, b) for a, b in zip(snapshot["params"], after))
            and _state_summary(opt) == snapshot["state"])

    model = shard(make(), world)  # rank 1 leaves out head.weight (position 13)
    attempt("count", model, optimizer(model, "compiled",
                                      params=params(model)[:-2] + params(model)[-1:]
                                      if rank == 1 else None))
    model = shard(make(), world)  # rank 1 swaps two parameters of other shapes
    order = params(model)
    if rank == 1:
        order[3], order[4] = order[4], order[3]
    attempt("order", model, optimizer(model, "eager", params=order))
    model = shard(make(), world)  # rank 0 adds a parameter group after step 0
    opt = optimizer(model, "compiled")

    def add_group(step):
        if step == 1 and rank == 0:
            extra = torch.nn.Parameter(torch.distributed.tensor.distribute_tensor(
                torch.zeros(5, 2), model.qkv.weight.device_mesh,
                model.qkv.weight.placements, src_data_rank=None))  # no collective
            extra.grad = torch.zeros_like(extra)
            opt.add_param_group({"params": [extra]})

    attempt("added", model, opt, steps=2, before_step=add_group)
    return result


JOBS = {"train": job_train, "two_ranks": job_two_ranks, "gpu": job_gpu}


def _state_summary(opt):
    """The optimizer's and the GS state, by position (to compare)."""
    params = opt._params()
    rows = gs_rows(opt)  # first: it writes back the state compiled steps hold
    return ([sorted(opt.optimizer.state[p]) if p in opt.optimizer.state else None
             for p in params], rows)


def DTensor_unavailable():
    try:
        from torch.distributed.fsdp import fully_shard  # noqa: F401
        from torch.distributed.tensor import DTensor  # noqa: F401
    except ImportError:
        return True
    return False
