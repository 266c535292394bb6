"""Runs a front end's step function after gs-opt: injection by `gs-opt`, then
`gs-to-llvm` and MLIR's JIT through the C API, called on NumPy arrays.

The injected function takes and returns tensors; one-shot bufferization makes
its results new buffers. `jit_function` adds an in-place entry point in front
of it (inputs as read-only memrefs, one output memref per result, written with
bufferization.materialize_in_destination), so ctypes passes memref
descriptors and reads the results from arrays it owns.
"""

from __future__ import annotations

import ctypes
import re
import subprocess
from dataclasses import dataclass

import numpy as np

from gradient_stabilizer import _compiler as C

ELEMENTS = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64,
            "i1": np.bool_}


@dataclass(frozen=True)
class TensorType:
    shape: tuple
    element: str

    @property
    def mlir(self) -> str:
        return "x".join([str(d) for d in self.shape] + [self.element])

    def empty(self) -> np.ndarray:
        return np.zeros(self.shape, ELEMENTS[self.element])


def _tensor_types(text: str) -> list:
    types = []
    for body in re.findall(r"tensor<([^>]*)>", text):
        *dims, element = body.split("x")
        if element not in ELEMENTS or not all(d.isdigit() for d in dims):
            raise ValueError(f"unsupported tensor type tensor<{body}>")
        types.append(TensorType(tuple(int(d) for d in dims), element))
    return types


def signature(module: str, func: str) -> tuple:
    """(argument types, result types) of `func` in printed IR."""
    match = re.search(rf"^\s*func\.func (?:public |private )?@{func}\((.*)$", module,
                      flags=re.MULTILINE)
    if not match:
        raise ValueError(f"no func.func @{func} in the module")
    header = match.group(1)
    args, _, results = header.partition(" -> ")
    return _tensor_types(args), _tensor_types(results)


def gs_opt(module: str, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run([C.gs_opt(), *options], input=module, capture_output=True,
                          text=True)


def inject(module: str, *options: str) -> tuple:
    """`gs-opt options` on `module`: (output, stderr); raises on failure."""
    result = gs_opt(module, *options)
    if result.returncode != 0:
        raise RuntimeError(f"gs-opt {' '.join(options)} failed:\n{result.stderr}")
    return result.stdout, result.stderr


class JitFunction:
    """`func` of `module` (tensors in, tensors out) JIT-compiled by gs-to-llvm
    behind an in-place entry point; calling it with one array per argument
    returns one new array per result."""

    def __init__(self, module: str, func: str = "step"):
        self.args, self.results = signature(module, func)
        # gs-opt prints one `module { ... }`: the entry point goes inside it.
        body = module.rstrip()
        if not body.endswith("}"):
            raise ValueError("expected a module printed by gs-opt")
        self.module = body[:-1] + self._entry(func) + "\n}\n"
        self._binding = C.capi()
        self._executable = self._binding.jit(self.module, "gs-to-llvm")
        address = self._binding.lib.gsExecutableLookup(self._executable, b"gs_entry")
        if not address:
            raise RuntimeError("gs_entry not found in the JIT-compiled module")
        argtypes = []
        for t in self.args + self.results:
            # Allocated and aligned pointers, offset, sizes, strides.
            argtypes += [ctypes.c_void_p] * 2 + [ctypes.c_int64] * (1 + 2 * len(t.shape))
        self._function = ctypes.CFUNCTYPE(None, *argtypes)(address)

    def _entry(self, func: str) -> str:
        ins = [f"%i{i}: memref<{t.mlir}>" for i, t in enumerate(self.args)]
        outs = [f"%o{i}: memref<{t.mlir}>" for i, t in enumerate(self.results)]
        lines = [f"func.func @gs_entry({', '.join(ins + outs)}) {{"]
        for i, t in enumerate(self.args):
            lines.append(f"  %t{i} = bufferization.to_tensor %i{i} restrict : "
                         f"memref<{t.mlir}> to tensor<{t.mlir}>")
        operands = ", ".join(f"%t{i}" for i in range(len(self.args)))
        arg_types = ", ".join(f"tensor<{t.mlir}>" for t in self.args)
        result_types = ", ".join(f"tensor<{t.mlir}>" for t in self.results)
        lines.append(f"  %r:{len(self.results)} = func.call @{func}({operands}) : "
                     f"({arg_types}) -> ({result_types})")
        for i, t in enumerate(self.results):
            lines.append(f"  bufferization.materialize_in_destination %r#{i} in restrict "
                         f"writable %o{i} : (tensor<{t.mlir}>, memref<{t.mlir}>) -> ()")
        lines += ["  return", "}"]
        return "\n".join(lines)

    def __del__(self):
        if getattr(self, "_executable", None):
            self._binding.lib.gsExecutableDestroy(self._executable)

    def __call__(self, *inputs) -> list:
        if len(inputs) != len(self.args):
            raise ValueError(f"expected {len(self.args)} arguments, got {len(inputs)}")
        arrays = []
        for value, t in zip(inputs, self.args):
            array = np.array(value, ELEMENTS[t.element], order="C")
            if array.shape != t.shape:
                raise ValueError(f"argument of shape {array.shape}, expected {t.shape}")
            arrays.append(array)
        outputs = [t.empty() for t in self.results]
        descriptors = []
        for array in arrays + outputs:
            descriptors += [array.ctypes.data, array.ctypes.data, 0, *array.shape,
                            *(s // array.itemsize for s in array.strides)]
        self._function(*descriptors)
        return outputs


# The project's tolerance (docs/README.md, "Correctness"; test/Execution's
# gs_harness.compare): an element's error against |old| + |change| of the
# step, plus a floor of 1e-7 times the tensor's largest magnitude.
RTOL, FLOOR = 1e-6, 1e-7


def assert_close(name, got, want, before=None, rtol=RTOL):
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
    assert (np.isnan(got) == np.isnan(want)).all(), f"{name}: NaN pattern differs"
    scale = np.abs(want)
    if before is not None:
        old = np.broadcast_to(np.asarray(before, np.float64), want.shape)
        scale = np.maximum(scale, np.abs(old) + np.abs(want - old))
    finite = ~np.isnan(want)
    largest = np.max(np.abs(want[finite]), initial=0.0)
    bound = rtol * scale + FLOOR * largest
    bad = finite & (np.abs(got - want) > bound)
    assert not bad.any(), (f"{name}: {int(bad.sum())} of {want.size} elements off; "
                           f"worst got {got[bad].ravel()[0]!r} want "
                           f"{want[bad].ravel()[0]!r}")
