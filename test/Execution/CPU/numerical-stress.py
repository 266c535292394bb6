# RUN: %python %s | FileCheck %s
# Numerical stress of compiled steps: denormal, huge and empty gradients, a
# group of thousands of tensors, and 10^5 steps of the GS scalar state update
# (no drift to NaN or Inf; bias correction stays well behaved as k grows).
import math
import time

import numpy as np

import gs_harness as H
from gradient_stabilizer import _compiler as C
from gradient_stabilizer import reference as R

rng = np.random.default_rng(11)

# Denormal gradients: the f64 norm of subnormals is exact and nonzero, so the
# step applies (k advances) exactly as the reference does. Subnormals of each
# dtype, alone and next to the dtype's largest value.
SUBNORMAL = {"f32": 1e-40, "f16": 6e-8, "bf16": 1e-39}
LARGEST = {"f32": float(np.finfo(np.float32).max), "f16": 65504.0,
           "bf16": 3.3895313892515355e38}
SHAPES = [(37,), (4, 5)]
cfg = R.GSConfig()
for dtype in ["f32", "f16", "bf16"]:
    compiled = H.compile_step(SHAPES, [dtype] * 2, "adamw", cfg)
    group = H.make_group(SHAPES, [dtype] * 2, R.AdamW(), rng)
    for k in range(4):
        tiny = SUBNORMAL[dtype] * rng.choice([-1.0, 1.0], size=SHAPES[0])
        mixed = rng.standard_normal(SHAPES[1]) * SUBNORMAL[dtype]
        if k % 2:
            mixed.flat[3] = LARGEST[dtype]
        H.step(compiled, group, R.AdamW(), cfg, [tiny, mixed], 1e-3, 0.01)
        H.compare(group, 1e-6, f"{dtype} denormal step {k}")
        assert np.isfinite(group.stats).all()
    assert group.counts[:, 0].tolist() == [4, 4], group.counts
    print(f"ok denormal {dtype}")
# CHECK: ok denormal f32
# CHECK: ok denormal f16
# CHECK: ok denormal bf16

# Huge gradients: every element of a 3000-element f16 tensor at 65504 (the
# f16 maximum) next to an f32 one at 3.4e38: finite state, norms <= B_k, and
# to 2 ulp of the reference (the f32 factor c/n, about 1e-41, is subnormal:
# it is split into 2^-64 and the rest, else only about 15 bits are left).
SHAPES = [(3000,), (50, 60)]
for dtype in ["f16", "f32"]:
    compiled = H.compile_step(SHAPES, [dtype] * 2, "sgd", cfg)
    group = H.make_group(SHAPES, [dtype] * 2, R.SGD(), rng, init=0.0)
    for k in range(1, 4):
        for p in group.params:
            p[...] = 0
        grads = [np.full(s, LARGEST[dtype] * (-1) ** k) for s in SHAPES]
        H.step(compiled, group, R.SGD(), cfg, grads, lr=1.0, wd=0.0)
        for p in group.params:
            stabilized = H.to_f64(p, dtype)
            assert np.isfinite(stabilized).all()
            bound = R.stabilization_bound(k, cfg.gamma1, cfg.gamma2)
            assert np.linalg.norm(stabilized) <= bound * (1 + 8 * H.ULP[dtype])
        H.compare(group, 0.0, f"{dtype} huge step {k}")
    print(f"ok huge {dtype} k={group.counts[0, 0]}")
# CHECK: ok huge f16 k=3
# CHECK: ok huge f32 k=3

# Empty tensors next to ordinary ones: norm 0, so the GS step is skipped
# (skipped += 1) but the optimizer still counts the step, as in the reference.
SHAPES = [(0,), (3, 0), (5,), (0, 4, 2)]
for opt_name in ["adamw", "sgd_momentum", "lion"]:
    optimizer = H.OPTIMIZERS[opt_name][1]()
    compiled = H.compile_step(SHAPES, ["f32"] * 4, opt_name, cfg)
    group = H.make_group(SHAPES, ["f32"] * 4, optimizer, rng)
    for k in range(3):
        grads = [rng.standard_normal(s) for s in SHAPES]
        H.step(compiled, group, optimizer, cfg, grads, 1e-2, 0.01)
        H.compare(group, 1e-6, f"{opt_name} empty step {k}")
    print(f"ok empty {opt_name} k={group.counts[:, 0].tolist()} "
          f"skipped={group.counts[:, 1].tolist()}")
# CHECK: ok empty adamw k=[0, 0, 3, 0] skipped=[3, 3, 0, 3]
# CHECK: ok empty sgd_momentum
# CHECK: ok empty lion

# Every tensor of a dtype empty (bf16, f16 here), and no elements at all: the
# GPU kernels have no loop for such a dtype (they used to fail to compile).
for shapes, dtypes in [([(0,), (3, 0), (5,), (0, 4, 2)], ["bf16", "bf16", "f32", "f16"]),
                       ([(0,), (3, 0)], ["f32", "bf16"])]:
    optimizer = H.OPTIMIZERS["adamw"][1]()
    compiled = H.compile_step(shapes, dtypes, "adamw", cfg)
    group = H.make_group(shapes, dtypes, optimizer, rng)
    for k in range(3):
        grads = [rng.standard_normal(s) for s in shapes]
        H.step(compiled, group, optimizer, cfg, grads, 1e-2, 0.01)
        H.compare(group, 1e-6, f"{dtypes} empty step {k}")
    print(f"ok empty dtypes {'+'.join(dtypes)} k={group.counts[:, 0].tolist()} "
          f"skipped={group.counts[:, 1].tolist()}")
