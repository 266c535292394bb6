//===- CudaRuntime.cpp - mgpu* functions over a dlopen'ed CUDA driver -----===//
//
// The CUDA driver is opened at first use, so this library builds without the
// CUDA toolkit and loads without a GPU; the few driver types it needs are
// declared here. Every call reports failure through a thread-local message
// instead of aborting: code lowered by gpu-to-llvm has no error channel (its
// functions return void or a handle), so the caller checks
// gsRuntimeGetLastError() after a step.
//
//===----------------------------------------------------------------------===//

#include "gs-c/Runtime.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

namespace {
// The CUDA driver ABI (cuda.h), limited to what the runtime uses.
using CUresult = int;
using CUdevice = int;
using CUcontext = void *;
using CUmodule = void *;
using CUfunction = void *;
using CUstream = void *;
using CUevent = void *;
using CUdeviceptr = unsigned long long;
constexpr CUresult kSuccess = 0;
constexpr int kJitOptimizationLevel = 7; // CU_JIT_OPTIMIZATION_LEVEL
constexpr unsigned kEventDisableTiming = 2;
constexpr unsigned kMemAttachGlobal = 1;

/// The driver entry points; versioned names are those cuda.h maps to.
struct Driver {
#define GS_CUDA_FUNCTIONS(X)                                                   \
  X(cuGetErrorName, CUresult, CUresult, const char **)                         \
  X(cuGetErrorString, CUresult, CUresult, const char **)                       \
  X(cuInit, CUresult, unsigned)                                                \
  X(cuDeviceGet, CUresult, CUdevice *, int)                                    \
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
#define GS_DECLARE(name, result, ...) result (*name)(__VA_ARGS__) = nullptr;
  GS_CUDA_FUNCTIONS(GS_DECLARE)
#undef GS_DECLARE

