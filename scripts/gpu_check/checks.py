"""The sections of gpu-check other than speed; each records its cases in
the report and keeps going past a failing one."""

from __future__ import annotations

import os
import sys
import traceback
import warnings

from .runs import OPTIMIZERS, POLICIES, Run, checked_case


def correctness_cases(torch, full):
    """Every optimizer x dtype x policy x AMP; a dry run takes 24 of them
    that still hold every optimizer three times and every (dtype, policy,
    AMP) combination at least once."""
    combos = [(dtype, policy, amp)
              for dtype in (torch.float32, torch.bfloat16, torch.float16)
              for policy in POLICIES for amp in (False, True)]
    if full:
        return [(name, *combo) for name in OPTIMIZERS for combo in combos]
    return [(OPTIMIZERS[c % len(OPTIMIZERS)], *combos[c % len(combos)])
            for c in range(24)]


def correctness(ctx, shapes):
    rep = ctx.rep
    for opt_name, dtype, policy, amp in correctness_cases(ctx.torch, not ctx.dry_run):
        case = f"{opt_name} {str(dtype)[6:]} {policy} {'amp' if amp else 'noamp'}"
        if rep.remaining() < ctx.reserve:
            rep.record("correctness", case, "skip", f"time budget ({ctx.reserve:.0f} s "
                       "kept for the other sections)")
            continue
        try:
            ref, cpu, problem = checked_case(ctx, opt_name, dtype, policy, amp, shapes,
                                             case)
            rep.record("correctness", case, "fail" if problem else "pass", problem,
                       worst_vs_reference=round(ref, 4),
                       worst_vs_cpu_kernels=round(cpu, 4))
        except Exception as error:
            rep.record("correctness", case, "error", f"{type(error).__name__}: {error}",
                       traceback=traceback.format_exc())


def special(ctx, shapes, large):
    rep, torch, np = ctx.rep, ctx.torch, ctx.np
    for dtype, amp in ((torch.float32, False), (torch.bfloat16, True)):
        case = f"{large[0][0]} elements, adamw {str(dtype)[6:]} {'amp' if amp else 'noamp'}"
        try:
            ref, cpu, problem = checked_case(ctx, "adamw", dtype, "skip", amp, large, case)
            rep.record("special", case, "fail" if problem else "pass", problem,
                       worst_vs_reference=round(ref, 4),
                       worst_vs_cpu_kernels=round(cpu, 4))
        except Exception as error:
            rep.record("special", case, "error", f"{type(error).__name__}: {error}",
                       traceback=traceback.format_exc())
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        name = str(dtype)[6:]
        finfo = torch.finfo(dtype)
        largest = float(finfo.max)
        smallest = float(finfo.smallest_normal) * float(finfo.eps)  # least subnormal
        cases = {
                f"spike to the largest {name} ({largest:.3g}) in every element":
                lambda s: np.full(s, largest),
            f"all-subnormal gradient ({smallest:.3g})":
                lambda s: np.full(s, smallest),
        }
        for label, make in cases.items():
            for opt_name in ("adamw", "sgd_momentum", "lion"):
                case = f"{opt_name} {label}"
                try:
                    rng = np.random.default_rng(7)
                    schedule = []
                    for k in range(4):
                        grads = [rng.standard_normal(s) for s in shapes]
                        if k in (1, 2):
                            grads = [make(s) for s in shapes]
                        schedule.append(grads)
                    ref, cpu, problem = checked_case(ctx, opt_name, dtype, "skip", False,
                                                     shapes, case, schedule,
                                                     resident_steps=0)
                    rep.record("special", case, "fail" if problem else "pass", problem,
                               worst_vs_reference=round(ref, 4),
                               worst_vs_cpu_kernels=round(cpu, 4))
                except Exception as error:
                    rep.record("special", case, "error", f"{type(error).__name__}: {error}",
                               traceback=traceback.format_exc())
    for amp in (False, True):
        case = f"only empty tensors {'amp' if amp else 'noamp'}"
        try:
            empty = [(0,), (0, 3), (4, 0)]
            schedule = [[np.zeros(s) for s in empty] for _ in range(3)]
            ref, cpu, problem = checked_case(ctx, "adamw", torch.float32, "skip", amp,
                                             empty, case, schedule, resident_steps=0)
            rep.record("special", case, "fail" if problem else "pass", problem,
                       worst_vs_reference=round(ref, 4))
        except Exception as error:
            rep.record("special", case, "error", f"{type(error).__name__}: {error}",
                       traceback=traceback.format_exc())


