# RUN: %python %s | FileCheck %s
# A group of many tensors of mixed sizes, and 1000-step runs compared with the
# float64 reference without resynchronizing (accumulated f32 rounding only).
import numpy as np

import gs_harness as H
from gradient_stabilizer import reference as R

rng = np.random.default_rng(8)

# 200 tensors, sizes 1 .. 5000, shapes of rank 0 to 3.
shapes = []
for i in range(200):
    n = int(rng.integers(1, 5000))
    shapes.append([(), (n,), (n // 7 + 1, 7), (2, 3, n // 6 + 1)][i % 4])
cfg = R.GSConfig()
compiled = H.compile_step(shapes, ["f32"] * len(shapes), "adamw", cfg)
group = H.make_group(shapes, ["f32"] * len(shapes), R.AdamW(), rng)
for k in range(3):
    grads = [rng.standard_normal(s) * rng.uniform(0.01, 100) for s in shapes]
    H.step(compiled, group, R.AdamW(), cfg, grads, 1e-3, 0.01)
    H.compare(group, 1e-6, f"200 tensors step {k}")
print(f"ok group of {len(shapes)} tensors")
# CHECK: ok group of 200 tensors

# 1000 steps; spikes every 97 steps.
SHAPES = [(300,), (20, 20)]
for name in ["adamw", "sgd_nesterov", "lion"]:
    optimizer = H.OPTIMIZERS[name][1]()
    compiled = H.compile_step(SHAPES, ["f32"] * 2, name, cfg)
    group = H.make_group(SHAPES, ["f32"] * 2, optimizer, rng)
    for k in range(1000):
        grads = [rng.standard_normal(s) for s in SHAPES]
        if k % 97 == 0:
            grads[0] *= 1e6
        lr = 1e-3 * 0.5 * (1 + np.cos(np.pi * k / 1000))
        H.step(compiled, group, optimizer, cfg, grads, lr, 0.01, single=False)
    # Counters and the GS EMAs depend only on the gradients: exact / 1e-12.
    # Parameters carry 1000 steps of f32 rounding.
    H.compare(group, 1e-4, f"{name} 1000 steps", atol=1e-6)
    print(f"ok {name} 1000 steps k={group.counts[0, 0]}")
# CHECK: ok adamw 1000 steps k=1000
# CHECK: ok sgd_nesterov 1000 steps k=1000
# CHECK: ok lion 1000 steps k=1000
