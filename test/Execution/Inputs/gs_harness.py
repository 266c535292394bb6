"""Runs compiled GradientStabilizer steps next to the float64 reference.

Used by the execution tests: a `Case` describes one parameter group (shapes,
dtypes, optimizer, configuration); `run` drives the compiled step and the
reference through the same gradients and returns both final states.
"""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass, field

import numpy as np

from gradient_stabilizer import _compiler as C
from gradient_stabilizer import reference as R

# --- dtypes ------------------------------------------------------------------


def to_storage(x: np.ndarray, dtype: str) -> np.ndarray:
    """Rounds a float array to `dtype`; bf16 is held as its uint16 bits."""
    if dtype == "f32":
        return np.ascontiguousarray(x, dtype=np.float32)
    if dtype == "f16":
        return np.ascontiguousarray(x, dtype=np.float16)
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    # Round to nearest even; NaN keeps a quiet NaN payload.
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    nan = np.isnan(np.asarray(x, dtype=np.float32))
    rounded = np.where(nan, (bits >> 16) | 0x40, rounded)
    return rounded.astype(np.uint16)


def to_f64(x: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "bf16":
        return (x.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return x.astype(np.float64)


# Absolute error floor, relative to a tensor's largest element (f32 ulp level).
FLOOR = 1e-7

# Relative precision of a value stored in each dtype.
ULP = {"f32": 2.0 ** -23, "f16": 2.0 ** -10, "bf16": 2.0 ** -7}
# Spacing of the subnormals of each dtype: values below the normal range are
# stored with this absolute precision (f16 moments often are).
TINY = {"f32": 2.0 ** -149, "f16": 2.0 ** -24, "bf16": 2.0 ** -133}


# --- optimizers ----------------------------------------------------------------

OPTIMIZERS = {
    "sgd": ("#gs.sgd<>", lambda: R.SGD()),
    "sgd_momentum": ("#gs.sgd<momentum = 0.9>", lambda: R.SGD(momentum=0.9)),
    "sgd_dampening": ("#gs.sgd<momentum = 0.8, dampening = 0.25>",
                      lambda: R.SGD(momentum=0.8, dampening=0.25)),
    "sgd_nesterov": ("#gs.sgd<momentum = 0.9, nesterov = true>",
                     lambda: R.SGD(momentum=0.9, nesterov=True)),
    "adam": ("#gs.adam<>", lambda: R.Adam()),
    "adam_amsgrad": ("#gs.adam<beta2 = 0.99, amsgrad = true>",
                     lambda: R.Adam(beta2=0.99, amsgrad=True)),
    "adamw": ("#gs.adamw<>", lambda: R.AdamW()),
    "adamw_amsgrad": ("#gs.adamw<beta1 = 0.8, amsgrad = true>",
                      lambda: R.AdamW(beta1=0.8, amsgrad=True)),
    "lion": ("#gs.lion<>", lambda: R.Lion()),
}


def stabilizer_attr(cfg: R.GSConfig) -> str:
    return C.stabilizer_attr(cfg.gamma1, cfg.gamma2, cfg.eps, cfg.bias_correction,
                             cfg.on_nonfinite)


# --- running -------------------------------------------------------------------


@dataclass
class Group:
    """The state of one parameter group, compiled side (storage dtypes) and
    reference side (float64)."""

    dtypes: tuple
    params: list
    moments: list
    stats: np.ndarray
    counts: np.ndarray
    steps: np.ndarray
    ref_params: list
    ref_gs: list
    ref_opt: list
    ref_skipped_steps: int = 0
    # Reference values before the last step: the scale of a cancellation.
    before: list = field(default_factory=list)


def make_group(shapes, dtypes, optimizer, rng, init=None) -> Group:
    params, ref_params = [], []
    for shape, dtype in zip(shapes, dtypes):
        values = rng.standard_normal(shape) if init is None else np.full(shape, init)
        stored = to_storage(values, dtype)
        params.append(stored)
        ref_params.append(to_f64(stored, dtype))
    moments = [to_storage(np.zeros(s), d) for s, d in zip(shapes, dtypes)
               for _ in optimizer.moment_names()]
    n = len(shapes)
    return Group(dtypes=tuple(dtypes), params=params, moments=moments,
                 stats=np.zeros((n, 2)), counts=np.zeros((n, 2), np.int64),
                 steps=np.zeros(n, np.int64), ref_params=ref_params,
                 ref_gs=[R.GSState() for _ in shapes],
                 ref_opt=[optimizer.init_state(p) for p in ref_params])


# The compiler target of the tests: "cpu" (default); "gpu-emulator", which
# runs the GPU kernels on the CPU (GS_TEST_KERNEL_OPTIONS adds gs-to-nvvm
# options: chunk-size, block-size, max-blocks); "prebuilt-cpu", the
# generic kernels of libgs_cpu_kernels on GS_TEST_THREADS threads; or
# "prebuilt-gpu", the same kernels built for the GPU (libgs_gpu_kernels, or
# its emulated build named by GS_GPU_KERNELS_LIB, on host memory).
TARGET = os.environ.get("GS_TEST_TARGET", "cpu")
KERNEL_OPTIONS = os.environ.get("GS_TEST_KERNEL_OPTIONS", "")


def structure_of(optimizer) -> tuple:
    """The prebuilt kernels' optimizer structure and run-time hyperparameters
    of a reference optimizer."""
    if isinstance(optimizer, R.SGD):
        if optimizer.momentum == 0:
            return "sgd", []
        name = "sgd_nesterov" if optimizer.nesterov else "sgd_momentum"
        return name, [optimizer.momentum, optimizer.dampening]
    if isinstance(optimizer, R.Lion):
        return "lion", [optimizer.beta1, optimizer.beta2]
    name = "adamw" if isinstance(optimizer, R.AdamW) else "adam"
    if optimizer.amsgrad:
        name += "_amsgrad"
    return name, [optimizer.beta1, optimizer.beta2, optimizer.eps]


class PrebuiltStep:
    """Runs a group through the prebuilt generic CPU (or GPU) kernels with
    the call signature of CompiledStep: one kernel set per dtype, tables of
    the buffers' addresses, persistent scratch."""

    def __init__(self, shapes, dtypes, optimizer, cfg, inv_scale, found_inf,
                 threads, gpu=False):
        from gradient_stabilizer import _cpu_kernels as K
        self.K = K
        self.gpu = gpu
        if gpu:
            from gradient_stabilizer import _gpu_kernels as G
            self.lib = G.gpu_kernels()
        else:
            self.lib = K.cpu_kernels()
        self.threads = threads
        # An inv_scale always travels with a found_inf (zero when unset).
        self.zero = np.zeros((), np.float32)
        self.numels = [int(np.prod(s, dtype=np.int64)) for s in shapes]
        structure, optimizer_hyper = structure_of(optimizer)
        self.hyper = np.array([0.0, 0.0, cfg.gamma1, cfg.gamma2, cfg.eps]
                              + list(optimizer_hyper))
        self.classes = {}
        for i, dtype in enumerate(dtypes):
            self.classes.setdefault(dtype, []).append(i)
        self.kernels = {d: K.kernel_set(structure, d, cfg.on_nonfinite,
                                        cfg.bias_correction, inv_scale=inv_scale,
                                        found_inf=inv_scale or found_inf)
                        for d in self.classes}
        self.moments = next(iter(self.kernels.values())).moments
        self.scratch = {}
        for dtype, members in self.classes.items():
            offsets = np.array(K.chunk_offsets([self.numels[i] for i in members]),
                               np.int64)
            self.scratch[dtype] = (offsets, np.zeros(max(int(offsets[-1]), 1)),
                                   np.zeros(len(members) * K.RECORD_WORDS, np.float32))

    def __call__(self, params, grads, moments, stats, counts, steps, lr, wd,
                 inv_scale=None, found_inf=None):
        m = self.moments
        self.hyper[0], self.hyper[1] = lr, wd
        if inv_scale and not found_inf:
            found_inf = self.zero.ctypes.data
        whole = len(self.classes) == 1
        runs = []
        for dtype, members in self.classes.items():
            table = np.zeros((len(members), 3 + m), np.int64)
            for row, i in enumerate(members):
                table[row, :3] = [self.numels[i], params[i], grads[i]]
                table[row, 3:] = moments[i * m:(i + 1) * m]
            offsets, partials, records = self.scratch[dtype]
            # A class of a mixed group steps on copies of its state rows.
            view = lambda address, dt, shape: np.ctypeslib.as_array(
                ctypes.cast(address, ctypes.POINTER(dt)), shape)
            n_all = sum(len(v) for v in self.classes.values())
            all_stats = view(stats, ctypes.c_double, (n_all, 2))
            all_counts = view(counts, ctypes.c_int64, (n_all, 2))
            all_steps = view(steps, ctypes.c_int64, (n_all,))
            local = (np.ascontiguousarray(all_stats[members]),
                     np.ascontiguousarray(all_counts[members]),
                     np.ascontiguousarray(all_steps[members]))
            runs.append((dtype, members, table, offsets, partials, records, local,
                         (all_stats, all_counts, all_steps)))

        def args(run, found=None):
            _, members, table, offsets, partials, records, local, _ = run
            found = (found if found is not None else found_inf) or 0
            if self.gpu:  # host memory: the device and host tables are one
                return self.lib.args(
                    len(members), table.shape[1], table.ctypes.data,
                    offsets.ctypes.data, table.ctypes.data, offsets.ctypes.data,
                    self.hyper.ctypes.data, self.hyper.size, local[0].ctypes.data,
                    local[1].ctypes.data, local[2].ctypes.data, partials.ctypes.data,
                    partials.size, records.ctypes.data, records.size, inv_scale or 0,
                    found)
            return self.lib.args(
                len(members), table.shape[1], table.ctypes.data, offsets.ctypes.data,
                self.hyper.ctypes.data, self.hyper.size, local[0].ctypes.data,
                local[1].ctypes.data, local[2].ctypes.data, partials.ctypes.data,
                partials.size, records.ctypes.data, records.size,
                inv_scale or 0, found)

        def run_kernel(name, arguments, threads=1):
            if self.gpu:
                self.lib.run_kernel(name, arguments)
            else:
                self.lib.run_kernel(name, arguments, threads)

        if whole or not inv_scale:
            for run in runs:
                if self.gpu:
                    self.lib.run_step(self.kernels[run[0]], args(run))
                else:
                    self.lib.run_step(self.kernels[run[0]], args(run), self.threads)
        else:
            # A loss scale skips the whole group on any non-finite gradient:
            # every dtype's norms, then one found_inf for all of them.
            inv = float(np.ctypeslib.as_array(
                ctypes.cast(inv_scale, ctypes.POINTER(ctypes.c_float)), ())) 
            found = float(np.ctypeslib.as_array(
                ctypes.cast(found_inf, ctypes.POINTER(ctypes.c_float)), ())) \
                if found_inf else 0.0
            for run in runs:
                run_kernel(self.kernels[run[0]].norms, args(run), self.threads)
                offsets, partials = run[3], run[4]
                for t in range(len(run[1])):
                    norm = np.sqrt(partials[offsets[t]:offsets[t + 1]].sum()) * inv
                    found = 1.0 if not np.isfinite(norm) else found
            flag = np.array(found, np.float32)
            for run in runs:
                kernels = self.kernels[run[0]]
                run_kernel(kernels.scalars, args(run, flag.ctypes.data))
                run_kernel(kernels.update, args(run, flag.ctypes.data), self.threads)
        for run in runs:
            members, local, whole_state = run[1], run[6], run[7]
            for dst, src in zip(whole_state, local):
                dst[members] = src


def compile_step(shapes, dtypes, opt_name, cfg, inv_scale=False, found_inf=False,
                 target=None, kernel_options=None):
    attr, factory = OPTIMIZERS[opt_name]
    target = TARGET if target is None else target
    if target in ("prebuilt-cpu", "prebuilt-gpu"):
        return PrebuiltStep(shapes, dtypes, factory(), cfg, inv_scale, found_inf,
                            int(os.environ.get("GS_TEST_THREADS", "2")),
                            gpu=target == "prebuilt-gpu")
    if kernel_options is None:
        kernel_options = KERNEL_OPTIONS if target != "cpu" else ""
    sig = C.StepSignature(shapes=tuple(tuple(s) for s in shapes), dtypes=tuple(dtypes),
                          optimizer=attr, num_moments=len(factory().moment_names()),
                          stabilizer=stabilizer_attr(cfg), inv_scale=inv_scale,
                          found_inf=found_inf, target=target,
                          kernel_options=kernel_options)
    return C.CompiledStep(sig)


def memref_descriptor(rank: int):
    """The C struct of a ranked memref descriptor (what a function with
    `llvm.emit_c_interface` takes by pointer and returns): allocated and
    aligned pointers, offset, sizes, strides."""
    fields = [("allocated", ctypes.c_void_p), ("aligned", ctypes.c_void_p),
              ("offset", ctypes.c_int64)]
    if rank:
        fields += [("sizes", ctypes.c_int64 * rank), ("strides", ctypes.c_int64 * rank)]
    return type(f"Descriptor{rank}", (ctypes.Structure,), {"_fields_": fields})


def describe(array: np.ndarray):
    """A memref descriptor of `array`'s memory (strides in elements)."""
    d = memref_descriptor(array.ndim)()
    d.allocated = d.aligned = array.ctypes.data
    d.offset = 0
    for k in range(array.ndim):
        d.sizes[k] = array.shape[k]
        d.strides[k] = array.strides[k] // array.itemsize
    return d


def resync(group: Group):
    """Restarts the reference from the compiled state, so the next comparison
    measures one step's error, not the drift of many."""
    m = len(group.ref_opt[0].moments)
    for i, dtype in enumerate(group.dtypes):
        group.ref_params[i] = to_f64(group.params[i], dtype)
        group.ref_opt[i] = R.OptState(
            moments=[to_f64(group.moments[i * m + j], dtype) for j in range(m)],
            step=int(group.steps[i]))
        group.ref_gs[i] = R.GSState(m=float(group.stats[i, 0]),
                                    v=float(group.stats[i, 1]),
                                    k=int(group.counts[i, 0]),
                                    skipped=int(group.counts[i, 1]))


def step(compiled, group: Group, optimizer, cfg, grads, lr, wd, inv_scale=None,
         found_inf=None, single=True):
    """Runs one compiled step and one reference step on the same gradients;
    with `single` both start from the compiled state."""
    if single:
        resync(group)
    stored = [to_storage(g, d) for g, d in zip(grads, group.dtypes)]
    inv_buf = None if inv_scale is None else np.array(inv_scale, np.float32)
    found_buf = None if found_inf is None else np.array(1.0 if found_inf else 0.0,
                                                        np.float32)
    compiled([C.address(p) for p in group.params], [C.address(g) for g in stored],
             [C.address(m) for m in group.moments], C.address(group.stats),
             C.address(group.counts), C.address(group.steps), lr, wd,
             None if inv_buf is None else C.address(inv_buf),
             None if found_buf is None else C.address(found_buf))
    reference_step(group, optimizer, cfg, stored, lr, wd, inv_scale, found_inf)


def reference_step(group: Group, optimizer, cfg, stored, lr, wd, inv_scale,
                   found_inf):
    """The reference's step on the gradients `stored` (storage dtypes)."""
    group.before = list(group.ref_params) + [
        m for state in group.ref_opt for m in state.moments]
    ref_grads = [to_f64(g, d) for g, d in zip(stored, group.dtypes)]
    ref_inv = None if inv_scale is None else float(np.float32(inv_scale))
    (group.ref_params, group.ref_gs, group.ref_opt, skipped) = R.group_step(
        group.ref_params, ref_grads, group.ref_gs, group.ref_opt, optimizer, cfg,
        lr, wd, inv_scale=ref_inv, found_inf=bool(found_inf))
    group.ref_skipped_steps += int(skipped)


def compare(group: Group, rtol: float, label: str, atol: float = 0.0):
    """Checks params, moments and GS / optimizer state against the reference.

    An element's error is measured relative to |old value| + |change| of the
    last step, with a floor of `FLOOR` times the tensor's largest magnitude:
    `p - lr*u` or `beta*m + (1-beta)*g` with a result much smaller than its
    terms loses digits in any f32 evaluation, and that is not an error of the
    step. Bound: |got - want| <= rtol * max(|want|, |old| + |want - old|)
    + FLOOR * max|want| + atol.
    """
    def check(name, got, want, tol, abs_tol, before=None):
        got = np.asarray(got, np.float64)
        want = np.asarray(want, np.float64)
        same_nan = np.isnan(got) == np.isnan(want)
        assert same_nan.all(), f"{label}: {name}: NaN pattern differs"
        finite = ~np.isnan(want)
        err = np.abs(got[finite] - want[finite])
        scale = np.abs(want)
        if before is not None:
            old = np.broadcast_to(before, want.shape)
            scale = np.maximum(scale, np.abs(old) + np.abs(want - old))
        largest = np.max(np.abs(want[finite]), initial=0.0)
        bound = tol * scale[finite] + FLOOR * largest + abs_tol
        bad = err > bound
        assert not bad.any(), (
            f"{label}: {name}: {int(bad.sum())} of {err.size} elements off; worst "
            f"got {got[finite][bad][0]!r} want {want[finite][bad][0]!r}")

    m = len(group.ref_opt[0].moments)
    n = len(group.dtypes)
    before = group.before or [None] * (n + n * m)
    for i, dtype in enumerate(group.dtypes):
        tol = max(rtol, 2 * ULP[dtype])
        tiny = atol + TINY[dtype]
        check(f"param {i}", to_f64(group.params[i], dtype), group.ref_params[i], tol,
              tiny, before[i])
        for j in range(m):
            check(f"moment {j} of param {i}", to_f64(group.moments[i * m + j], dtype),
                  group.ref_opt[i].moments[j], tol, tiny, before[n + i * m + j])
        state = group.ref_gs[i]
        check(f"m of param {i}", group.stats[i, 0], state.m, 1e-12, 0.0)
        check(f"v of param {i}", group.stats[i, 1], state.v, 1e-12, 0.0)
        assert group.counts[i, 0] == state.k, f"{label}: k of param {i}"
        assert group.counts[i, 1] == state.skipped, f"{label}: skipped of param {i}"
        assert group.steps[i] == group.ref_opt[i].step, f"{label}: step of param {i}"


# --- gs.multi_tensor_step ------------------------------------------------------
#
# One compiled step for any number of tensors of one element type: the tensors
# are rows of a run-time table of addresses, so the same module runs every
# group below.


def hyperparameters(optimizer) -> list:
    """`optimizer`'s run-time hyperparameters, in the order of its attribute's
    getHyperparameterNames."""
    if isinstance(optimizer, R.Lion):
        return [optimizer.beta1, optimizer.beta2]
    if isinstance(optimizer, R.Adam):  # and AdamW
        return [optimizer.beta1, optimizer.beta2, optimizer.eps]
    if optimizer.momentum == 0.0:
        return []
    return [optimizer.momentum, optimizer.dampening]


RECORD_WORDS = 16


def multi_tensor_module(opt_name, cfg, dtype, chunk_size, inv_scale=False,
                        found_inf=False, phases=("all",),
                        bias_corrections=False) -> str:
    """`func.func @step` over the memrefs of a gs.multi_tensor_step (dynamic
    sizes), one op per entry of `phases`; with `bias_corrections` Adam's two
    bias corrections end `hyper`."""
    attr, factory = OPTIMIZERS[opt_name]
    optimizer = factory()
    width = 3 + len(optimizer.moment_names())
    hyper = 5 + len(hyperparameters(optimizer)) + 2 * int(bias_corrections)
    args = [("table", f"?x{width}xi64"), ("co", "?xi64"), ("hyper", f"{hyper}xf64"),
            ("stats", "?x2xf64"), ("counts", "?x2xi64"), ("steps", "?xi64"),
            ("partials", "?xf64"), ("records", "?xf32")]
    if inv_scale:
        args.append(("inv", "f32"))
    if found_inf:
        args.append(("found", "f32"))
    ty = dict(args)
    ops = []
    for phase in phases:
        extra = "" if phase == "all" else f", phase = #gs.phase<{phase}>"
        if bias_corrections:
            extra += ", bias_corrections"
        element = C.ELEMENT_TYPES[dtype]
        ops.append(
            f"  gs.multi_tensor_step {attr} config {stabilizer_attr(cfg)}\n"
            f"      table(%table : memref<{ty['table']}>)\n"
            f"      chunk_offsets(%co : memref<?xi64>)\n"
            f"      hyper(%hyper : memref<{ty['hyper']}>)\n"
            f"      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)\n"
            f"      steps(%steps : memref<?xi64>)\n"
            f"      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)\n"
            + ("      inv_scale(%inv : memref<f32>)\n" if inv_scale else "")
            + ("      found_inf(%found : memref<f32>)\n" if found_inf else "")
            + f"      {{element_type = {element}, "
            f"chunk_size = {chunk_size} : i64{extra}}}")
    signature = ", ".join(f"%{name}: memref<{t}>" for name, t in args)
    return (f"func.func @step({signature}) {{\n" + "\n".join(ops)
            + "\n  return\n}\n")


class MultiTensorStep:
    """A gs.multi_tensor_step compiled for `target` ("cpu" or
    "gpu-emulator"; TARGET by default), called on NumPy arrays through the
    memref descriptor ABI (allocated and aligned pointer, offset, sizes,
    strides per array)."""

    def __init__(self, opt_name, cfg, dtype, chunk_size, inv_scale=False,
                 found_inf=False, kernel_options=None, phases=("all",), target=None,
                 bias_corrections=False):
        target = TARGET if target is None else target
        if kernel_options is None:
            kernel_options = KERNEL_OPTIONS if target != "cpu" else ""
        self.chunk_size = chunk_size
        self.inv_scale, self.found_inf = inv_scale, found_inf
        self.module = multi_tensor_module(opt_name, cfg, dtype, chunk_size, inv_scale,
                                          found_inf, phases, bias_corrections)
        self._runtime = None if target == "cpu" else C.gpu_emulator()
        pipeline = ("gs-to-llvm" if target == "cpu"
                    else f"gs-to-gpu-emulator{{{kernel_options}}}")
        self._binding = C.capi()
        self._executable = self._binding.jit(self.module, pipeline)
        address = self._binding.lib.gsExecutableLookup(self._executable, b"step")
        ranks = [2, 1, 1, 2, 2, 1, 1, 1] + [0] * (int(inv_scale) + int(found_inf))
        argtypes = []
        for rank in ranks:
            # Allocated and aligned pointers, offset, sizes, strides.
            argtypes += [ctypes.c_void_p] * 2 + [ctypes.c_int64] * (1 + 2 * rank)
        self._function = ctypes.CFUNCTYPE(None, *argtypes)(address)

    def __del__(self):
        if getattr(self, "_executable", None):
            self._binding.lib.gsExecutableDestroy(self._executable)

    def __call__(self, arrays):
        args = []
        for array in arrays:
            assert array.flags.c_contiguous
            args += [array.ctypes.data, array.ctypes.data, 0, *array.shape,
                     *(s // array.itemsize for s in array.strides)]
        if self._runtime is None:
            self._function(*args)
            return
        self._runtime.clear_error()
        self._function(*args)
        error = self._runtime.last_error()
        if error:
            raise RuntimeError(f"GPU step failed: {error}")


def multi_tensor_step(compiled: MultiTensorStep, group: Group, optimizer, cfg, grads,
                      lr, wd, inv_scale=None, found_inf=None, single=True,
                      bias_corrections=()):
    """`step` through a gs.multi_tensor_step: builds the table of addresses,
    the chunk offsets (prefix sums of ceil(numel / chunk)), the
    hyperparameters (`bias_corrections` appended) and the scratch, then runs
    it and the reference."""
    if single:
        resync(group)
    stored = [to_storage(g, d) for g, d in zip(grads, group.dtypes)]
    n = len(group.params)
    m = len(group.moments) // n
    table = np.array([[p.size, p.ctypes.data, g.ctypes.data]
                      + [group.moments[i * m + j].ctypes.data for j in range(m)]
                      for i, (p, g) in enumerate(zip(group.params, stored))],
                     np.int64).reshape(n, 3 + m)
    chunks = [-(-p.size // compiled.chunk_size) for p in group.params]
    offsets = np.concatenate([[0], np.cumsum(chunks)]).astype(np.int64)
    hyper = np.array([lr, wd, cfg.gamma1, cfg.gamma2, cfg.eps]
                     + hyperparameters(optimizer) + list(bias_corrections), np.float64)
    # Scratch, poisoned: nothing may read what a step did not write.
    partials = np.full(max(int(offsets[-1]), 1), np.nan)
    records = np.full(n * RECORD_WORDS, np.nan, np.float32)
    arrays = [table, offsets, hyper, group.stats, group.counts, group.steps,
              partials, records]
    if compiled.inv_scale:
        arrays.append(np.array(inv_scale, np.float32))
    if compiled.found_inf:
        arrays.append(np.array(1.0 if found_inf else 0.0, np.float32))
    compiled(arrays)
    reference_step(group, optimizer, cfg, stored, lr, wd,
                   inv_scale if compiled.inv_scale else None,
                   found_inf if compiled.found_inf else None)
