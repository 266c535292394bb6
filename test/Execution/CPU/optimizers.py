# RUN: %python %s | FileCheck %s
# Every optimizer, with and without bias correction, f32 and bf16, over steps
# whose lr and weight decay change (a scheduler): each step agrees with the
# float64 reference started from the same state.
import numpy as np

import gs_harness as H
from gradient_stabilizer import reference as R

SHAPES = [(37,), (8, 16), ()]
rng = np.random.default_rng(2)
cases = 0
for name, (_, factory) in H.OPTIMIZERS.items():
    for dtype in ["f32", "bf16"]:
        for bias_correction in [True, False]:
            cfg = R.GSConfig(gamma1=0.5, gamma2=0.99, bias_correction=bias_correction)
            optimizer = factory()
            compiled = H.compile_step(SHAPES, [dtype] * 3, name, cfg)
            group = H.make_group(SHAPES, [dtype] * 3, optimizer, rng)
            for k in range(6):
                grads = [rng.standard_normal(s) for s in SHAPES]
                lr, wd = 0.05 / (k + 1), 0.1 * (k % 3)
                H.step(compiled, group, optimizer, cfg, grads, lr, wd)
                H.compare(group, 1e-6, f"{name} {dtype} bc={bias_correction} step {k}")
            cases += 1
    print(f"ok {name}")

# CHECK: ok sgd
# CHECK: ok sgd_momentum
# CHECK: ok sgd_dampening
# CHECK: ok sgd_nesterov
# CHECK: ok adam
# CHECK: ok adam_amsgrad
# CHECK: ok adamw
# CHECK: ok adamw_amsgrad
# CHECK: ok lion
print(f"cases passed: {cases}")
# CHECK: cases passed: 36