# CHECK: ok empty dtypes bf16+bf16+f32+f16 k=[0, 0, 3, 0] skipped=[3, 3, 0, 3]
# CHECK: ok empty dtypes f32+bf16 k=[0, 0] skipped=[3, 3]

# Many tensors in one group: one gs.group_step of 250 small Adam tensors (the
# most one ctypes call can pass: 4 pointers each) compiles in acceptable time
# and matches the reference. Compile time grows faster than the group size
# (see docs/reliability.md); the package splits larger groups.
SHAPES = [(int(rng.integers(1, 40)),) for _ in range(250)]
start = time.perf_counter()
compiled = H.compile_step(SHAPES, ["f32"] * len(SHAPES), "adam", cfg)
compile_seconds = time.perf_counter() - start
group = H.make_group(SHAPES, ["f32"] * len(SHAPES), R.Adam(), rng)
for k in range(2):
    grads = [rng.standard_normal(s) * 10.0 ** rng.integers(-20, 20) for s in SHAPES]
    H.step(compiled, group, R.Adam(), cfg, grads, 1e-3, 0.0)
    H.compare(group, 1e-6, f"{len(SHAPES)} tensors step {k}")
print(f"ok group of {len(SHAPES)} tensors, compiled in {compile_seconds:.1f} s")
# CHECK: ok group of 250 tensors

# 10^5 steps of the scalar state update, driven through a compiled SGD step on
# a tiny tensor with lr = 1 and the parameter reset to 0, so the parameter is
# minus the stabilized gradient and its norm is c = mh / (sqrt(vh) + eps).
# The state is checked against float64 recurrences in Python, with zero
# gradients, NaNs and spikes of 1e30 mixed in.
STEPS = 100_000
for cfg in [R.GSConfig(), R.GSConfig(gamma1=0.0, gamma2=0.0),
            R.GSConfig(gamma1=0.99, gamma2=0.999999, eps=0.0)]:
    compiled = H.compile_step([(3,)], ["f32"], "sgd", cfg)
    param = np.zeros(3, np.float32)
    grad = np.zeros(3, np.float32)
    stats = np.zeros((1, 2))
    counts = np.zeros((1, 2), np.int64)
    steps = np.zeros(1, np.int64)
    addresses = ([C.address(param)], [C.address(grad)], [], C.address(stats),
                 C.address(counts), C.address(steps))
    m = v = 0.0
    k = skipped = nan_steps = 0
    worst = 0.0
    g1, g2 = cfg.gamma1, cfg.gamma2
    for i in range(STEPS):
        if i % 1000 == 999:
            grad[:] = 0.0
        elif i % 997 == 0:
            grad[:] = [1.0, np.nan, 2.0]
        elif i % 1009 == 0:
            grad[:] = [1e30, -1e30, 3e30]
        else:
            grad[:] = rng.standard_normal(3)
        param[:] = 0.0
        compiled(*addresses, 1.0, 0.0)
        n = float(np.linalg.norm(grad.astype(np.float64)))
        if not math.isfinite(n) or n == 0.0:
            skipped += 1
            nan_steps += not math.isfinite(n)
            continue
        k += 1
        m = g1 * m + (1 - g1) * n
        v = g2 * v + (1 - g2) * n * n
        bc1, bc2 = 1.0 - g1 ** k, 1.0 - g2 ** k
        assert 0.0 < bc1 <= 1.0 and 0.0 < bc2 <= 1.0, (k, bc1, bc2)
        c = (m / bc1) / (math.sqrt(v / bc2) + cfg.eps)
        got = float(np.linalg.norm(param.astype(np.float64)))
        assert math.isfinite(got) and abs(got - c) <= 1e-6 * c, (i, got, c)
        worst = max(worst, got / R.stabilization_bound(k, g1, g2))
    assert np.isfinite(stats).all(), stats
    assert counts.tolist() == [[k, skipped]], (counts, k, skipped)
    assert int(steps[0]) == STEPS - nan_steps, steps  # `skip` policy
    assert abs(stats[0, 0] - m) <= 1e-9 * m and abs(stats[0, 1] - v) <= 1e-9 * v, \
        (stats, m, v)
    assert worst <= 1 + 1e-6, worst
    print(f"ok {STEPS} steps gamma1={g1} gamma2={g2} k={k} skipped={skipped} "
          f"max c/B_k={worst:.3f}")
# CHECK: ok 100000 steps gamma1=0.6 gamma2=0.999 k=99799 skipped=201
# CHECK: ok 100000 steps gamma1=0.0 gamma2=0.0
# CHECK: ok 100000 steps gamma1=0.99 gamma2=0.999999
