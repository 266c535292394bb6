"""The `sharded` section of gpu-check: GSWrapper on FSDP2-sharded parameters
through the GPU kernels (gradient_stabilizer/sharded_kernels.py), in a
process group of one rank (NCCL on the GPU, gloo in a dry run; the device
machine has one GPU, so the two-rank runs are test_sharded_gpu.py's, on the
emulator). Against one process's compiled step on the same model and data:
parameters and GS state within 1e-6, one all_reduce and the three gs_*
kernels per steady step, no synchronization in torch's sync debug mode, and
a step queued behind ~0.1 s of GPU work returns before that work ends."""

from __future__ import annotations

import time
import warnings

STEPS = 6
WIDTH = 96


def _model(torch, dev):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(WIDTH, 3 * WIDTH), torch.nn.GELU(),
                               torch.nn.Linear(3 * WIDTH, WIDTH), torch.nn.LayerNorm(WIDTH),
                               torch.nn.Linear(WIDTH, 7)).to(dev)


def _batch(torch, dev, step):
    gen = torch.Generator().manual_seed(100 + step)
    return torch.randn(16, WIDTH, generator=gen).to(dev)


def _gs_rows(opt):
    return [tuple(opt.scaler.state[p][k] for k in ("m", "v", "k", "skipped"))
            for p in opt._params()]


def sharded(ctx):
    rep, torch = ctx.rep, ctx.torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard
    from gradient_stabilizer import GSWrapper
    dev = ctx.dev
    backend = "nccl" if dev.type == "cuda" else "gloo"
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    try:
        mesh = init_device_mesh(dev.type, (1,))
        wrappers, models = {}, {}
        for name in ("sharded", "one process"):
            model = _model(torch, dev)
            if name == "sharded":
                fully_shard(model, mesh=mesh)
            opt = GSWrapper(torch.optim.AdamW(model.parameters(), lr=1e-2,
                                              weight_decay=0.01), backend="compiled")
            ctx.use_gpu_path(opt)
            wrappers[name], models[name] = opt, model
        calls = {"all_reduce": 0}
        original = dist.all_reduce

        def counted(*args, **kwargs):
            calls["all_reduce"] += 1
            return original(*args, **kwargs)

        def step(name, k):
            opt, model = wrappers[name], models[name]
            opt.zero_grad()
            model(_batch(torch, dev, k)).square().mean().backward()
            opt.step()

        for k in range(STEPS):
            for name in wrappers:
                step(name, k)
        sharded_buckets = wrappers["sharded"].scaler._sharded._kernels._buckets
        if not all(b.gpu for b in sharded_buckets.values()):
            raise AssertionError("a sharded bucket did not run the GPU kernels")
        full = [p.full_tensor().detach().float() for p in models["sharded"].parameters()]
        plain = [p.detach().float() for p in models["one process"].parameters()]
        worst = max(float((a - b).abs().max()) for a, b in zip(full, plain))
        rows_a, rows_b = _gs_rows(wrappers["sharded"]), _gs_rows(wrappers["one process"])
        state_ok = all(a[2:] == b[2:] and abs(a[0] - b[0]) <= 1e-6 * max(1.0, abs(b[0]))
                       and abs(a[1] - b[1]) <= 1e-6 * max(1.0, abs(b[1]))
                       for a, b in zip(rows_a, rows_b))
        rep.record("sharded", f"{STEPS} steps against one process",
                   "pass" if worst <= 1e-6 and state_ok else "fail",
                   f"largest parameter difference {worst:.2e}; GS state "
                   f"{'equal' if state_ok else 'differs'} (1e-6)",
                   max_abs_difference=worst)

        # Steady steps (state resident again after the reads above).
        step("sharded", STEPS)
        ctx.sync()
        from gradient_stabilizer import _gpu_kernels as G
        launched = []
        run_kernel = G.GpuKernels.run_kernel

        def counted_kernel(lib, name, *args, **kwargs):
            launched.append(name)
            return run_kernel(lib, name, *args, **kwargs)
        dist.all_reduce, G.GpuKernels.run_kernel = counted, counted_kernel
        try:
            step("sharded", STEPS + 1)
        finally:
            dist.all_reduce, G.GpuKernels.run_kernel = original, run_kernel
        kinds = [name.split("_")[1] for name in launched]
        rep.record("sharded", "one all_reduce and three kernels per steady step",
                   "pass" if calls["all_reduce"] == 1
                   and kinds == ["norms", "scalars", "update"] else "fail",
                   f"{calls['all_reduce']} all_reduce, kernels {launched}")
        if dev.type != "cuda":
            rep.record("sharded", "steady step, no host synchronization", "skip",
                       "needs CUDA's sync debug mode (test_sharded_gpu.py guards the "
                       "emulated step)")
            return
        opt, model = wrappers["sharded"], models["sharded"]
        opt.zero_grad()
        model(_batch(torch, dev, 0)).square().mean().backward()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                opt.step()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        found = [str(w.message).splitlines()[0] for w in caught
                 if "synchroniz" in str(w.message)]
        opt.zero_grad()
        model(_batch(torch, dev, 1)).square().mean().backward()
        torch.cuda.synchronize()
        torch.cuda._sleep(200_000_000)  # ~0.1 s at 2 GHz
        start = time.perf_counter()
        opt.step()
        host = time.perf_counter() - start
        torch.cuda.synchronize()
        total = time.perf_counter() - start
        problem = "; ".join(found[:3])
        if host > 0.5 * total:
            problem += (f"{'; ' if problem else ''}the step returned after "
                        f"{host * 1e3:.1f} ms of {total * 1e3:.1f} ms of queued GPU "
                        "work: it waited")
        rep.record("sharded", "steady step, no host synchronization",
                   "fail" if problem else "pass", problem,
                   host_synchronizations=len(found), step_host_ms=round(host * 1e3, 2),
                   queued_gpu_ms=round(total * 1e3, 2))
    finally:
        dist.destroy_process_group()
