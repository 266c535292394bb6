"""gpu-check's speed section: CUDA events after warm-up, against a
device-to-device copy and three PyTorch baselines."""

from __future__ import annotations

import math
import statistics
import time
import traceback


def time_steps(ctx, step, warmup, steps):
    """Median and min seconds of `steps` calls after `warmup`."""
    torch = ctx.torch
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        if ctx.dev.type == "cuda":
            start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record()
            step()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def tensor_gs(torch):
    """GradientStabilizer's math (per-tensor norm, EMAs, rescale) on device
    tensors, with no host synchronization: what torch.compile can trace."""
    def stabilize(grads, m, v, k, gamma1=0.6, gamma2=0.999, eps=1e-12):
        norms = torch.stack(torch._foreach_norm(grads)).double()
        ok = torch.isfinite(norms) & (norms > 0)
        k.add_(ok.to(k.dtype))
        m.copy_(torch.where(ok, gamma1 * m + (1 - gamma1) * norms, m))
        v.copy_(torch.where(ok, gamma2 * v + (1 - gamma2) * norms * norms, v))
        kk = k.double().clamp(min=1)
        c = (m / (1 - gamma1 ** kk)) / (torch.sqrt(v / (1 - gamma2 ** kk)) + eps)
        factor = torch.where(ok, c / norms, torch.ones_like(norms)).float()
        torch._foreach_mul_(grads, list(factor.unbind()))
    return stabilize


def check_tensor_gs(ctx):
    """Baseline (b)'s GS computes what the eager GS does (to f32 rounding of
    the factor), so the comparison is of the same work."""
    torch, dev = ctx.torch, ctx.dev
    from gradient_stabilizer.eager import stabilize_
    shapes = [(1000,), (7, 3), (0,)]
    params = [torch.nn.Parameter(torch.zeros(s, device=dev)) for s in shapes]
    m = torch.zeros(len(shapes), dtype=torch.float64, device=dev)
    v, k = torch.zeros_like(m), torch.zeros(len(shapes), dtype=torch.int64, device=dev)
    states, stabilize, worst = {}, tensor_gs(torch), 0.0
    for step in range(4):
        grads = [torch.randn(s, device=dev) * 10.0 ** (3 * step) for s in shapes]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        stabilize_(params, states)
        stabilize(grads, m, v, k)
        for p, g in zip(params, grads):
            if g.numel():
                worst = max(worst, float((p.grad - g).abs().max() / p.grad.abs().max()))
    ctx.rep.record("speed", "(b)'s tensor GS matches the eager GS",
                   "pass" if worst <= 1e-5 else "fail",
                   f"largest difference {worst:.2g} of the largest element")


