# RUN: %python %s | FileCheck %s
# Adam's bias corrections given as values (gs.multi_tensor_step's
# bias_corrections, the end of `hyper`): the generic CPU loops and the GPU
# kernels (under the emulator) step with them, not with 1 - beta^t of the
# step table. The table holds a counter the bias corrections do not come
# from (1000 + k), so a step that computed them from it would not match the
# float64 reference, which steps with t = k + 1, the t of the given values;
# the table still advances by one per step. AdamW f32 and Adam bf16 over
# tensors of many chunks, an empty one and a scalar; the third step has a
# NaN in the first tensor (skipped there, its count stays).
import numpy as np

import gs_harness as H
from gradient_stabilizer import reference as R

CHUNK = 512
SHAPES = [(3001,), (0,), (33, 17), ()]
rng = np.random.default_rng(23)
GRADS = [[rng.standard_normal(s) * rng.uniform(0.1, 10) for s in SHAPES]
         for _ in range(3)]
COUNTER = 1000

for target in ("cpu", "gpu-emulator"):
    for opt_name, dtype in (("adamw", "f32"), ("adam", "bf16")):
        optimizer = H.OPTIMIZERS[opt_name][1]()
        cfg = R.GSConfig(gamma1=0.5, gamma2=0.99)
        compiled = H.MultiTensorStep(opt_name, cfg, dtype, CHUNK, target=target,
                                     bias_corrections=True)
        group = H.make_group(SHAPES, [dtype] * len(SHAPES), optimizer,
                             np.random.default_rng(5))
        for k, step_grads in enumerate(GRADS):
            step_grads = [g.copy() for g in step_grads]
            if k == 2:
                step_grads[0].flat[3] = np.nan
            H.resync(group)
            counts = group.steps.copy()
            t = k + 1
            bcs = [1.0 - optimizer.beta1 ** t, 1.0 - optimizer.beta2 ** t]
            group.steps[:] = COUNTER + k
            H.multi_tensor_step(compiled, group, optimizer, cfg, step_grads, 1e-2,
                                0.1, single=False, bias_corrections=bcs)
            stepped = group.steps - (COUNTER + k)
            assert set(stepped.tolist()) <= {0, 1}, stepped
            group.steps[:] = counts + stepped
            H.compare(group, 1e-6, f"{target} {opt_name} {dtype} step {k}")
        print(f"ok {target} {opt_name} {dtype} steps={group.steps.tolist()}")

# CHECK: ok cpu adamw f32 steps=[2, 3, 3, 3]
# CHECK: ok cpu adam bf16 steps=[2, 3, 3, 3]
# CHECK: ok gpu-emulator adamw f32 steps=[2, 3, 3, 3]
# CHECK: ok gpu-emulator adam bf16 steps=[2, 3, 3, 3]
