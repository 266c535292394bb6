# RUN: %python %s | FileCheck %s
# Properties of the prebuilt generic CPU kernels beyond the reference
# comparisons: bitwise the same results for any thread count and any
# instruction-set build, two steps at once from two threads, a 10,000-tensor
# group in one set of kernel runs, and every bad input rejected before
# anything is written.
import ctypes
import os
import subprocess
import sys
import threading

import numpy as np

import gs_harness as H
from gradient_stabilizer import _cpu_kernels as K
from gradient_stabilizer import reference as R

lib = K.cpu_kernels()


class Step:
    """One AdamW bf16 group with its tables and scratch, stepped in place."""

    def __init__(self, numels, seed, dtype="bf16"):
        rng = np.random.default_rng(seed)
        self.dtype = dtype
        self.params = [H.to_storage(rng.standard_normal(n), dtype) for n in numels]
        self.grads = [H.to_storage(rng.standard_normal(n) * 10.0 ** rng.integers(-3, 3),
                                   dtype) for n in numels]
        self.moments = [H.to_storage(np.zeros(n), dtype) for n in numels for _ in range(2)]
        n = len(numels)
        self.table = np.zeros((n, 5), np.int64)
        for i, numel in enumerate(numels):
            self.table[i] = [numel, self.params[i].ctypes.data, self.grads[i].ctypes.data,
                             self.moments[2 * i].ctypes.data,
                             self.moments[2 * i + 1].ctypes.data]
        self.offsets = np.array(K.chunk_offsets(numels), np.int64)
        self.hyper = np.array([1e-3, 0.01, 0.6, 0.999, 1e-12, 0.9, 0.999, 1e-8])
        self.stats = np.zeros((n, 2))
        self.counts = np.zeros((n, 2), np.int64)
        self.steps = np.zeros(n, np.int64)
        self.partials = np.zeros(max(int(self.offsets[-1]), 1))
        self.records = np.zeros(n * K.RECORD_WORDS, np.float32)
        self.kernels = K.kernel_set("adamw", dtype)

    def args(self, **overrides):
        fields = dict(num_tensors=len(self.table), table_width=5,
                      table=self.table.ctypes.data, chunk_offsets=self.offsets.ctypes.data,
                      hyper=self.hyper.ctypes.data, hyper_size=self.hyper.size,
                      stats=self.stats.ctypes.data, counts=self.counts.ctypes.data,
                      steps=self.steps.ctypes.data, partials=self.partials.ctypes.data,
                      partials_size=self.partials.size, records=self.records.ctypes.data,
                      records_size=self.records.size)
        fields.update(overrides)
        return lib.args(**fields)

    def run(self, threads, steps=3, kernels=None):
        for _ in range(steps):
            lib.run_step(kernels or self.kernels, self.args(), threads)
        return self

    def state(self):
        return [a.copy() for a in self.params + self.moments] + [
            self.stats.copy(), self.counts.copy(), self.steps.copy()]


def same(a, b):
    return all(np.array_equal(x.view(np.uint8), y.view(np.uint8)) for x, y in zip(a, b))


# Tensors spanning many chunks, a tail, an empty one, a scalar.
NUMELS = [3 * K.CHUNK_SIZE + 5, 0, 1, 40000, K.CHUNK_SIZE, 77]

# 1. Any thread count gives the same bits.
results = {t: Step(NUMELS, 1).run(t).state() for t in (1, 2, 3, 7)}
assert all(same(results[1], results[t]) for t in results), "thread counts differ"
print("ok threads 1 2 3 7 bitwise equal")
# CHECK: ok threads 1 2 3 7 bitwise equal

# 2. Every instruction-set build the CPU runs gives the same bits (each in a
#    fresh process: the choice is made once, at load).
probe = """
import sys, numpy as np
sys.path[:0] = {paths!r}
exec(open({me!r}).read().split('# 1. Any thread count')[0])
s = Step(NUMELS, 1).run(2)
print(lib.isa)
np.save(sys.argv[1], np.concatenate([a.view(np.uint8).ravel() for a in s.state()]))
"""
blobs = {}
for isa in ("x86-64", "x86-64-v3", "x86-64-v4"):
    out = f"/tmp/gs-isa-{os.getpid()}-{isa}.npy"
    env = dict(os.environ, GS_CPU_ISA=isa)
    ran = subprocess.run([sys.executable, "-c", probe.format(paths=sys.path, me=__file__),
                          out], env=env, capture_output=True, text=True, check=True)
    blobs[ran.stdout.strip()] = np.load(out)
    os.unlink(out)
