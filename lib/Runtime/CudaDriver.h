//===- CudaDriver.h - The CUDA driver API, opened at run time ---*- C++ -*-===//
//
// The runtimes of the GPU kernels open libcuda.so.1 at first use, so they
// build without the CUDA toolkit and load on machines without a GPU. This
// declares the few driver types and entry points they use (cuda.h's ABI)
// and keeps one primary context per device.
//
//===----------------------------------------------------------------------===//

#ifndef GS_LIB_RUNTIME_CUDADRIVER_H
#define GS_LIB_RUNTIME_CUDADRIVER_H

#include <cstddef>
#include <string>

namespace gs::cuda {

using CUresult = int;
using CUdevice = int;
using CUcontext = void *;
using CUmodule = void *;
using CUfunction = void *;
using CUstream = void *;
using CUevent = void *;
using CUdeviceptr = unsigned long long;
constexpr CUresult kSuccess = 0;
constexpr int kJitOptimizationLevel = 7;      // CU_JIT_OPTIMIZATION_LEVEL
constexpr unsigned kEventDisableTiming = 2;   // CU_EVENT_DISABLE_TIMING
constexpr unsigned kMemAttachGlobal = 1;      // CU_MEM_ATTACH_GLOBAL
constexpr int kAttributeMultiprocessors = 16; // ..._MULTIPROCESSOR_COUNT
constexpr int kAttributeComputeMajor = 75;    // ..._COMPUTE_CAPABILITY_MAJOR
constexpr int kAttributeComputeMinor = 76;    // ..._COMPUTE_CAPABILITY_MINOR
constexpr int kAttributeMemoryPools = 115;    // ..._MEMORY_POOLS_SUPPORTED

/// The driver entry points; versioned names are those cuda.h maps to.
struct Driver {
#define GS_CUDA_FUNCTIONS(X)                                                   \
  X(cuGetErrorName, CUresult, CUresult, const char **)                         \
  X(cuGetErrorString, CUresult, CUresult, const char **)                       \
  X(cuInit, CUresult, unsigned)                                                \
  X(cuDeviceGet, CUresult, CUdevice *, int)                                    \
  X(cuDeviceGetCount, CUresult, int *)                                         \
  X(cuDeviceGetAttribute, CUresult, int *, int, CUdevice)                      \
  X(cuDevicePrimaryCtxRetain, CUresult, CUcontext *, CUdevice)                 \
  X(cuCtxPushCurrent_v2, CUresult, CUcontext)                                  \
  X(cuCtxPopCurrent_v2, CUresult, CUcontext *)                                 \
  X(cuCtxSynchronize, CUresult)                                                \
  X(cuModuleLoadData, CUresult, CUmodule *, const void *)                      \
  X(cuModuleLoadDataEx, CUresult, CUmodule *, const void *, unsigned, int *,   \
    void **)                                                                   \
  X(cuModuleUnload, CUresult, CUmodule)                                        \
  X(cuModuleGetFunction, CUresult, CUfunction *, CUmodule, const char *)       \
  X(cuLaunchKernel, CUresult, CUfunction, unsigned, unsigned, unsigned,        \
    unsigned, unsigned, unsigned, unsigned, CUstream, void **, void **)        \
  X(cuStreamCreate, CUresult, CUstream *, unsigned)                            \
  X(cuStreamDestroy_v2, CUresult, CUstream)                                    \
  X(cuStreamSynchronize, CUresult, CUstream)                                   \
  X(cuStreamWaitEvent, CUresult, CUstream, CUevent, unsigned)                  \
  X(cuEventCreate, CUresult, CUevent *, unsigned)                              \
  X(cuEventDestroy_v2, CUresult, CUevent)                                      \
  X(cuEventSynchronize, CUresult, CUevent)                                     \
  X(cuEventRecord, CUresult, CUevent, CUstream)                                \
  X(cuMemAlloc_v2, CUresult, CUdeviceptr *, size_t)                            \
  X(cuMemAllocManaged, CUresult, CUdeviceptr *, size_t, unsigned)              \
  X(cuMemFree_v2, CUresult, CUdeviceptr)                                       \
  X(cuMemcpyAsync, CUresult, CUdeviceptr, CUdeviceptr, size_t, CUstream)       \
  X(cuMemsetD32Async, CUresult, CUdeviceptr, unsigned, size_t, CUstream)       \
  X(cuMemsetD16Async, CUresult, CUdeviceptr, unsigned short, size_t, CUstream)
/// Entry points of newer drivers (null when the driver lacks them): the
/// stream-ordered allocator, CUDA 11.2.
#define GS_CUDA_OPTIONAL_FUNCTIONS(X)                                          \
  X(cuMemAllocAsync, CUresult, CUdeviceptr *, size_t, CUstream)                \
  X(cuMemFreeAsync, CUresult, CUdeviceptr, CUstream)
#define GS_DECLARE(name, result, ...) result (*name)(__VA_ARGS__) = nullptr;
  GS_CUDA_FUNCTIONS(GS_DECLARE)
  GS_CUDA_OPTIONAL_FUNCTIONS(GS_DECLARE)
#undef GS_DECLARE

  /// Empty when the driver loaded and initialized, else why not.
  std::string error;
};

/// The driver, opened and initialized once per process.
const Driver &getDriver();

/// "<call>: <CUDA name>: <CUDA description>".
std::string describe(const char *call, CUresult result);

/// The primary context of device `ordinal`, retained once per process, or
/// null with `error` set.
CUcontext getPrimaryContext(int ordinal, std::string &error);

} // namespace gs::cuda

#endif // GS_LIB_RUNTIME_CUDADRIVER_H
