# RUN: %python %s | FileCheck %s
# Parameters and moments that are strided views (every other element of a
# larger buffer) on the CPU: a gs.group_step steps each such buffer in a
# contiguous heap copy, copies it in and back with loops and frees the copy
# (test/Pipelines/gs-to-llvm-heap-buffers.mlir checks one malloc and one
# free per copy; under the sanitizers a double or invalid free fails this
# test). The entry point takes the whole buffers and views them itself,
# is lowered by gs-to-llvm and called through its C interface. Three steps
# (the second with a gradient spike): the viewed elements hold bitwise what
# the contiguous in-place step computes from the same state, which the
# float64 reference checks, and the elements between them are untouched.
import ctypes

import numpy as np

import gs_harness as H
from gradient_stabilizer import _compiler as C
from gradient_stabilizer import reference as R

SHAPES = [(8,), (5,)]
STRIDED = "memref<8xf32, strided<[2], offset: 1>>"


def module() -> str:
    args = ["%p0: memref<16xf32>", "%p1: memref<5xf32>", "%g0: memref<8xf32>",
            "%g1: memref<5xf32>", "%a0: memref<16xf32>", "%b0: memref<16xf32>",
            "%a1: memref<5xf32>", "%b1: memref<5xf32>", "%s: memref<2x2xf64>",
            "%c: memref<2x2xi64>", "%t: memref<2xi64>", "%lr: f64", "%wd: f64"]
    lines = [f"func.func @step({', '.join(args)}) attributes {{llvm.emit_c_interface}} {{"]
    destinations = {}
    for name in ["p0", "a0", "b0"]:
        lines.append(f"  %{name}v = memref.subview %{name}[1] [8] [2] : "
                     f"memref<16xf32> to {STRIDED}")
        lines.append(f"  %{name}t = bufferization.to_tensor %{name}v restrict writable : "
                     f"{STRIDED} to tensor<8xf32>")
        destinations[name] = (f"%{name}v", STRIDED)
    for name, type_ in [("p1", "memref<5xf32>"), ("a1", "memref<5xf32>"),
                        ("b1", "memref<5xf32>"), ("s", "memref<2x2xf64>"),
                        ("c", "memref<2x2xi64>"), ("t", "memref<2xi64>"),
                        ("g0", "memref<8xf32>"), ("g1", "memref<5xf32>")]:
        writable = "" if name.startswith("g") else " writable"
        tensor = type_.replace("memref", "tensor")
        lines.append(f"  %{name}t = bufferization.to_tensor %{name} restrict{writable} : "
                     f"{type_} to {tensor}")
        destinations[name] = (f"%{name}", type_)
    lines += [
        "  %r:9 = gs.group_step #gs.adamw<>",
        "    params(%p0t, %p1t : tensor<8xf32>, tensor<5xf32>)",
        "    grads(%g0t, %g1t : tensor<8xf32>, tensor<5xf32>)",
        "    moments(%a0t, %b0t, %a1t, %b1t : tensor<8xf32>, tensor<8xf32>, "
        "tensor<5xf32>, tensor<5xf32>)",
        "    stats(%st : tensor<2x2xf64>) counts(%ct : tensor<2x2xi64>) "
        "steps(%tt : tensor<2xi64>)",
        "    lr(%lr) weight_decay(%wd)"]
    for i, name in enumerate(["p0", "p1", "a0", "b0", "a1", "b1", "s", "c", "t"]):
        value, type_ = destinations[name]
        tensor = "tensor<8xf32>" if type_ == STRIDED else type_.replace("memref", "tensor")
        lines.append(f"  bufferization.materialize_in_destination %r#{i} in restrict "
                     f"writable {value} : ({tensor}, {type_}) -> ()")
    lines += ["  return", "}"]
    return "\n".join(lines) + "\n"


binding = C.capi()
executable = binding.jit(module(), "gs-to-llvm")
address = binding.lib.gsExecutableLookup(executable, b"_mlir_ciface_step")
strided_step = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * 11), ctypes.c_double,
                                ctypes.c_double)(address)

cfg = R.GSConfig()
optimizer = R.AdamW()
in_place = H.compile_step(SHAPES, ["f32"] * 2, "adamw", cfg, target="cpu")
rng = np.random.default_rng(23)
group = H.make_group(SHAPES, ["f32"] * 2, optimizer, rng)
# The strided side: whole buffers whose odd elements are the views, even
# elements a sentinel that must survive.
SENTINEL = np.float32(-7.25)
whole = [np.full(16, SENTINEL, np.float32) for _ in range(3)]
for buffer, start in zip(whole, [group.params[0], group.moments[0], group.moments[1]]):
    buffer[1::2] = start
others = [group.params[1].copy(), group.moments[2].copy(), group.moments[3].copy(),
          group.stats.copy(), group.counts.copy(), group.steps.copy()]
for k in range(3):
    grads = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    if k == 1:
        grads[0] *= 1e6  # a spike: GS rescales it
    lr, wd = 0.01 / (k + 1), 0.1

    H.step(in_place, group, optimizer, cfg, grads, lr, wd)
    H.compare(group, 1e-6, f"step {k}")

    args = [whole[0], others[0], grads[0], grads[1], whole[1], whole[2], *others[1:]]
    descriptors = [H.describe(a) for a in args]
    strided_step(*[ctypes.addressof(d) for d in descriptors], lr, wd)
    for buffer, expected, what in zip(whole, [group.params[0], *group.moments[:2]],
                                      ["param", "exp_avg", "exp_avg_sq"]):
        assert buffer[1::2].tobytes() == expected.tobytes(), f"step {k}: strided {what}"
        assert (buffer[0::2] == SENTINEL).all(), f"step {k}: {what} between the views"
    expected = [group.params[1], group.moments[2], group.moments[3], group.stats,
                group.counts, group.steps]
    for got, want in zip(others, expected):
        assert got.tobytes() == want.tobytes(), f"step {k}: contiguous tensors or state"
    print(f"ok step {k}: strided views bitwise the contiguous step, gaps untouched")

binding.lib.gsExecutableDestroy(executable)

# CHECK: ok step 0: strided views bitwise the contiguous step, gaps untouched
# CHECK: ok step 1: strided views bitwise the contiguous step, gaps untouched
# CHECK: ok step 2: strided views bitwise the contiguous step, gaps untouched
