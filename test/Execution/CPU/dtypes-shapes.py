# RUN: %python %s | FileCheck %s
# Single steps of every dtype on 0-d, size-1, odd-sized, vector-multiple and
# >= 10^6-element tensors, in one group, against the float64 reference: f32
# agrees to 1e-6 relative per element; f16 / bf16 to two units of their last
# place (the results are rounded to them).
import numpy as np

import gs_harness as H
from gradient_stabilizer import reference as R

SHAPES = [(), (1,), (7,), (33,), (4, 8), (3, 5, 7), (1 << 20 | 3,)]
rng = np.random.default_rng(1)
cases = 0
for dtype in ["f32", "f16", "bf16"]:
    for bias_correction in [True, False]:
        cfg = R.GSConfig(bias_correction=bias_correction)
        optimizer = R.AdamW()
        compiled = H.compile_step(SHAPES, [dtype] * len(SHAPES), "adamw", cfg)
        group = H.make_group(SHAPES, [dtype] * len(SHAPES), optimizer, rng)
        for k in range(3):
            grads = [rng.standard_normal(s) * 10.0 ** rng.integers(-3, 3) for s in SHAPES]
            H.step(compiled, group, optimizer, cfg, grads, lr=1e-3 * (k + 1), wd=0.01)
            H.compare(group, 1e-6, f"{dtype} bias_correction={bias_correction} step {k}")
        cases += 1
        print(f"ok {dtype} bias_correction={bias_correction}")

# CHECK: ok f32 bias_correction=True
# CHECK: ok bf16 bias_correction=False
print(f"cases passed: {cases}")
# CHECK: cases passed: 6
