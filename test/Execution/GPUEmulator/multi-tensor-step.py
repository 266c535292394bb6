# RUN: %python %s | FileCheck %s
# gs.multi_tensor_step through the generic GPU kernels (gs-to-gpu-emulator):
# one compiled step per (optimizer, dtype, options) runs any table of
# tensors, read at run time, against the float64 reference:
# - AdamW f32 and bf16, SGD with momentum, Lion, AMSGrad f16; tensors of many
#   chunks, an empty one, a scalar; inv_scale and found_inf (a found_inf step
#   and a NaN under a loss scale skip everything); on_nonfinite policies;
# - the same compiled step on groups of other sizes, and on 151 tensors;
# - bitwise the same results for any grid size (max-blocks), under the
#   reverse thread order, with the phases as separate ops, and with
#   misaligned buffers (the element-wise path).
import os

import numpy as np

import gs_harness as H
from gradient_stabilizer import reference as R

CHUNK = 512
# 137 chunks, none, 2, 1, 8 and 1.
SHAPES = [(70001,), (0,), (33, 17), (5,), (4096,), ()]
rng = np.random.default_rng(17)
GRADS = [[rng.standard_normal(s) * rng.uniform(0.1, 10) for s in SHAPES]
         for _ in range(4)]
# Per step: (inv_scale, found_inf, a NaN in the first tensor).
AMP = [(0.5, False, False), (0.5, True, False), (0.25, False, False),
       (0.25, False, True)]


def run(opt_name, dtype, options, cfg=R.GSConfig(gamma1=0.5, gamma2=0.99),
        shapes=SHAPES, grads=GRADS, amp=True, phases=("all",), schedule="forward",
        misaligned=False, compiled=None):
    """Final state after len(grads) steps, checked against the reference at
    every step."""
    os.environ["GS_GPU_EMULATOR_SCHEDULE"] = schedule
    optimizer = H.OPTIMIZERS[opt_name][1]()
    if compiled is None:
        compiled = H.MultiTensorStep(opt_name, cfg, dtype, CHUNK, inv_scale=amp,
                                     found_inf=amp, kernel_options=options,
                                     phases=phases, target="gpu-emulator")
    group = H.make_group(shapes, [dtype] * len(shapes), optimizer,
                         np.random.default_rng(5))
    if misaligned:
        group.params = [misaligned_copy(p) for p in group.params]
        group.moments = [misaligned_copy(m) for m in group.moments]
    for k, step_grads in enumerate(grads):
        step_grads = [g.copy() for g in step_grads]
        inv_scale, found_inf, nan = AMP[k % len(AMP)] if amp else (None, None, False)
        if nan:
            step_grads[0].flat[3] = np.nan
        H.multi_tensor_step(compiled, group, optimizer, cfg, step_grads, 1e-2, 0.1,
                            inv_scale=inv_scale, found_inf=found_inf)
        H.compare(group, 1e-6, f"{opt_name} {dtype} {options} step {k}")
    return [np.array(x) for x in group.params + group.moments] + [
        group.stats.copy(), group.counts.copy(), group.steps.copy()]


def misaligned_copy(array):
    """`array` copied to an address 2 bytes past a 16-byte boundary."""
    raw = np.zeros(array.nbytes + 32, np.uint8)
    start = (-raw.ctypes.data) % 16 + 2
    view = raw[start:start + array.nbytes].view(array.dtype).reshape(array.shape)
    view[...] = array
    return view


def same_bits(a, b):
    return len(a) == len(b) and all(x.tobytes() == y.tobytes() for x, y in zip(a, b))


for opt_name, dtype in [("adamw", "f32"), ("adamw", "bf16"), ("sgd_momentum", "f32"),
                        ("lion", "bf16"), ("adam_amsgrad", "f16")]:
    final = run(opt_name, dtype, "max-blocks=5")
    steps, skipped = final[-1], final[-2][:, 1]
    print(f"ok {opt_name} {dtype} steps={steps.tolist()}")
