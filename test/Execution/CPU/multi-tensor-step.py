# RUN: %python %s | FileCheck %s
# gs.multi_tensor_step through convert-gs-to-loops (gs-to-llvm): one compiled
# step per optimizer and dtype runs tables of any size against the float64
# reference, with a loss scale, found_inf and the phases as separate ops.
# (test/Execution/GPUEmulator/multi-tensor-step.py runs the GPU kernels.)
import numpy as np

import gs_harness as H
from gradient_stabilizer import reference as R

CHUNK = 512
SHAPES = [(70001,), (0,), (33, 17), (5,), (4096,), ()]
cfg = R.GSConfig(gamma1=0.5, gamma2=0.99)
rng = np.random.default_rng(23)
# Per step: (inv_scale, found_inf); the last step has a NaN under a loss scale.
AMP = [(0.5, False), (0.5, True), (0.25, False), (0.25, False)]


def run(opt_name, dtype, shapes=SHAPES, compiled=None, phases=("all",)):
    optimizer = H.OPTIMIZERS[opt_name][1]()
    if compiled is None:
        compiled = H.MultiTensorStep(opt_name, cfg, dtype, CHUNK, inv_scale=True,
                                     found_inf=True, phases=phases, target="cpu")
    group = H.make_group(shapes, [dtype] * len(shapes), optimizer,
                         np.random.default_rng(5))
    for k, (inv_scale, found_inf) in enumerate(AMP):
        grads = [rng.standard_normal(s) * rng.uniform(0.1, 10) for s in shapes]
        if k == len(AMP) - 1:
            grads[0].flat[3] = np.nan
        H.multi_tensor_step(compiled, group, optimizer, cfg, grads, 1e-2, 0.1,
                            inv_scale=inv_scale, found_inf=found_inf)
        H.compare(group, 1e-6, f"{opt_name} {dtype} step {k}")
    return group


for opt_name, dtype in [("adamw", "f32"), ("adamw", "bf16"), ("sgd_momentum", "f32"),
                        ("lion", "bf16"), ("adam_amsgrad", "f16")]:
    group = run(opt_name, dtype)
    print(f"ok {opt_name} {dtype} steps={group.steps.tolist()}")
# CHECK: ok adamw f32 steps=[2, 2, 2, 2, 2, 2]
# CHECK: ok adamw bf16 steps=[2, 2, 2, 2, 2, 2]
# CHECK: ok sgd_momentum f32 steps=[2, 2, 2, 2, 2, 2]
# CHECK: ok lion bf16 steps=[2, 2, 2, 2, 2, 2]
# CHECK: ok adam_amsgrad f16 steps=[2, 2, 2, 2, 2, 2]

shared = H.MultiTensorStep("adamw", cfg, "f32", CHUNK, inv_scale=True, found_inf=True,
                           target="cpu")
for picks in [[0, 1, 2, 3, 4, 5], [4], [3, 1, 0]]:
    run("adamw", "f32", shapes=[SHAPES[i] for i in picks], compiled=shared)
print("ok one compiled step for 6, 1 and 3 tensors")
# CHECK: ok one compiled step for 6, 1 and 3 tensors

run("adamw", "f32", phases=("norms", "scalars", "update"))
print("ok phases as separate ops")
# CHECK: ok phases as separate ops