  /// The primary context of device 0, or null with `error` set.
  CUcontext context = nullptr;
  std::string error;
};

thread_local std::string lastError;
thread_local bool hasError = false;
thread_local CUstream userStream = nullptr;

void setError(std::string message) {
  lastError = std::move(message);
  hasError = true;
}

/// "<call>: <CUDA name>: <CUDA description>".
std::string describe(const Driver &driver, const char *call, CUresult result) {
  const char *name = nullptr, *text = nullptr;
  if (driver.cuGetErrorName)
    driver.cuGetErrorName(result, &name);
  if (driver.cuGetErrorString)
    driver.cuGetErrorString(result, &text);
  return std::string(call) + ": " +
         (name ? name : "CUDA error " + std::to_string(result)) + ": " +
         (text ? text : "unknown error");
}

Driver &loadDriver() {
  static Driver driver;
  static std::once_flag once;
  std::call_once(once, [] {
    void *handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char *reason = dlerror();
      driver.error = std::string("no CUDA driver: cannot load libcuda.so.1") +
                     (reason ? std::string(" (") + reason + ")" : "");
      return;
    }
#define GS_RESOLVE(name, ...)                                                  \
  driver.name = reinterpret_cast<decltype(driver.name)>(dlsym(handle, #name)); \
  if (!driver.name) {                                                          \
    driver.error = "CUDA driver too old: libcuda.so.1 lacks " #name;           \
    return;                                                                    \
  }
    GS_CUDA_FUNCTIONS(GS_RESOLVE)
#undef GS_RESOLVE
    CUdevice device;
    CUresult result = driver.cuInit(0);
    if (result != kSuccess) {
      driver.error = describe(driver, "cuInit", result);
      return;
    }
    result = driver.cuDeviceGet(&device, 0);
    if (result != kSuccess) {
      driver.error = describe(driver, "cuDeviceGet", result);
      return;
    }
    result = driver.cuDevicePrimaryCtxRetain(&driver.context, device);
    if (result != kSuccess) {
      driver.context = nullptr;
      driver.error = describe(driver, "cuDevicePrimaryCtxRetain", result);
    }
  });
  return driver;
}

/// Makes the primary context current for one call; false (error set) when
/// there is no usable GPU.
class ScopedContext {
public:
  ScopedContext() : driver(loadDriver()) {
    if (!driver.context) {
      setError(driver.error);
      return;
    }
    active =
        check("cuCtxPushCurrent", driver.cuCtxPushCurrent_v2(driver.context));
  }
  ~ScopedContext() {
    if (active) {
      CUcontext previous;
      driver.cuCtxPopCurrent_v2(&previous);
    }
  }
  explicit operator bool() const { return active; }
  /// Records `result` of `call` if it failed; returns whether it succeeded.
  bool check(const char *call, CUresult result) {
    if (result == kSuccess)
      return true;
    setError(describe(driver, call, result));
    return false;
  }
  Driver &driver;

private:
  bool active = false;
};

/// Why the last module load failed: a module is loaded by a global
/// constructor, maybe in another thread than the one that launches.
std::mutex moduleErrorMutex;
std::string moduleError;

/// A module that could not be loaded: its kernel lookups report why.
void *rememberModuleError() {
  std::lock_guard<std::mutex> lock(moduleErrorMutex);
  moduleError = lastError;
  return nullptr;
}

void *finishModuleLoad(ScopedContext &scope, const char *call, CUresult result,
                       CUmodule module) {
  if (scope.check(call, result))
    return module;
  return rememberModuleError();
}
} // namespace

extern "C" {

int gsRuntimeInit(void) {
  ScopedContext scope;
  return scope ? 0 : 1;
}

const char *gsRuntimeGetLastError(void) {
  return hasError ? lastError.c_str() : nullptr;
}

void gsRuntimeClearLastError(void) {
  hasError = false;
  lastError.clear();
}

void gsRuntimeSetStream(void *stream) { userStream = stream; }

void *gsRuntimeGetStream(void) { return userStream; }

int gsRuntimeSynchronize(void *stream) {
  ScopedContext scope;
  if (!scope)
    return 1;
  if (stream)
    return scope.check("cuStreamSynchronize",
                       scope.driver.cuStreamSynchronize(stream))
               ? 0
               : 1;
  return scope.check("cuCtxSynchronize", scope.driver.cuCtxSynchronize()) ? 0
                                                                          : 1;
}

void *mgpuModuleLoad(void *data, size_t /*gpuBlobSize*/) {
  ScopedContext scope;
  if (!scope)
    return rememberModuleError();
  CUmodule module = nullptr;
  CUresult result = scope.driver.cuModuleLoadData(&module, data);
  return finishModuleLoad(scope, "cuModuleLoadData", result, module);
}

void *mgpuModuleLoadJIT(void *data, int optLevel) {
  ScopedContext scope;
  if (!scope)
    return rememberModuleError();
  CUmodule module = nullptr;
  int options[] = {kJitOptimizationLevel};
  void *values[] = {reinterpret_cast<void *>(static_cast<intptr_t>(optLevel))};
  CUresult result =
      scope.driver.cuModuleLoadDataEx(&module, data, 1, options, values);
  return finishModuleLoad(scope, "cuModuleLoadDataEx", result, module);
}

void mgpuModuleUnload(void *module) {
  if (!module)
    return;
  ScopedContext scope;
  if (scope)
    scope.check("cuModuleUnload", scope.driver.cuModuleUnload(module));
}

void *mgpuModuleGetFunction(void *module, const char *name) {
  if (!module) {
    std::lock_guard<std::mutex> lock(moduleErrorMutex);
    setError(std::string("kernel '") + name +
             "': its GPU module was not loaded: " +
             (moduleError.empty() ? "unknown reason" : moduleError));
    return nullptr;
  }
  ScopedContext scope;
  if (!scope)
    return nullptr;
  CUfunction function = nullptr;
  if (!scope.check("cuModuleGetFunction",
                   scope.driver.cuModuleGetFunction(&function, module, name)))
    return nullptr;
  return function;
}

void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t /*paramsCount*/) {
  // A null function already recorded why (module or function lookup).
  if (!function)
    return;
  ScopedContext scope;
  if (!scope)
    return;
  scope.check("cuLaunchKernel",
              scope.driver.cuLaunchKernel(function, gridX, gridY, gridZ, blockX,
                                          blockY, blockZ, smem, stream, params,
                                          extra));
}

void *mgpuStreamCreate(void) {
  if (userStream)
    return userStream;
  ScopedContext scope;
  if (!scope)
    return nullptr;
  CUstream stream = nullptr;
  if (!scope.check("cuStreamCreate", scope.driver.cuStreamCreate(&stream, 0)))
    return nullptr;
  return stream;
}

void mgpuStreamDestroy(void *stream) {
  if (!stream || stream == userStream)
    return;
  ScopedContext scope;
  if (scope)
    scope.check("cuStreamDestroy", scope.driver.cuStreamDestroy_v2(stream));
}

void mgpuStreamSynchronize(void *stream) {
  // The caller's stream is the caller's to wait for.
  if (!stream || stream == userStream)
    return;
  ScopedContext scope;
  if (scope)
    scope.check("cuStreamSynchronize",
                scope.driver.cuStreamSynchronize(stream));
}

void mgpuStreamWaitEvent(void *stream, void *event) {
  ScopedContext scope;
  if (scope)
    scope.check("cuStreamWaitEvent",
                scope.driver.cuStreamWaitEvent(stream, event, 0));
}

void *mgpuEventCreate(void) {
  ScopedContext scope;
  if (!scope)
    return nullptr;
  CUevent event = nullptr;
  if (!scope.check("cuEventCreate",
                   scope.driver.cuEventCreate(&event, kEventDisableTiming)))
    return nullptr;
  return event;
}

void mgpuEventDestroy(void *event) {
  if (!event)
    return;
  ScopedContext scope;
  if (scope)
    scope.check("cuEventDestroy", scope.driver.cuEventDestroy_v2(event));
}

void mgpuEventSynchronize(void *event) {
  ScopedContext scope;
  if (scope)
    scope.check("cuEventSynchronize", scope.driver.cuEventSynchronize(event));
}

void mgpuEventRecord(void *event, void *stream) {
  ScopedContext scope;
  if (scope)
    scope.check("cuEventRecord", scope.driver.cuEventRecord(event, stream));
}

void *mgpuMemAlloc(uint64_t sizeBytes, void * /*stream*/, bool isHostShared) {
  ScopedContext scope;
  if (!scope)
    return nullptr;
  CUdeviceptr pointer = 0;
  if (sizeBytes == 0)
    return nullptr;
  bool ok = isHostShared
                ? scope.check("cuMemAllocManaged",
                              scope.driver.cuMemAllocManaged(
                                  &pointer, sizeBytes, kMemAttachGlobal))
                : scope.check("cuMemAlloc",
                              scope.driver.cuMemAlloc_v2(&pointer, sizeBytes));
  return ok ? reinterpret_cast<void *>(pointer) : nullptr;
}

void mgpuMemFree(void *ptr, void * /*stream*/) {
  if (!ptr)
    return;
  ScopedContext scope;
  if (scope)
    scope.check("cuMemFree",
                scope.driver.cuMemFree_v2(reinterpret_cast<CUdeviceptr>(ptr)));
}

void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, void *stream) {
  ScopedContext scope;
  if (scope)
    scope.check("cuMemcpyAsync",
                scope.driver.cuMemcpyAsync(reinterpret_cast<CUdeviceptr>(dst),
                                           reinterpret_cast<CUdeviceptr>(src),
                                           sizeBytes, stream));
}

void mgpuMemset32(void *dst, unsigned int value, size_t count, void *stream) {
  ScopedContext scope;
  if (scope)
    scope.check("cuMemsetD32Async",
                scope.driver.cuMemsetD32Async(
                    reinterpret_cast<CUdeviceptr>(dst), value, count, stream));
}

void mgpuMemset16(void *dst, unsigned short value, size_t count, void *stream) {
  ScopedContext scope;
  if (scope)
    scope.check("cuMemsetD16Async",
                scope.driver.cuMemsetD16Async(
                    reinterpret_cast<CUdeviceptr>(dst), value, count, stream));
}

} // extern "C"