# Two of four steps skipped whole (found_inf, then a NaN under a loss scale).
# CHECK: ok adamw f32 steps=[2, 2, 2, 2, 2, 2]
# CHECK: ok adamw bf16 steps=[2, 2, 2, 2, 2, 2]
# CHECK: ok sgd_momentum f32 steps=[2, 2, 2, 2, 2, 2]
# CHECK: ok lion bf16 steps=[2, 2, 2, 2, 2, 2]
# CHECK: ok adam_amsgrad f16 steps=[2, 2, 2, 2, 2, 2]

# Without a loss scale a NaN only touches its tensor, as each policy says (the
# empty tensor's zero gradient is skipped at every step).
for policy in ["skip", "zero", "passthrough"]:
    cfg = R.GSConfig(on_nonfinite=policy)
    nan_grads = [[g.copy() for g in step] for step in GRADS[:2]]
    nan_grads[1][0].flat[7] = np.nan
    final = run("adamw", "f32", "max-blocks=4", cfg=cfg, grads=nan_grads, amp=False)
    print(f"ok {policy} skipped={final[-2][:, 1].tolist()}")
# CHECK: ok skip skipped=[1, 2, 0, 0, 0, 0]
# CHECK: ok zero skipped=[1, 2, 0, 0, 0, 0]
# CHECK: ok passthrough skipped=[1, 2, 0, 0, 0, 0]

# One compiled step, three groups: the kernels read N from the table.
cfg = R.GSConfig(gamma1=0.5, gamma2=0.99)
shared = H.MultiTensorStep("adamw", cfg, "bf16", CHUNK, inv_scale=True, found_inf=True,
                           kernel_options="max-blocks=7", target="gpu-emulator")
for picks in [[0, 1, 2, 3, 4, 5], [4], [3, 1, 0]]:
    run("adamw", "bf16", "", shapes=[SHAPES[i] for i in picks],
        grads=[[step[i] for i in picks] for step in GRADS], compiled=shared)
print("ok one compiled step for 6, 1 and 3 tensors")
# CHECK: ok one compiled step for 6, 1 and 3 tensors

for dtype in ["f32", "bf16"]:
    base = run("adamw", dtype, "max-blocks=1024")
    for blocks in [1, 3, 64]:
        assert same_bits(run("adamw", dtype, f"max-blocks={blocks}"), base), blocks
    assert same_bits(run("adamw", dtype, "max-blocks=1024", schedule="reverse"), base)
    assert same_bits(run("adamw", dtype, "max-blocks=3",
                         phases=("norms", "scalars", "update")), base)
    assert same_bits(run("adamw", dtype, "max-blocks=64", misaligned=True), base)
    print(f"ok {dtype} bitwise equal: max-blocks 1 to 1024, reverse order, phases, "
          "misaligned")
# CHECK: ok f32 bitwise equal: max-blocks 1 to 1024, reverse order, phases, misaligned
# CHECK: ok bf16 bitwise equal: max-blocks 1 to 1024, reverse order, phases, misaligned

# Many tensors: a warp's tensors in the scalars kernel come in tiles of 32,
# several tiles per warp here (one warp of 32 threads, or two).
MANY = [(int(n),) for n in rng.integers(0, 700, 150)] + [(1500,)]
many_grads = [[rng.standard_normal(s) for s in MANY] for _ in range(2)]
for options in ["block-size=32 max-blocks=7", "block-size=64 max-blocks=1"]:
    run("lion", "f32", options, shapes=MANY, grads=many_grads)
print(f"ok {len(MANY)} tensors")
# CHECK: ok 151 tensors

# Other block sizes sum in another order but agree with the reference.
for options in ["block-size=32 max-blocks=2", "block-size=1024 max-blocks=2"]:
    run("sgd_momentum", "f32", options)
print("ok block sizes 32 and 1024")
# CHECK: ok block sizes 32 and 1024
