# RUN: %python %s | FileCheck %s
# Non-finite and zero gradients under every policy (spec section 3), and the
# mixed-precision rules (spec section 4): found_inf and inv_scale.
import numpy as np

import gs_harness as H
from gradient_stabilizer import reference as R

SHAPES = [(19,), (4, 4), (3,)]
DTYPES = ["f32"] * 3
rng = np.random.default_rng(3)


def grads_with(bad, index):
    grads = [rng.standard_normal(s) for s in SHAPES]
    if bad is not None:
        grads[index].flat[1] = bad
    return grads


for policy in ["skip", "zero", "passthrough"]:
    for optimizer_name in ["adamw", "sgd_momentum"]:
        cfg = R.GSConfig(on_nonfinite=policy)
        optimizer = H.OPTIMIZERS[optimizer_name][1]()
        compiled = H.compile_step(SHAPES, DTYPES, optimizer_name, cfg)
        group = H.make_group(SHAPES, DTYPES, optimizer, rng)
        events = [None, np.nan, None, np.inf, -np.inf, 0.0, None]
        for k, bad in enumerate(events):
            grads = grads_with(bad, k % 3)
            if bad == 0.0:
                grads[2][:] = 0.0  # a zero gradient: skipped, but the step runs
            H.step(compiled, group, optimizer, cfg, grads, lr=0.01, wd=0.05)
            H.compare(group, 1e-6, f"{policy} {optimizer_name} step {k}")
            assert np.isfinite(group.stats).all(), "NaN or Inf reached m or v"
        print(f"ok {policy} {optimizer_name} skipped={group.counts[:, 1].tolist()}")
# CHECK: ok skip adamw skipped=[1, 2, 1]
# CHECK: ok skip sgd_momentum
# CHECK: ok zero adamw skipped=[1, 2, 1]
# CHECK: ok passthrough adamw skipped=[1, 2, 1]
# CHECK: ok passthrough sgd_momentum

# found_inf skips the whole step: nothing changes, no counter advances.
cfg = R.GSConfig()
optimizer = R.Adam()
compiled = H.compile_step(SHAPES, DTYPES, "adam", cfg, found_inf=True)
group = H.make_group(SHAPES, DTYPES, optimizer, rng)
H.step(compiled, group, optimizer, cfg, grads_with(None, 0), 0.01, 0.0, found_inf=False)
snapshot = [a.copy() for a in group.params + group.moments + [group.stats, group.counts, group.steps]]
H.step(compiled, group, optimizer, cfg, grads_with(None, 0), 0.01, 0.0, found_inf=True)
after = group.params + group.moments + [group.stats, group.counts, group.steps]
assert all(np.array_equal(a, b) for a, b in zip(snapshot, after)), "found_inf changed state"
H.compare(group, 1e-6, "found_inf")
print("ok found_inf")
# CHECK: ok found_inf

# inv_scale: scaled gradients give the unscaled result; a non-finite gradient
# skips the whole step (the step computes found_inf itself).
for with_found_inf in [False, True]:
    compiled = H.compile_step(SHAPES, DTYPES, "adamw", cfg, inv_scale=True,
                              found_inf=with_found_inf)
    group = H.make_group(SHAPES, DTYPES, R.AdamW(), rng)
    flag = False if with_found_inf else None
    for k, scale in enumerate([2.0 ** 16, 2.0 ** 10, 1.0, 2.0 ** -3]):
        grads = [g * scale for g in grads_with(None, 0)]
        H.step(compiled, group, R.AdamW(), cfg, grads, 0.01, 0.01, inv_scale=1.0 / scale,
               found_inf=flag)
        H.compare(group, 1e-6, f"inv_scale {scale}")
    snapshot = [a.copy() for a in group.params + [group.stats, group.counts, group.steps]]
    H.step(compiled, group, R.AdamW(), cfg, grads_with(np.inf, 1), 0.01, 0.01,
           inv_scale=1.0 / 1024, found_inf=flag)
    after = group.params + [group.stats, group.counts, group.steps]
    assert all(np.array_equal(a, b) for a, b in zip(snapshot, after)), "inf did not skip"
    assert group.ref_skipped_steps == 1
    H.compare(group, 1e-6, "inv_scale with inf")
    print(f"ok inv_scale found_inf={with_found_inf}")
# CHECK: ok inv_scale found_inf=False
# CHECK: ok inv_scale found_inf=True

# The same across element types: a group of f32, bf16 and f16 tensors is one
# step over one table, and a non-finite bf16 gradient under a loss scale
# skips the f32 and f16 tensors too.
MIXED = ["f32", "bf16", "f16"]
compiled = H.compile_step(SHAPES, MIXED, "adamw", cfg, inv_scale=True)
group = H.make_group(SHAPES, MIXED, R.AdamW(), rng)
for k, bad in enumerate([None, np.nan, None, np.inf]):
    grads = [g * 256.0 for g in grads_with(bad, 1)]
    snapshot = [a.copy() for a in group.params + [group.stats]]
    H.step(compiled, group, R.AdamW(), cfg, grads, 0.01, 0.01, inv_scale=1.0 / 256)
    skipped = all(np.array_equal(a, b) for a, b in zip(snapshot, group.params + [group.stats]))
    assert skipped == (bad is not None), f"mixed step {k}: skipped={skipped}"
    H.compare(group, 1e-6, f"mixed dtypes inv_scale step {k}")
print(f"ok mixed dtypes inv_scale skipped steps={group.ref_skipped_steps}")
# CHECK: ok mixed dtypes inv_scale skipped steps=2