def speed(ctx, models, warmup, steps, with_compile):
    rep, torch = ctx.rep, ctx.torch
    from gradient_stabilizer import GSWrapper
    dev = ctx.dev
    check_tensor_gs(ctx)
    copy_bytes = (4 << 30) if dev.type == "cuda" else (64 << 20)
    src = torch.empty(copy_bytes // 4, dtype=torch.float32, device=dev).normal_()
    dst = torch.empty_like(src)
    t_copy, _ = time_steps(ctx, lambda: dst.copy_(src), warmup, steps)
    copy_gbs = 2 * copy_bytes / t_copy / 1e9
    src = dst = None  # (frees the 8 GiB)
    rep.info["copy_gb_per_s"] = round(copy_gbs, 1)
    rep.log(f"device-to-device copy: {copy_gbs:.0f} GB/s (read + written)")
    fused = dev.type == "cuda"
    targets = []
    for model, shapes, need, has_targets in models:
        n = sum(math.prod(s) for s in shapes)
        step_bytes = 32 * n
        rep.log(f"{model}: {len(shapes)} tensors, {n / 1e9:.3f}B parameters")
        torch.manual_seed(0)
        params = [torch.nn.Parameter(torch.randn(s, device=dev)) for s in shapes]
        for p in params:
            p.grad = torch.randn_like(p)
        results = {}

        def measure(method, make, note="", factor=1.0):
            """Times `make()`'s step; skipped when less than `need` * factor
            seconds of the budget are left."""
            if rep.remaining() < need * factor:
                rep.speed.append(dict(model=model, method=method,
                                      note=f"skipped: {rep.remaining():.0f} s left"))
                rep.record("speed", f"{model} {method}", "skip", "time budget")
                return
            try:
                t0 = time.perf_counter()
                step = make()
                step()
                ctx.sync()
                first = time.perf_counter() - t0
                median, least = time_steps(ctx, step, warmup, steps)
                results[method] = median
                entry = dict(model=model, method=method, median_ms=round(median * 1e3, 3),
                             min_ms=round(least * 1e3, 3),
                             gb_per_s=round(step_bytes / median / 1e9, 1),
                             pct_of_copy=round(100 * step_bytes / median / 1e9 / copy_gbs, 1),
                             first_step_s=round(first, 2),
                             note=f"{note} first step {first:.2f} s".strip())
                rep.speed.append(entry)
                rep.record("speed", f"{model} {method}", "pass",
                           f"{entry['median_ms']} ms", **{k: v for k, v in entry.items()
                                                          if k not in ("model", "method")})
            except Exception as error:
                rep.speed.append(dict(model=model, method=method,
                                      note=f"error: {type(error).__name__}"))
                rep.record("speed", f"{model} {method}", "error",
                           f"{type(error).__name__}: {error}",
                           traceback=traceback.format_exc())
            finally:
                ctx.sync()
                if dev.type == "cuda":
                    torch.cuda.empty_cache()

        def ours():
            opt = GSWrapper(torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01),
                            backend="compiled")
            ctx.use_gpu_path(opt)
            return opt.step
        measure("GSWrapper compiled (prebuilt kernels)", ours)

        def eager():
            inner = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01, fused=fused)
            return GSWrapper(inner, backend="eager").step
        measure(f"(a) eager GS + AdamW(fused={fused})", eager,
                "the original algorithm (a norm and a host read per tensor);")

        def clipped():
            inner = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01, fused=fused)

            def step():
                torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=True)
                inner.step()
            return step
        measure(f"(c) clip_grad_norm_(foreach) + AdamW(fused={fused})", clipped)

        if with_compile:
            def compiled(fused=fused):
                inner = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01,
                                          fused=fused)
                count = len(params)
                m = torch.zeros(count, dtype=torch.float64, device=dev)
                v, k = torch.zeros_like(m), torch.zeros(count, dtype=torch.int64,
                                                        device=dev)
                stabilize = tensor_gs(torch)
                grads = [p.grad for p in params]

                @torch.compile
                def step():
                    stabilize(grads, m, v, k)
                    inner.step()
                return step
            method = f"(b) torch.compile of tensor GS + AdamW(fused={fused})"
            measure(method, compiled, "compile time +", factor=2.5)
            failed = [r for r in rep.records if r["case"] == f"{model} {method}"
                      and r["status"] == "error"]
            if fused and failed:  # inductor may not take the fused kernel
                torch._dynamo.reset()
                measure("(b) torch.compile of tensor GS + AdamW(foreach)",
                        lambda: compiled(False), "compile time +", factor=2.5)
            torch._dynamo.reset()  # (lets go of the compiled step's buffers)
        else:
            rep.speed.append(dict(model=model, method="(b) torch.compile",
                                  note="skipped (--no-compile)"))
            rep.record("speed", f"{model} (b) torch.compile", "skip", "--no-compile")
        params.clear()
        ours_t = results.get("GSWrapper compiled (prebuilt kernels)")
        if ours_t:
            for entry in rep.speed:
                if entry["model"] == model and entry["method"] in results:
                    entry["speedup_of_ours"] = round(results[entry["method"]] / ours_t, 2)
            if has_targets:
                pct = 100 * step_bytes / ours_t / 1e9 / copy_gbs
                targets.append(dict(target=">= 90% of copy bandwidth at 32 B/param",
                                    value=f"{pct:.1f}%", met=pct >= 90))
                for prefix, want in (("(a)", 2.5), ("(b)", 1.3), ("(c)", 1.0)):
                    other = [t for name, t in results.items() if name.startswith(prefix)]
                    if other:
                        ratio = other[0] / ours_t
                        targets.append(dict(target=f"{prefix} time / ours >= {want}"
                                            + (" (strictly faster)" if want == 1.0 else ""),
                                            value=f"{ratio:.2f}x",
                                            met=ratio > want if want == 1.0
                                            else ratio >= want))
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    rep.info["targets"] = targets
    if ctx.dry_run:
        rep.info["targets_note"] = "dry run: CPU timings of a tiny model, not targets"
