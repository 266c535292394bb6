"""ctypes binding of libgs_gpu_kernels: the prebuilt generic NVIDIA GPU
kernels (include/gs-c/GpuKernels.h).

The same kernel set as the CPU's (`_cpu_kernels.kernel_set` names them):
a step of N tensors of one dtype is a table of device addresses, launched on
the caller's stream without any host synchronization. Loading the library
maps neither libMLIR nor libLLVM, and the CUDA driver is opened only when a
kernel first runs.

GS_GPU_KERNELS_LIB overrides the library; the build's
libgs_gpu_kernels_emulated.so runs the same kernels on host memory through
the GPU emulator (how the test suite checks this path without a GPU).
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Optional

from . import _paths
from ._cpu_kernels import CHUNK_SIZE, RECORD_WORDS, KernelError, KernelSet  # noqa: F401


class _StepArgs(ctypes.Structure):
    _fields_ = [
        ("numTensors", ctypes.c_int64), ("tableWidth", ctypes.c_int64),
        ("table", ctypes.c_uint64), ("chunkOffsets", ctypes.c_uint64),
        ("hostTable", ctypes.c_void_p), ("hostChunkOffsets", ctypes.c_void_p),
        ("hyper", ctypes.c_uint64), ("hyperSize", ctypes.c_int64),
        ("stats", ctypes.c_uint64), ("counts", ctypes.c_uint64),
        ("steps", ctypes.c_uint64),
        ("partials", ctypes.c_uint64), ("records", ctypes.c_uint64),
        ("partialsSize", ctypes.c_int64), ("recordsSize", ctypes.c_int64),
        ("invScale", ctypes.c_uint64), ("foundInf", ctypes.c_uint64),
    ]


def library_path() -> Path:
    """libgs_gpu_kernels.so: GS_GPU_KERNELS_LIB, a checkout's build tree's,
    or the installed package's (see _paths)."""
    return _paths.require("lib", "libgs_gpu_kernels.so", "GS_GPU_KERNELS_LIB", KernelError)


class GpuKernels:
    """The loaded library."""

    def __init__(self, path: Optional[Path] = None):
        path = library_path() if path is None else Path(path)
        run = [ctypes.POINTER(_StepArgs), ctypes.c_int, ctypes.c_void_p]
        lib = _paths.load_library(path, {
            "gsGpuRunStep": ([ctypes.c_char_p] * 3 + run, ctypes.c_int),
            "gsGpuRunKernel": ([ctypes.c_char_p] + run, ctypes.c_int),
            "gsGpuHasKernel": ([ctypes.c_char_p], ctypes.c_int),
            "gsGpuKernelImage": ([ctypes.c_int], ctypes.c_char_p),
            "gsGpuLastError": (None, ctypes.c_char_p),
        }, KernelError)
        self._lib = lib
        self.path = path

    @property
    def emulated(self) -> bool:
        return self.image(0) == "emulator"

    def image(self, device: int) -> str:
        """Which kernel image `device` runs ("cubin sm_90", "PTX ...",
        "emulator"); raises KernelError when it can run none."""
        image = self._lib.gsGpuKernelImage(int(device))
        if image is None:
            raise KernelError(self._lib.gsGpuLastError().decode())
        return image.decode()

    def has_kernel(self, name: str) -> bool:
        return bool(self._lib.gsGpuHasKernel(name.encode()))

    @staticmethod
    def args(num_tensors: int, table_width: int, table: int, chunk_offsets: int,
             host_table: int, host_chunk_offsets: int, hyper: int, hyper_size: int,
             stats: int, counts: int, steps: int, partials: int, partials_size: int,
             records: int, records_size: int, inv_scale: int = 0,
             found_inf: int = 0) -> _StepArgs:
        """A step's buffers: device addresses, and the host copies of the
        table and chunk offsets (ints)."""
        return _StepArgs(num_tensors, table_width, table, chunk_offsets, host_table,
                         host_chunk_offsets, hyper, hyper_size, stats, counts, steps,
                         partials, records, partials_size, records_size, inv_scale,
                         found_inf)

    def run_step(self, kernels: KernelSet, args: _StepArgs, device: int = 0,
                 stream: Optional[int] = None) -> None:
        """Queues the three kernels on `stream` (a CUstream as an int; None:
        the legacy default stream); raises KernelError (nothing launched)
        when the runtime rejects the arguments."""
        status = self._lib.gsGpuRunStep(kernels.norms.encode(), kernels.scalars.encode(),
                                        kernels.update.encode(), ctypes.byref(args),
                                        int(device), stream or None)
        if status:
            raise KernelError(self._lib.gsGpuLastError().decode())

    def run_kernel(self, name: str, args: _StepArgs, device: int = 0,
                   stream: Optional[int] = None) -> None:
        if self._lib.gsGpuRunKernel(name.encode(), ctypes.byref(args), int(device),
                                    stream or None):
            raise KernelError(self._lib.gsGpuLastError().decode())


_loaded: Optional[GpuKernels] = None


def gpu_kernels() -> GpuKernels:
    """The process's GpuKernels, loaded on first use."""
    global _loaded
    if _loaded is None:
        _loaded = GpuKernels()
    return _loaded
