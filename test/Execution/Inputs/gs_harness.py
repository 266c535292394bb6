"""Runs compiled GradientStabilizer steps next to the float64 reference.

Used by the execution tests: a `Case` describes one parameter group (shapes,
dtypes, optimizer, configuration); `run` drives the compiled step and the
reference through the same gradients and returns both final states.
"""

from __future__ import annotations

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


# The compiler target of the tests: "cpu" (default) or "gpu-emulator", which
# runs the GPU kernels on the CPU; GS_TEST_KERNEL_OPTIONS adds gs-to-nvvm
# options (chunk-size, block-size, max-blocks) to it.
TARGET = os.environ.get("GS_TEST_TARGET", "cpu")
KERNEL_OPTIONS = os.environ.get("GS_TEST_KERNEL_OPTIONS", "")


def compile_step(shapes, dtypes, opt_name, cfg, inv_scale=False, found_inf=False,
                 target=None, kernel_options=None):
    attr, factory = OPTIMIZERS[opt_name]
    target = TARGET if target is None else target
    if kernel_options is None:
        kernel_options = KERNEL_OPTIONS if target != "cpu" else ""
    sig = C.StepSignature(shapes=tuple(tuple(s) for s in shapes), dtypes=tuple(dtypes),
                          optimizer=attr, num_moments=len(factory().moment_names()),
                          stabilizer=stabilizer_attr(cfg), inv_scale=inv_scale,
                          found_inf=found_inf, target=target,
                          kernel_options=kernel_options)
    return C.CompiledStep(sig)


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
