# RUN: %python %s | FileCheck %s
# The returning entry point on the CPU: a public function that takes a
# group's tensors and returns the updated ones, lowered by gs-to-llvm and
# called through its C interface. The caller owns what such a function
# returns, so every result is a buffer of its own (not an argument), holding
# bitwise what the in-place entry point computes from the same inputs, which
# the float64 reference checks; the arguments are updated in place as well
# (one-shot bufferization writes function arguments). The caller frees the
# results. Three steps (the second with a gradient spike), each from the
# state the previous one left.
import ctypes

import numpy as np

import gs_harness as H
from gradient_stabilizer import _compiler as C
from gradient_stabilizer import reference as R

SHAPES = [(37,), (8, 16), (5,)]
N = len(SHAPES)


def tensor(shape, element):
    return f"tensor<{C._tensor(shape, element)}>"


def module() -> str:
    params = [tensor(s, "f32") for s in SHAPES]
    moments = [t for t in params for _ in range(2)]
    state = [f"tensor<{N}x2xf64>", f"tensor<{N}x2xi64>", f"tensor<{N}xi64>"]
    results = params + moments + state
    names = ([f"%p{i}" for i in range(N)] + [f"%g{i}" for i in range(N)]
             + [f"%m{i}" for i in range(2 * N)] + ["%s", "%c", "%t"])
    types = params + params + moments + state
    args = [f"{n}: {t}" for n, t in zip(names, types)] + ["%lr: f64", "%wd: f64"]
    p, g, m = names[:N], names[N:2 * N], names[2 * N:4 * N]
    return (f"func.func @step({', '.join(args)}) -> ({', '.join(results)})\n"
            f"    attributes {{llvm.emit_c_interface}} {{\n"
            f"  %r:{len(results)} = gs.group_step #gs.adamw<>\n"
            f"    params({', '.join(p)} : {', '.join(params)})\n"
            f"    grads({', '.join(g)} : {', '.join(params)})\n"
            f"    moments({', '.join(m)} : {', '.join(moments)})\n"
            f"    stats(%s : {state[0]}) counts(%c : {state[1]}) steps(%t : {state[2]})\n"
            f"    lr(%lr) weight_decay(%wd)\n"
            f"  return {', '.join(f'%r#{i}' for i in range(len(results)))} : "
            f"{', '.join(results)}\n}}\n")


def result_array(d, shape, dtype) -> np.ndarray:
    """A copy of what a returned descriptor holds."""
    count = int(np.prod(shape, dtype=np.int64))
    buffer = (ctypes.c_char * (count * np.dtype(dtype).itemsize)).from_address(
        d.aligned + d.offset * np.dtype(dtype).itemsize)
    return np.frombuffer(buffer, dtype).reshape(shape).copy()


result_shapes = ([(s, np.float32) for s in SHAPES] + [(s, np.float32) for s in SHAPES
                                                        for _ in range(2)]
                 + [((N, 2), np.float64), ((N, 2), np.int64), ((N,), np.int64)])
Result = type("Result", (ctypes.Structure,), {"_fields_": [
    (f"r{i}", H.memref_descriptor(len(shape))) for i, (shape, _) in enumerate(result_shapes)]})

binding = C.capi()
executable = binding.jit(module(), "gs-to-llvm")
address = binding.lib.gsExecutableLookup(executable, b"_mlir_ciface_step")
returning = ctypes.CFUNCTYPE(None, ctypes.POINTER(Result),
                             *([ctypes.c_void_p] * (4 * N + 3)),
                             ctypes.c_double, ctypes.c_double)(address)
libc = ctypes.CDLL(None)
libc.free.argtypes = [ctypes.c_void_p]

cfg = R.GSConfig()
optimizer = R.AdamW()
in_place = H.compile_step(SHAPES, ["f32"] * N, "adamw", cfg, target="cpu")
rng = np.random.default_rng(17)
group = H.make_group(SHAPES, ["f32"] * N, optimizer, rng)
state = [*group.params, *group.moments, group.stats, group.counts, group.steps]
for k in range(3):
    grads = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    if k == 1:
        grads[0] *= 1e6  # a spike: GS rescales it
    inputs = [a.copy() for a in state]
    lr, wd = 0.01 / (k + 1), 0.1

    # The in-place entry point on the group, checked against the reference.
    H.step(in_place, group, optimizer, cfg, grads, lr, wd)
    H.compare(group, 1e-6, f"step {k}")
    expected = [*group.params, *group.moments, group.stats, group.counts, group.steps]

    # The returning entry point on a copy of the inputs.
    args = inputs[:N] + grads + inputs[N:]
    descriptors = [H.describe(a) for a in args]
    result = Result()
    returning(ctypes.byref(result), *[ctypes.addressof(d) for d in descriptors], lr, wd)
    returned = [getattr(result, f"r{i}") for i in range(len(result_shapes))]
    for i, (d, (shape, dtype)) in enumerate(zip(returned, result_shapes)):
        updated = inputs[i]
        assert d.aligned not in {a.ctypes.data for a in args}, f"result {i} is an argument"
        got = result_array(d, shape, dtype)
        assert got.tobytes() == expected[i].tobytes(), f"step {k}: result {i} differs"
        assert updated.tobytes() == expected[i].tobytes(), f"step {k}: argument {i}"
        libc.free(d.allocated)
    print(f"ok step {k}: {len(returned)} results, own buffers, bitwise the in-place step")

binding.lib.gsExecutableDestroy(executable)

# CHECK: ok step 0: 12 results, own buffers, bitwise the in-place step
# CHECK: ok step 1: 12 results, own buffers, bitwise the in-place step
# CHECK: ok step 2: 12 results, own buffers, bitwise the in-place step
