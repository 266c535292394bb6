"""One checked run: GSWrapper(backend="compiled") on the checked device, a
twin on CPU tensors through the CPU kernels and the float64 reference, on the
same gradients, compared by the execution tests' tolerance rule."""

from __future__ import annotations

import math


OPTIMIZERS = ("sgd", "sgd_momentum", "sgd_nesterov", "adam", "adam_amsgrad", "adamw",
              "adamw_amsgrad", "lion")
POLICIES = ("skip", "zero", "passthrough")


def make_optimizer(name, params):
    """(torch optimizer, float64 reference optimizer, moment names)."""
    import torch
    from gradient_stabilizer import Lion
    from gradient_stabilizer import reference as R
    if name.startswith("sgd"):
        momentum = 0.0 if name == "sgd" else 0.9
        dampening = 0.1 if name == "sgd_momentum" else 0.0
        nesterov = name == "sgd_nesterov"
        opt = torch.optim.SGD(params, lr=0.05, momentum=momentum, dampening=dampening,
                              nesterov=nesterov, weight_decay=0.01)
        return opt, R.SGD(momentum, dampening, nesterov)
    if name.startswith("adam"):
        amsgrad = name.endswith("amsgrad")
        cls, ref = ((torch.optim.AdamW, R.AdamW) if name.startswith("adamw")
                    else (torch.optim.Adam, R.Adam))
        opt = cls(params, lr=1e-2, betas=(0.8, 0.99), eps=1e-8, weight_decay=0.1,
                  amsgrad=amsgrad)
        return opt, ref(0.8, 0.99, 1e-8, amsgrad)
    opt = Lion(params, lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    return opt, R.Lion(0.9, 0.99)


class Run:
    """One parameter group stepped by GSWrapper(backend="compiled") on the
    checked device, a twin on CPU tensors through the CPU kernels, and the
    float64 reference, all on the same gradients."""

    def __init__(self, ctx, opt_name, dtype, policy, amp, shapes, seed=0,
                 device=None, with_cpu=True):
        import numpy as np
        import torch
        from gradient_stabilizer import GSWrapper
        from gradient_stabilizer import reference as R
        self.ctx, self.torch, self.np = ctx, torch, np
        self.dtype, self.policy, self.amp = dtype, policy, amp
        self.device = ctx.dev if device is None else device
        rng = np.random.default_rng(seed)
        init = [rng.standard_normal(s) for s in shapes]
        self.params = [torch.nn.Parameter(torch.tensor(x, dtype=torch.float32)
                                          .to(dtype).to(self.device)) for x in init]
        self.opt, self.ref_opt = make_optimizer(opt_name, self.params)
        self.wrapper = GSWrapper(self.opt, backend="compiled", on_nonfinite=policy)
        ctx.use_gpu_path(self.wrapper)
        self.cfg = R.GSConfig(on_nonfinite=policy)
        self.scaler = (torch.amp.GradScaler(self.device.type, init_scale=2.0 ** 12)
                       if amp else None)
        self.cpu = None
        if with_cpu:
            self.cpu_params = [torch.nn.Parameter(p.detach().cpu().clone())
                               for p in self.params]
            self.cpu_opt, _ = make_optimizer(opt_name, self.cpu_params)
            self.cpu = GSWrapper(self.cpu_opt, backend="compiled", on_nonfinite=policy)
            self.cpu_scaler = (torch.amp.GradScaler("cpu", init_scale=2.0 ** 12)
                               if amp else None)

    # -- state -------------------------------------------------------------------
    def snapshot(self, wrapper=None, params=None):
        """float64 copies of parameters, moments, step counts and GS state
        (reading the GS state brings device-resident state back)."""
        from gradient_stabilizer.compiled import _step_count, optimizer_spec
        wrapper = wrapper or self.wrapper
        params = params or self.params
        opt = wrapper.optimizer
        _, names = optimizer_spec(opt, opt.param_groups[0])
        gs = wrapper.scaler.state
        out = dict(params=[], moments=[], steps=[], gs=[], grads=[])
        for p in params:
            # As the compiled backend reads them (compiled._moments_and_step),
            # without creating the missing buffers.
            state = opt.state[p] if p in opt.state else {}
            step, moments = _step_count(state), []
            for name in names:
                buf = state.get(name)
                if buf is None:
                    moments.append(self.np.zeros(tuple(p.shape)))
                    step = 0 if name == "momentum_buffer" else step
                else:
                    moments.append(self.f64(buf))
            out["params"].append(self.f64(p))
            out["moments"].append(moments)
            out["steps"].append(step)
            out["gs"].append(dict(gs.get(p, dict(m=0.0, v=0.0, k=0, skipped=0))))
            # What the step left in p.grad (the stabilized gradient, by
            # docs/python.md's rule), compared between the device and the twin.
            out["grads"].append(None if p.grad is None else self.f64(p.grad))
        return out

    def f64(self, t):
        return t.detach().to("cpu", self.torch.float64).numpy().copy()

    # -- stepping ------------------------------------------------------------------
    def step(self, grads64):
        """One step of both wrappers on `grads64` (float64 arrays, rounded to
        the dtype here); returns the stored gradients and the loss scale."""
        torch = self.torch
        scale = 1.0
        if self.amp:
            self.scaler.scale(torch.ones((), device=self.device))  # makes the scale
            scale = float(self.scaler.get_scale())
        stored = [torch.tensor(g * scale, dtype=torch.float64).to(self.dtype)
                  for g in grads64]
        for p, g in zip(self.params, stored):
            # (a copy also on the CPU: the step writes the stabilized
            # gradient into p.grad)
            p.grad = g.to(self.device, copy=True)
        if self.amp:
            self.scaler.step(self.wrapper)
            self.scaler.update()
        else:
            self.wrapper.step()
        if self.cpu is not None:
            for p, g in zip(self.cpu_params, stored):
                p.grad = g.clone()
            if self.amp:
                self.cpu_scaler.scale(torch.ones(()))
                assert float(self.cpu_scaler.get_scale()) == scale
                self.cpu_scaler.step(self.cpu)
                self.cpu_scaler.update()
            else:
                self.cpu.step()
        return stored, scale

    def reference(self, before, stored, scale):
        """The float64 reference's step from `before` on the stored
        gradients."""
        from gradient_stabilizer import reference as R
        np = self.np
        gs = [R.GSState(**s) for s in before["gs"]]
        opt = [R.OptState(moments=[np.array(m) for m in ms], step=t)
               for ms, t in zip(before["moments"], before["steps"])]
        grads = [self.f64(g) for g in stored]
        group = self.opt.param_groups[0]
        inv = None
        if self.amp:
            inv = float(np.float32(1.0 / scale))
        params, gs, opt, _ = R.group_step(
            before["params"], grads, gs, opt, self.ref_opt, self.cfg,
            float(group["lr"]), float(group.get("weight_decay", 0.0)), inv_scale=inv)
        return dict(params=params, moments=[o.moments for o in opt],
                    steps=[o.step for o in opt],
                    gs=[dict(m=s.m, v=s.v, k=s.k, skipped=s.skipped) for s in gs])


# The execution tests' tolerance rule (test/Execution/Inputs/gs_harness.py,
# compare): |got - want| <= tol * max(|want|, |old| + |want - old|)
# + FLOOR * max|want| + TINY[dtype], tol = max(1e-6, 2 ulp of the dtype);
# GS m and v to 1e-12 (plus the floor), counters exactly.
FLOOR = 1e-7
ULP = {"float32": 2.0 ** -23, "float16": 2.0 ** -10, "bfloat16": 2.0 ** -7}
TINY = {"float32": 2.0 ** -149, "float16": 2.0 ** -24, "bfloat16": 2.0 ** -133}


def worst_ratio(np, got, want, before, tol, tiny):
    """max over elements of error / bound (<= 1 passes); inf on a NaN
    pattern mismatch."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape or not (np.isnan(got) == np.isnan(want)).all():
        return math.inf
    finite = ~np.isnan(want)
    if not finite.any():
        return 0.0
    g, w = got[finite], want[finite]
    scale = np.abs(w)
    if before is not None:
        old = np.broadcast_to(np.asarray(before, np.float64), want.shape)[finite]
        scale = np.maximum(scale, np.abs(old) + np.abs(w - old))
    same = (g == w)  # also equal infinities
    err = np.where(same, 0.0, np.abs(g - w))
    bound = tol * scale + FLOOR * np.max(np.abs(w), initial=0.0) + tiny
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(err == 0.0, 0.0, err / bound)
    ratio = np.where(np.isnan(ratio), math.inf, ratio)
    return float(np.max(ratio, initial=0.0))


def compare(np, got, want, before, dtype_name, rtol=1e-6):
    """(worst error / bound over everything, first problem or "")."""
    tol = max(rtol, 2 * ULP[dtype_name])
    tiny = TINY[dtype_name]
    worst, problem = 0.0, ""
    for i, (gp, wp) in enumerate(zip(got["params"], want["params"])):
        checks = [(f"param {i}", gp, wp, before["params"][i] if before else None)]
        for j, (gm, wm) in enumerate(zip(got["moments"][i], want["moments"][i])):
            checks.append((f"moment {j} of param {i}", gm, wm,
                           before["moments"][i][j] if before else None))
        for name, g, w, b in checks:
            r = worst_ratio(np, g, w, b, tol, tiny)
            worst = max(worst, r)
            if r > 1.0 and not problem:
                problem = f"{name}: error/bound {r:.3g}"
        if "grads" in got and "grads" in want:
            g, w = got["grads"][i], want["grads"][i]
            r = (0.0 if g is None and w is None else math.inf if g is None or w is None
                 else worst_ratio(np, g, w, None, tol, tiny))
            worst = max(worst, r)
            if r > 1.0 and not problem:
                problem = f"p.grad of param {i} after the step: error/bound {r:.3g}"
        gs_g, gs_w = got["gs"][i], want["gs"][i]
        for key in ("m", "v"):
            r = worst_ratio(np, [gs_g[key]], [gs_w[key]], None, 1e-12, 0.0)
            worst = max(worst, r)
            if r > 1.0 and not problem:
                problem = f"GS {key} of param {i}: {gs_g[key]!r} vs {gs_w[key]!r}"
        for key in ("k", "skipped"):
            if gs_g[key] != gs_w[key] and not problem:
                problem = f"GS {key} of param {i}: {gs_g[key]} vs {gs_w[key]}"
                worst = math.inf
        if got["steps"][i] != want["steps"][i] and not problem:
            problem = f"step count of param {i}: {got['steps'][i]} vs {want['steps'][i]}"
            worst = math.inf
    return worst, problem


def gradient_schedule(np, shapes, dtype_name, seed):
    """Five steps of gradients: ordinary, a 1e4x spike, a zero tensor, a
    huge spike in one tensor, then a NaN (last, so that passthrough's NaN
    parameters end the run)."""
    rng = np.random.default_rng(seed + 100)
    huge = {"float32": 1e30, "bfloat16": 1e30, "float16": 3e4}[dtype_name]
    steps = []
    for k in range(5):
        grads = [rng.standard_normal(s) for s in shapes]
        if k == 1:
            grads = [g * 1e4 for g in grads]
        if k == 2 and len(grads) > 2:
            grads[2] = np.zeros(shapes[2])
        if k == 3 and grads[1].size:
            grads[1] = np.full(shapes[1], huge) * np.sign(grads[1] + 0.5)
        if k == 4 and grads[0].size > 7:
            grads[0].reshape(-1)[7] = np.nan
        steps.append(grads)
    return steps


def checked_case(ctx, opt_name, dtype, policy, amp, shapes, label, schedule=None,
                 resident_steps=3, device=None):
    """Runs the gradient schedule on the device and on the CPU twin. The
    first `resident_steps` - 1 steps read nothing (the GS state stays
    resident on the device); from then on each step's results are read and
    compared with the twin's, and from step `resident_steps` on also with
    the float64 reference's step from the state read before it. Returns
    (worst error/bound vs the reference, vs the CPU kernels, first problem
    or "")."""
    np = ctx.np
    name = str(dtype).replace("torch.", "")
    run = Run(ctx, opt_name, dtype, policy, amp, shapes, device=device)
    schedule = schedule or gradient_schedule(np, shapes, name, seed=len(label))
    start = run.snapshot()
    worst_ref = worst_cpu = 0.0
    problem = ""
    before = start
    for k, grads in enumerate(schedule):
        stored, scale = run.step(grads)
        if k + 1 < resident_steps:
            continue
        got = run.snapshot()
        if k >= resident_steps:  # one step from the device's own state
            want = run.reference(before, stored, scale)
            r, p = compare(np, got, want, before, name)
            worst_ref = max(worst_ref, r)
            problem = problem or (f"step {k} vs reference: {p}" if p else "")
        cpu = run.snapshot(run.cpu, run.cpu_params)
        r, p = compare(np, got, cpu, before if k >= resident_steps else start, name)
        worst_cpu = max(worst_cpu, r)
        problem = problem or (f"step {k} vs CPU kernels: {p}" if p else "")
        before = got
    ctx.check_prebuilt(run.wrapper)
    return worst_ref, worst_cpu, problem


class Context:
    def __init__(self, rep, torch, np, dev, dry_run, reserve):
        self.rep, self.torch, self.np, self.dev, self.dry_run = rep, torch, np, dev, dry_run
        # Seconds of the budget the correctness cases leave to later sections.
        self.reserve = reserve

    def use_gpu_path(self, wrapper):
        if self.dry_run:
            from gradient_stabilizer.compiled import CompiledBackend
            wrapper._compiled = CompiledBackend(gpu_kernels_on_cpu=True)

    def check_prebuilt(self, wrapper):
        """The steps ran through the prebuilt GPU kernels (not a JIT
        fallback, which would need gs-opt)."""
        if not any(bucket.gpu for bucket in wrapper._compiled._buckets.values()):
            raise AssertionError("no bucket ran through the prebuilt GPU kernels")

    def sync(self):
        if self.dev.type == "cuda":
            self.torch.cuda.synchronize()
