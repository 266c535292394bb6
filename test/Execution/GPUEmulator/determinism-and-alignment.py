# Heavy for instrumented fibers; the sanitized run covers the emulator with
# optimizers.test, nonfinite.test and test/Runtime/gpu-emulator.test.
# UNSUPPORTED: sanitized
# RUN: %python %s | FileCheck %s
# Properties of the GPU kernels themselves, run by the emulator:
# - the results are bitwise the same whatever the grid size (max-blocks) and
#   whatever order the threads of a block run in: no reduction depends on
#   which block handles a chunk, and no thread reads shared memory another
#   has not yet written (a missing barrier shows under one of the orders);
# - other block sizes sum in another order but agree with the reference;
# - buffers that are not 16-byte aligned take the element-wise path and give
#   the same bits as aligned ones.
import os

import numpy as np

import gs_harness as H
from gradient_stabilizer import reference as R

SHAPES = [(70001,), (33, 17), (), (5,), (4096,)]
DTYPES = ["f32", "bf16", "f32", "f16", "bf16"]
cfg = R.GSConfig(gamma1=0.5, gamma2=0.99)
STEPS = 3
rng = np.random.default_rng(21)
GRADS = [[rng.standard_normal(s) * rng.uniform(0.1, 10) for s in SHAPES]
         for _ in range(STEPS)]


def misaligned_copy(array):
    """`array` copied to an address 4 bytes past a 16-byte boundary."""
    raw = np.zeros(array.nbytes + 32, np.uint8)
    start = (-raw.ctypes.data) % 16 + 4
    view = raw[start:start + array.nbytes].view(array.dtype).reshape(array.shape)
    view[...] = array
    return view


def run(options, schedule="forward", misaligned=False):
    """Final params, moments and GS state after STEPS steps from the same
    start, and whether every step matched the reference."""
    os.environ["GS_GPU_EMULATOR_SCHEDULE"] = schedule
    compiled = H.compile_step(SHAPES, DTYPES, "adamw", cfg, target="gpu-emulator",
                              kernel_options=options)
    group = H.make_group(SHAPES, DTYPES, R.AdamW(), np.random.default_rng(5))
    if misaligned:
        group.params = [misaligned_copy(p) for p in group.params]
        group.moments = [misaligned_copy(m) for m in group.moments]
    for k, grads in enumerate(GRADS):
        H.step(compiled, group, R.AdamW(), cfg, grads, 1e-2, 0.1)
        H.compare(group, 1e-6, f"{options} {schedule} step {k}")
    return [np.array(x) for x in group.params + group.moments] + [
        group.stats.copy(), group.counts.copy(), group.steps.copy()]


def same_bits(a, b):
    return all(x.tobytes() == y.tobytes() for x, y in zip(a, b))


base = run("chunk-size=512 max-blocks=1024")
for options in ["chunk-size=512 max-blocks=1", "chunk-size=512 max-blocks=3",
                "chunk-size=512 max-blocks=64"]:
    assert same_bits(run(options), base), options
print("ok bitwise equal across max-blocks 1, 3, 64, 1024")
# CHECK: ok bitwise equal across max-blocks 1, 3, 64, 1024

assert same_bits(run("chunk-size=512 max-blocks=1024", schedule="reverse"), base)
print("ok bitwise equal under the reverse thread order")
# CHECK: ok bitwise equal under the reverse thread order

assert same_bits(run("chunk-size=512 max-blocks=1024"), base)
print("ok bitwise equal run to run")
# CHECK: ok bitwise equal run to run

for options in ["chunk-size=512 block-size=32", "chunk-size=512 block-size=1024",
                "chunk-size=8 max-blocks=2"]:
    run(options)
print("ok other block and chunk sizes agree with the reference")
# CHECK: ok other block and chunk sizes agree with the reference

assert same_bits(run("chunk-size=512 max-blocks=1024", misaligned=True), base)
print("ok misaligned buffers: element-wise path, same bits")
# CHECK: ok misaligned buffers: element-wise path, same bits