def final_bits(ctx, opt_name, dtype, amp, shapes, steps=3, seed=3):
    """Raw bytes of parameters, moments and GS state after `steps` steps."""
    torch, np = ctx.torch, ctx.np
    run = Run(ctx, opt_name, dtype, "skip", amp, shapes, seed=seed, with_cpu=False)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        run.step([rng.standard_normal(s) for s in shapes])
    ctx.sync()
    state = run.wrapper.scaler.state
    out = [p.detach().cpu().clone() for p in run.params]
    for p in run.params:
        out += [t.detach().cpu().clone() for t in run.opt.state[p].values()
                if isinstance(t, torch.Tensor)]
    gs = [tuple(state[p].values()) for p in run.params]
    return out, gs


def same_bits(a, b):
    torch = sys.modules["torch"]
    (ta, ga), (tb, gb) = a, b
    if ga != gb or len(ta) != len(tb):
        return False
    for x, y in zip(ta, tb):
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if x.numel() and not torch.equal(x.contiguous().view(-1).view(torch.uint8),
                                         y.contiguous().view(-1).view(torch.uint8)):
            return False
    return True


def determinism(ctx, shapes, grids):
    rep, torch = ctx.rep, ctx.torch
    for opt_name, dtype, amp in (("adamw", torch.float32, False),
                                 ("adamw_amsgrad", torch.bfloat16, True),
                                 ("lion", torch.float16, False)):
        label = f"{opt_name} {str(dtype)[6:]} {'amp' if amp else 'noamp'}"
        try:
            first = final_bits(ctx, opt_name, dtype, amp, shapes)
            second = final_bits(ctx, opt_name, dtype, amp, shapes)
            rep.record("determinism", f"two runs, {label}",
                       "pass" if same_bits(first, second) else "fail",
                       "" if same_bits(first, second) else "results differ run to run")
            differing = []
            for blocks in grids:
                os.environ["GS_GPU_MAX_BLOCKS"] = str(blocks)
                try:
                    other = final_bits(ctx, opt_name, dtype, amp, shapes)
                finally:
                    del os.environ["GS_GPU_MAX_BLOCKS"]
                if not same_bits(first, other):
                    differing.append(blocks)
            rep.record("determinism", f"GS_GPU_MAX_BLOCKS in {grids}, {label}",
                       "fail" if differing else "pass",
                       f"differs from the default grid with {differing}" if differing
                       else "bitwise equal to the default grid")
        except Exception as error:
            rep.record("determinism", label, "error", f"{type(error).__name__}: {error}",
                       traceback=traceback.format_exc())
    # A malformed GS_GPU_MAX_BLOCKS is an error that names it, and changes nothing.
    try:
        run = Run(ctx, "adamw", torch.float32, "skip", False, shapes[:2], with_cpu=False)
        before = [p.detach().clone() for p in run.params]
        os.environ["GS_GPU_MAX_BLOCKS"] = "0"
        try:
            run.step([ctx.np.ones(s) for s in shapes[:2]])
            status, detail = "fail", "GS_GPU_MAX_BLOCKS=0 was accepted"
        except Exception as error:
            ok = "GS_GPU_MAX_BLOCKS" in str(error) and all(
                torch.equal(p, q) for p, q in zip(run.params, before))
            status, detail = ("pass" if ok else "fail"), str(error)
        finally:
            del os.environ["GS_GPU_MAX_BLOCKS"]
        rep.record("determinism", "GS_GPU_MAX_BLOCKS=0 rejected", status, detail)
    except Exception as error:
        rep.record("determinism", "GS_GPU_MAX_BLOCKS=0 rejected", "error",
                   f"{type(error).__name__}: {error}")


def streams(ctx, shapes):
    rep, torch, np = ctx.rep, ctx.torch, ctx.np
    if ctx.dev.type != "cuda":
        rep.record("streams", "two streams at once", "skip", "needs CUDA streams")
        return

    def runs(concurrent):
        pair = [Run(ctx, "adamw", torch.float32, "skip", False, shapes, seed=s,
                    with_cpu=False) for s in (11, 12)]
        rng = np.random.default_rng(5)
        grads = [[[rng.standard_normal(s) for s in shapes] for _ in range(3)]
                 for _ in pair]
        side = [torch.cuda.Stream(), torch.cuda.Stream()]
        for k in range(3):
            for run, g in zip(pair, grads):
                for p, x in zip(run.params, g[k]):
                    p.grad = torch.tensor(x, dtype=torch.float32, device=ctx.dev)
            if concurrent:
                for s in side:
                    s.wait_stream(torch.cuda.current_stream())
                for run, s in zip(pair, side):
                    with torch.cuda.stream(s):
                        run.wrapper.step()
                for s in side:
                    torch.cuda.current_stream().wait_stream(s)
            else:
                for run in pair:
                    run.wrapper.step()
        torch.cuda.synchronize()
        return [([p.detach().cpu() for p in run.params],
                 [tuple(v.values()) for v in run.wrapper.scaler.state.values()])
                for run in pair]
    together, apart = runs(True), runs(False)
    same = all(same_bits(a, b) for a, b in zip(together, apart))
    rep.record("streams", "two wrappers on two streams at once",
               "pass" if same else "fail",
               "bitwise equal to running them one after the other" if same
               else "results differ from sequential runs")


