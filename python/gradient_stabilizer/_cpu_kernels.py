"""ctypes binding of libgs_cpu_kernels: the prebuilt generic CPU kernels
(include/gs-c/CpuKernels.h).

A step of N tensors of one dtype is described by a table of addresses, so
nothing here depends on shapes: the kernels were compiled by the project's
build and loading them maps neither libMLIR nor libLLVM. Everything works on
raw addresses, so callers pass numpy arrays or torch tensors alike.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Tuple

from . import _paths

CHUNK_SIZE = 16384   # GS_CPU_CHUNK_SIZE
RECORD_WORDS = 16    # GS_CPU_RECORD_WORDS

POLICIES = ("skip", "zero", "passthrough")
DTYPES = ("f32", "f16", "bf16")

# Optimizer structure -> (moments, names of its run-time hyperparameters).
STRUCTURES = {
    "sgd": (0, ()),
    "sgd_momentum": (1, ("momentum", "dampening")),
    "sgd_nesterov": (1, ("momentum", "dampening")),
    "adam": (2, ("beta1", "beta2", "eps")),
    "adam_amsgrad": (3, ("beta1", "beta2", "eps")),
    "adamw": (2, ("beta1", "beta2", "eps")),
    "adamw_amsgrad": (3, ("beta1", "beta2", "eps")),
    "lion": (1, ("beta1", "beta2")),
}


class KernelError(RuntimeError):
    """The runtime refused a step; the message names the problem."""


class _StepArgs(ctypes.Structure):
    _fields_ = [
        ("numTensors", ctypes.c_int64), ("tableWidth", ctypes.c_int64),
        ("table", ctypes.c_void_p), ("chunkOffsets", ctypes.c_void_p),
        ("hyper", ctypes.c_void_p), ("hyperSize", ctypes.c_int64),
        ("stats", ctypes.c_void_p), ("counts", ctypes.c_void_p),
        ("steps", ctypes.c_void_p),
        ("partials", ctypes.c_void_p), ("partialsSize", ctypes.c_int64),
        ("records", ctypes.c_void_p), ("recordsSize", ctypes.c_int64),
        ("invScale", ctypes.c_void_p), ("foundInf", ctypes.c_void_p),
    ]


@dataclass(frozen=True)
class KernelSet:
    """The three kernels of one step configuration."""

    norms: str
    scalars: str
    update: str
    moments: int
    hyperparameters: Tuple[str, ...]


def kernel_set(structure: str, dtype: str, on_nonfinite: str = "skip",
               bias_correction: bool = True, inv_scale: bool = False,
               found_inf: bool = False, store_grads: bool = False) -> KernelSet:
    """Names the kernels of a step; raises ValueError naming a bad choice.
    `inv_scale` and `found_inf` say which loss-scaling inputs the step gets
    (an inv_scale comes with a found_inf); with `store_grads` the update
    also writes each stepped tensor's stabilized gradient back into its
    gradient buffer."""
    if structure not in STRUCTURES:
        raise ValueError(f"optimizer structure must be one of {sorted(STRUCTURES)}, "
                         f"got {structure!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    if on_nonfinite not in POLICIES:
        raise ValueError(f"on_nonfinite must be one of {POLICIES}, got {on_nonfinite!r}")
    if inv_scale and not found_inf:
        raise ValueError("a step with inv_scale needs a found_inf (a zero tensor "
                         "when nothing overflowed)")
    moments, hyper = STRUCTURES[structure]
    bc = "bc" if bias_correction else "nobc"
    scaling = "amp" if inv_scale else "foundinf" if found_inf else "noamp"
    return KernelSet(
        norms=f"gs_norms_{dtype}",
        scalars=f"gs_scalars_{structure}_{on_nonfinite}_{bc}_{scaling}",
        update=(f"gs_update_{structure}_{dtype}_"
                f"{'zero' if on_nonfinite == 'zero' else 'keep'}"
                f"{'_store' if store_grads else ''}"),
        moments=moments, hyperparameters=hyper)


def library_path() -> Path:
    """libgs_cpu_kernels.so: GS_CPU_KERNELS_LIB, the installed package's, or
    a checkout's build tree's (see _paths)."""
    return _paths.require("lib", "libgs_cpu_kernels.so", "GS_CPU_KERNELS_LIB", KernelError)


class CpuKernels:
    """The loaded library."""

    def __init__(self, path: Optional[Path] = None):
        path = library_path() if path is None else Path(path)
        run = [ctypes.c_char_p] * 3 + [ctypes.POINTER(_StepArgs), ctypes.c_int]
        lib = _paths.load_library(path, {
            "gsCpuRunStep": (run, ctypes.c_int),
            "gsCpuRunKernel": ([ctypes.c_char_p, ctypes.POINTER(_StepArgs), ctypes.c_int],
                               ctypes.c_int),
            "gsCpuHasKernel": ([ctypes.c_char_p], ctypes.c_int),
            "gsCpuKernelISA": (None, ctypes.c_char_p),
            "gsCpuLastError": (None, ctypes.c_char_p),
        }, KernelError)
        self._lib = lib
        self.path = path

    @property
    def isa(self) -> str:
        return self._lib.gsCpuKernelISA().decode()

    def has_kernel(self, name: str) -> bool:
        return bool(self._lib.gsCpuHasKernel(name.encode()))

    @staticmethod
    def args(num_tensors: int, table_width: int, table: int, chunk_offsets: int,
             hyper: int, hyper_size: int, stats: int, counts: int, steps: int,
             partials: int, partials_size: int, records: int, records_size: int,
             inv_scale: int = 0, found_inf: int = 0) -> _StepArgs:
        """A step's buffers, by address (ints)."""
        return _StepArgs(num_tensors, table_width, table, chunk_offsets, hyper,
                         hyper_size, stats, counts, steps, partials, partials_size,
                         records, records_size, inv_scale or None, found_inf or None)

    def run_step(self, kernels: KernelSet, args: _StepArgs, threads: int = 1) -> None:
        """Runs the three kernels; raises KernelError (nothing written) when the
        runtime rejects the arguments."""
        status = self._lib.gsCpuRunStep(kernels.norms.encode(), kernels.scalars.encode(),
                                        kernels.update.encode(), ctypes.byref(args),
                                        int(threads))
        if status:
            raise KernelError(self._lib.gsCpuLastError().decode())

    def run_kernel(self, name: str, args: _StepArgs, threads: int = 1) -> None:
        if self._lib.gsCpuRunKernel(name.encode(), ctypes.byref(args), int(threads)):
            raise KernelError(self._lib.gsCpuLastError().decode())


_loaded: Optional[CpuKernels] = None


def cpu_kernels() -> CpuKernels:
    """The process's CpuKernels, loaded on first use."""
    global _loaded
    if _loaded is None:
        _loaded = CpuKernels()
    return _loaded


def chunk_offsets(numels: Sequence[int]) -> list:
    """N + 1 prefix sums of ceil(numel / CHUNK_SIZE)."""
    offsets = [0]
    for n in numels:
        offsets.append(offsets[-1] + -(-int(n) // CHUNK_SIZE))
    return offsets