assert "x86-64" in blobs
first = blobs["x86-64"]
assert all(np.array_equal(first, b) for b in blobs.values()), sorted(blobs)
print("ok instruction sets bitwise equal")
# CHECK: ok instruction sets bitwise equal

# 3. Two steps at once from two host threads (each its own scratch) give
#    what they give alone.
alone = [Step(NUMELS, s).run(2).state() for s in (5, 6)]
together = [Step(NUMELS, s) for s in (5, 6)]
threads = [threading.Thread(target=s.run, args=(2, 3)) for s in together]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert all(same(a, b.state()) for a, b in zip(alone, together))
print("ok concurrent steps")
# CHECK: ok concurrent steps

# 4. A 10,000-tensor group: one run of the three kernels. AdamW's first
#    moment after one step is (1 - beta1) times the stabilized gradient, so a
#    sample of tensors is checked against the float64 reference (whose
#    parameters do not enter the moments: the decay is decoupled).
rng = np.random.default_rng(9)
big_numels = list(rng.integers(1, 300, size=10000))
big = Step(big_numels, 9, dtype="f32").run(2, steps=1)
cfg = R.GSConfig()
opt = R.AdamW(beta1=0.9, beta2=0.999, eps=1e-8)
for i in rng.choice(10000, size=50, replace=False):
    g = big.grads[i].astype(np.float64)
    _, ref_gs, ref_opt, _ = R.group_step(
        [np.zeros_like(g)], [g], [R.GSState()],
        [opt.init_state(np.zeros_like(g))], opt, cfg, 1e-3, 0.01)
    assert big.counts[i, 0] == ref_gs[0].k == 1
    assert abs(big.stats[i, 0] - ref_gs[0].m) <= 1e-12 * abs(ref_gs[0].m)
    m_ref = ref_opt[0].moments[0]
    assert np.allclose(big.moments[2 * i].astype(np.float64), m_ref, rtol=1e-6, atol=1e-30)
print(f"ok 10000 tensors, {int(big.offsets[-1])} chunks")
# CHECK: ok 10000 tensors, 10000 chunks

# 5. Bad input: a clear error, and nothing written.
def rejects(message, threads=1, kernels=None, **overrides):
    s = Step(NUMELS, 3)
    before = s.state()
    try:
        lib.run_step(kernels or s.kernels, s.args(**overrides), threads)
    except K.KernelError as error:
        assert message in str(error), f"{message!r} not in {error}"
        assert same(before, s.state()), "state changed"
        print("rejected:", error)
        return
    raise AssertionError(f"accepted: {message}")


s = Step(NUMELS, 3)
bad = s.table.copy()
bad[3, 1] = 0
rejects("tensor 3: column 1 (param) is a null address", table=bad.ctypes.data)
bad = s.table.copy()
bad[3, 2] += 1
rejects("is not aligned to its 2-byte elements", table=bad.ctypes.data)
bad = s.table.copy()
bad[0, 0] += K.CHUNK_SIZE
rejects("tensor 0: chunkOffsets give 4 chunks but 65541 elements need 5",
        table=bad.ctypes.data)
rejects("partials scratch holds 2 doubles, the step needs 10", partials_size=2)
rejects("records scratch holds 16 floats, the step needs 96", records_size=16)
rejects("takes a table of 6 columns (numel, param, grad and 3 moments), got 5", kernels=K.kernel_set("adamw_amsgrad", "bf16"))
rejects("are for different element types",
        kernels=K.KernelSet("gs_norms_f32", s.kernels.scalars, s.kernels.update, 2, ()))
rejects("no prebuilt CPU kernel named 'gs_update_adamw_f64_keep'",
        kernels=K.KernelSet("gs_norms_f32", s.kernels.scalars,
                            "gs_update_adamw_f64_keep", 2, ()))
rejects("needs invScale", kernels=K.kernel_set("adamw", "bf16", inv_scale=True,
                                               found_inf=True))
rejects("numThreads must be in [1, 1024], got 0", threads=0)
rejects("reads 8 hyperparameters, got 5", hyper_size=5)
rejects("hyper is null", hyper=0)
# CHECK-COUNT-12: rejected:
print("ok bad input")
# CHECK: ok bad input
