# RUN: %python %s | FileCheck %s
# Gradient spikes of every magnitude up to the largest f32 in every element
# (spec section 1): the stabilized gradient stays finite with norm <= B_k, m
# and v stay finite, and ordinary steps follow. SGD with lr = 1 on parameters
# reset to zero makes the new parameter exactly minus the stabilized gradient.
import numpy as np

import gs_harness as H
from gradient_stabilizer import reference as R

SHAPES = [(1000,), (17,)]
rng = np.random.default_rng(4)
# The largest finite value of each dtype (bf16 rounds f32's maximum to Inf).
LARGEST = {"f32": float(np.finfo(np.float32).max), "bf16": 3.3895313892515355e38}
for dtype in ["f32", "bf16"]:
    TOP = LARGEST[dtype]
    for bias_correction in [True, False]:
        cfg = R.GSConfig(bias_correction=bias_correction)
        compiled = H.compile_step(SHAPES, [dtype] * 2, "sgd", cfg)
        group = H.make_group(SHAPES, [dtype] * 2, R.SGD(), rng, init=0.0)
        magnitudes = [1.0] * 5 + [10.0 ** e for e in range(1, 39)] + [TOP] + [1.0] * 5
        worst = 0.0
        for k, size in enumerate(magnitudes, start=1):
            for p in group.params:
                p[...] = 0
            grads = [rng.standard_normal(s) for s in SHAPES]
            if size == TOP:
                grads[0] = np.full(SHAPES[0], TOP)  # every element at the max
            else:
                grads[0] = np.clip(grads[0] * size, -TOP, TOP)
            H.step(compiled, group, R.SGD(), cfg, grads, lr=1.0, wd=0.0)
            stabilized = -H.to_f64(group.params[0], dtype)
            norm = float(np.linalg.norm(stabilized))
            bound = R.stabilization_bound(k, cfg.gamma1, cfg.gamma2, bias_correction)
            assert np.isfinite(stabilized).all(), f"non-finite g~ at {size:g}"
            assert norm <= bound * (1 + 8 * H.ULP[dtype]), f"{norm} > B_{k} = {bound}"
            assert np.isfinite(group.stats).all(), "m or v not finite"
            H.compare(group, 1e-6, f"{dtype} spike {size:g}")
            worst = max(worst, norm / bound)
        assert group.counts[0, 0] == len(magnitudes)
        print(f"ok {dtype} bias_correction={bias_correction} max ||g~||/B_k={worst:.3f}")
# CHECK: ok f32 bias_correction=True
# CHECK: ok f32 bias_correction=False
# CHECK: ok bf16 bias_correction=True
# CHECK: ok bf16 bias_correction=False
