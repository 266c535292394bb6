"""The gs-opt path on the GPU: static `gs.group_step` modules lowered by
`gs-to-nvvm` (PTX for sm_80, which the driver JIT-compiles at load) and
linked, as a graph compiler's output would be, against libgs_cuda_runtime.
This exercises what the prebuilt kernels do not: the static group's
bufferization onto the generic step, `convert-gs-to-gpu`'s host tables and
scratch (allocated and freed per call on the step's stream, from the
stream-ordered allocator), the module loaded by a global constructor, and
the `mgpu*` runtime.

They are built here by `prepare` (the toolchain is not on the GPU machine)
into build/gpu-check/, next to twins lowered by `gs-to-gpu-emulator` for the
dry run. On the device each case steps CUDA tensors (copied from the
harness's host state before every step) against the float64 reference with
the execution tests' tolerance rule, and a step queued behind ~0.1 s of GPU
work must return before that work ends (no device synchronization).
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "build" / "gpu-check"
sys.path.insert(0, str(ROOT / "test" / "Execution" / "Inputs"))

# name: (optimizer, shapes, dtypes, loss scaling). Tensors of several chunks
# (16384 elements), small ones and an empty one; three element types in one
# group (a type-index column in the table).
CASES = {
    "adamw-mixed": ("adamw", [(70001,), (33, 17), (5,), (4096,), (0,)],
                    ["f32", "bf16", "f16", "f32", "f32"], False),
    "sgd-nesterov-amp": ("sgd_nesterov", [(20000,), (7,), (300, 70)],
                         ["f32", "f32", "f32"], True),
    "lion-bf16": ("lion", [(40000,), (3, 5)], ["bf16", "bf16"], False),
}
CHIP = "sm_80"


def signature(name: str, target: str):
    import gs_harness as H
    from gradient_stabilizer import _compiler as C
    opt_name, shapes, dtypes, amp = CASES[name]
    attr, factory = H.OPTIMIZERS[opt_name]
    return C.StepSignature(shapes=tuple(tuple(s) for s in shapes), dtypes=tuple(dtypes),
                           optimizer=attr, num_moments=len(factory().moment_names()),
                           stabilizer=H.stabilizer_attr(config()), inv_scale=amp,
                           found_inf=amp, target=target)


def config():
    from gradient_stabilizer import reference as R
    return R.GSConfig(gamma1=0.5, gamma2=0.99)


def library(name: str, target: str) -> Path:
    return FOLDER / f"{name}-{'emulator' if target == 'gpu-emulator' else target}.so"


def prepare(log=print) -> list:
    """Builds every case for the GPU and for the emulator (needs gs-opt,
    mlir-translate and clang: run it here, not on the GPU machine)."""
    from gradient_stabilizer import _compiler as C
    built = []
    for name in CASES:
        for target in (CHIP, "gpu-emulator"):
            start = time.perf_counter()
            path = C.build_step_library(signature(name, target), library(name, target))
            log(f"built {path.relative_to(ROOT)} in {time.perf_counter() - start:.1f} s")
            built.append(path)
    return built


def missing(dry_run: bool) -> list:
    target = "gpu-emulator" if dry_run else CHIP
    return [str(library(name, target)) for name in CASES
            if not library(name, target).is_file()]


def run_case(ctx, name: str, steps: int = 4):
    """Steps one case; returns the largest host time of a step call (s)."""
    import gs_harness as H
    import numpy as np
    from gradient_stabilizer import _compiler as C
    torch = ctx.torch
    target = "gpu-emulator" if ctx.dry_run else CHIP
    sig = signature(name, target)
    step = C.CompiledStep(sig, library=library(name, target))
    opt_name, shapes, dtypes, amp = CASES[name]
    optimizer = H.OPTIMIZERS[opt_name][1]()
    cfg = config()
    group = H.make_group(shapes, dtypes, optimizer, np.random.default_rng(5))
    rng = np.random.default_rng(11)
    stream = None if ctx.dry_run else torch.cuda.current_stream(ctx.dev).cuda_stream
    # An empty CUDA tensor has no storage (address 0), which steps refuse;
    # the kernels never dereference an empty tensor's address, so any valid
    # one does.
    placeholder = torch.zeros(64, dtype=torch.uint8, device=ctx.dev)
    slowest = 0.0
    for k in range(steps):
        grads = [rng.standard_normal(s) * rng.uniform(0.1, 10) for s in shapes]
        if k == 2:  # a spike
            grads[0] = grads[0] * 1e30
        inv_scale = 0.5 if amp else None
        found_inf = (k == 3) if amp else None
        H.resync(group)
        stored = [H.to_storage(g, d) for g, d in zip(grads, group.dtypes)]
        host = {"params": group.params, "grads": stored, "moments": group.moments,
                "state": [group.stats, group.counts, group.steps],
                "scaling": ([np.array(inv_scale, np.float32),
                             np.array(1.0 if found_inf else 0.0, np.float32)]
                            if amp else [])}
        # Copies on the checked device (CPU tensors in a dry run, the same
        # code path); uint16 (bf16 bits) travels as int16.
        buffers = {key: [torch.from_numpy(a.view(np.int16) if a.dtype == np.uint16
                                          else a).clone().to(ctx.dev) for a in arrays]
                   for key, arrays in host.items()}

        def addr(x):
            return x.data_ptr() if x.numel() else placeholder.data_ptr()
        args = ([addr(p) for p in buffers["params"]], [addr(g) for g in buffers["grads"]],
                [addr(m) for m in buffers["moments"]],
                *[addr(s) for s in buffers["state"]], 1e-2, 0.1,
                *([addr(s) for s in buffers["scaling"]] or [None, None]))
        start = time.perf_counter()
        step(*args, stream=stream)
        slowest = max(slowest, time.perf_counter() - start)
        if not ctx.dry_run:
            torch.cuda.synchronize(ctx.dev)
        for key in ("params", "moments", "state"):
            for dst, src in zip(host[key], buffers[key]):
                np.copyto(dst, src.cpu().numpy().view(dst.dtype))
        H.reference_step(group, optimizer, cfg, stored, 1e-2, 0.1, inv_scale, found_inf)
        H.compare(group, 1e-6, f"{name} step {k}")
    return step, slowest


def no_wait(ctx, step_and_case):
    """A step queued behind ~0.1 s of GPU work returns before it ends (as
    the syncs section checks the prebuilt kernels)."""
    torch = ctx.torch
    step, name = step_and_case
    opt_name, shapes, dtypes, amp = CASES[name]
    moments = step.signature.num_moments
    dtype = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}
    # At least one element each: an empty CUDA tensor has no address.
    tensors = [torch.zeros(s if 0 not in s else (1,), dtype=dtype[d], device=ctx.dev)
               for s, d in zip(shapes, dtypes)]
    grads = [torch.ones_like(t) for t in tensors]
    moment_tensors = [torch.zeros_like(t) for t in tensors for _ in range(moments)]
    n = len(shapes)
    state = [torch.zeros(n, 2, dtype=torch.float64, device=ctx.dev),
             torch.zeros(n, 2, dtype=torch.int64, device=ctx.dev),
             torch.zeros(n, dtype=torch.int64, device=ctx.dev)]
    scaling = ([torch.ones((), device=ctx.dev), torch.zeros((), device=ctx.dev)]
               if amp else [None, None])
    stream = torch.cuda.current_stream(ctx.dev)
    torch.cuda.synchronize(ctx.dev)
    torch.cuda._sleep(200_000_000)  # ~0.1 s at 2 GHz
    start = time.perf_counter()
    step([t.data_ptr() for t in tensors], [g.data_ptr() for g in grads],
         [m.data_ptr() for m in moment_tensors], *[s.data_ptr() for s in state], 1e-2, 0.1,
         *[None if s is None else s.data_ptr() for s in scaling],
         stream=stream.cuda_stream)
    returned = time.perf_counter() - start
    torch.cuda.synchronize(ctx.dev)
    finished = time.perf_counter() - start
    return returned, finished


def lowered(ctx):
    rep = ctx.rep
    absent = missing(ctx.dry_run)
    if absent:
        rep.record("lowered", "artifacts", "skip",
                   f"missing {absent}: run `.venv/bin/python scripts/gpu-check --prepare` "
                   "on the build machine first")
        return
    first = None
    for name in CASES:
        try:
            step, slowest = run_case(ctx, name)
            first = first or (step, name)
            rep.record("lowered", name, "pass", f"4 steps against the float64 reference; "
                       f"slowest call {slowest * 1e3:.1f} ms",
                       slowest_call_ms=round(slowest * 1e3, 2))
        except Exception as error:
            rep.record("lowered", name, "error" if not isinstance(error, AssertionError)
                       else "fail", f"{type(error).__name__}: {error}",
                       traceback=traceback.format_exc())
    if ctx.dry_run or first is None:
        rep.record("lowered", "no device synchronization", "skip",
                   "needs a GPU" if ctx.dry_run else "no case ran")
        return
    try:
        returned, finished = no_wait(ctx, first)
        ok = returned < 0.5 * finished
        rep.record("lowered", "no device synchronization", "pass" if ok else "fail",
                   f"the call returned after {returned * 1e3:.1f} ms, the queued work "
                   f"ended after {finished * 1e3:.1f} ms",
                   returned_ms=round(returned * 1e3, 2), finished_ms=round(finished * 1e3, 2))
    except Exception as error:
        rep.record("lowered", "no device synchronization", "error",
                   f"{type(error).__name__}: {error}", traceback=traceback.format_exc())