def devices(ctx, shapes):
    rep, torch = ctx.rep, ctx.torch
    if ctx.dev.type != "cuda":
        rep.record("devices", "device path", "skip", "needs CUDA")
        return
    if torch.cuda.device_count() > 1:
        device, label = torch.device("cuda", 1), "parameters on cuda:1, current device 0"
    else:
        device, label = torch.device("cuda"), "parameters on 'cuda' (the current device)"
    ref, cpu, problem = checked_case(ctx, "adamw", torch.float32, "skip", True, shapes,
                                     label, device=device)
    rep.record("devices", label, "fail" if problem else "pass", problem,
               worst_vs_reference=round(ref, 4), worst_vs_cpu_kernels=round(cpu, 4))


def steady_wrapper(ctx, shapes, amp, dtypes=None):
    """A wrapper after three steps (state resident, tables built)."""
    torch = ctx.torch
    from gradient_stabilizer import GSWrapper
    dtypes = dtypes or [torch.float32]
    params = [torch.nn.Parameter(torch.randn(s, device=ctx.dev).to(dtypes[i % len(dtypes)]))
              for i, s in enumerate(shapes)]
    for p in params:
        p.grad = torch.randn_like(p)
    opt = GSWrapper(torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01),
                    backend="compiled")
    ctx.use_gpu_path(opt)
    scaler = torch.amp.GradScaler(ctx.dev.type, init_scale=1.0) if amp else None
    one = torch.ones((), device=ctx.dev)

    def step():
        if scaler is None:
            opt.step()
        else:
            scaler.scale(one)  # (as scaler.scale(loss) would: makes the scale)
            scaler.step(opt)
            scaler.update()
    for _ in range(3):
        step()
    ctx.sync()
    return opt, step


def syncs(ctx, shapes):
    """PyTorch's sync debug mode counts the synchronizations torch makes; a
    step queued behind ~0.1 s of GPU work (torch.cuda._sleep) must also
    return long before that work ends, which catches a wait anywhere,
    the kernels' runtime included."""
    rep, torch = ctx.rep, ctx.torch
    import time
    for amp in (False, True):
        case = f"steady step, {'GradScaler' if amp else 'no loss scaling'}"
        opt, step = steady_wrapper(ctx, shapes, amp)
        if ctx.dev.type != "cuda":
            step()
            rep.record("syncs", case, "skip", "needs CUDA's sync debug mode (the "
                       "steady step ran)")
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                step()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        found = [str(w.message).splitlines()[0] for w in caught
                 if "synchroniz" in str(w.message)]
        torch.cuda.synchronize()
        torch.cuda._sleep(200_000_000)  # ~0.1 s at 2 GHz
        start = time.perf_counter()
        step()
        host = time.perf_counter() - start
        torch.cuda.synchronize()
        total = time.perf_counter() - start
        blocked = host > 0.5 * total
        problem = "; ".join(found[:3])
        if blocked:
            problem += (f"{'; ' if problem else ''}the step returned after {host * 1e3:.1f} "
                        f"ms of {total * 1e3:.1f} ms of queued GPU work: it waited")
        rep.record("syncs", case, "fail" if problem else "pass", problem,
                   host_synchronizations=len(found),
                   step_host_ms=round(host * 1e3, 2),
                   queued_gpu_ms=round(total * 1e3, 2))


def launches(ctx, shapes):
    rep, torch = ctx.rep, ctx.torch
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU]
    if ctx.dev.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    for label, dtypes, amp, expected in (
            (f"{len(shapes)} f32 tensors", [torch.float32], False, 3),
            (f"{len(shapes)} tensors, f32 and bf16", [torch.float32, torch.bfloat16],
             False, 6)):
        opt, step = steady_wrapper(ctx, shapes, amp, dtypes)
        with profile(activities=activities) as prof:
            step()
            ctx.sync()
        kernels = [e.name for e in prof.events()
                   if e.device_type == torch.autograd.DeviceType.CUDA
                   and not e.name.lower().startswith(("memcpy", "memset"))]
        ours = [k for k in kernels if k.startswith("gs_")]
        detail = (f"{len(kernels)} kernels ({len(ours)} gs_*), expected {expected}: "
                  f"{sorted(set(kernels))[:8]}")
        if ctx.dev.type != "cuda":
            rep.record("launches", label, "skip", "needs CUDA's profiler (the profiled "
                       f"step ran; {detail})")
            continue
        rep.record("launches", label, "pass" if len(kernels) == expected else "fail",
                   detail, kernels=len(kernels))
