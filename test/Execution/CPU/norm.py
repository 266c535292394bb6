# RUN: %python %s | FileCheck %s
# The gradient norm (spec section 1): no overflow or underflow for any finite
# input and relative error <= 1e-6 against float64 for 2^27 elements. With
# gamma1 = 0 and no bias correction, m after a step is exactly the norm.
import numpy as np

import gs_harness as H
from gradient_stabilizer import reference as R

cfg = R.GSConfig(gamma1=0.0, bias_correction=False)


def compiled_norm(values, dtype):
    shape = values.shape
    compiled = H.compile_step([shape], [dtype], "sgd", cfg)
    group = H.make_group([shape], [dtype], R.SGD(), np.random.default_rng(0), init=0.0)
    grad = H.to_storage(values, dtype)
    # lr = 0: the parameters stay; only the GS state moves.
    compiled([H.C.address(group.params[0])], [H.C.address(grad)], [],
             H.C.address(group.stats), H.C.address(group.counts),
             H.C.address(group.steps), 0.0, 0.0)
    return group.stats[0, 0], np.linalg.norm(H.to_f64(grad, dtype))


def check(label, values, dtype, expected=None):
    got, want = compiled_norm(values, dtype)
    want = want if expected is None else expected
    rel = abs(got - want) / want
    assert np.isfinite(got) and rel <= 1e-6, f"{label}: got {got!r} want {want!r}"
    print(f"ok {label} rel={rel:.1e}")


check("f32 2^27 random", np.random.default_rng(5).standard_normal(1 << 27, np.float32),
      "f32")
# CHECK: ok f32 2^27 random
f32_max = float(np.finfo(np.float32).max)
check("f32 max everywhere", np.full(1 << 20, f32_max, np.float32), "f32",
      f32_max * 1024.0)
# CHECK: ok f32 max everywhere
check("f32 1e-30 everywhere", np.full(1 << 20, 1e-30, np.float32), "f32",
      float(np.float32(1e-30)) * 1024.0)
# CHECK: ok f32 1e-30 everywhere
check("f32 denormals", np.full(4099, 1e-45, np.float32), "f32",
      float(np.float32(1e-45)) * np.sqrt(4099.0))
# CHECK: ok f32 denormals
check("f16 max everywhere", np.full(1 << 16, 65504.0), "f16", 65504.0 * 256.0)
# CHECK: ok f16 max everywhere
check("bf16 max everywhere", np.full(1 << 16, 3.3895313892515355e38), "bf16",
      3.3895313892515355e38 * 256.0)
# CHECK: ok bf16 max everywhere
mixed = np.random.default_rng(6).standard_normal(100003) * 10.0 ** np.random.default_rng(
    7).integers(-30, 30, 100003)
check("f32 mixed magnitudes", mixed.astype(np.float32), "f32")
# CHECK: ok f32 mixed magnitudes
