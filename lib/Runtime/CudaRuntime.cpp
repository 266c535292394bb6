//===- CudaRuntime.cpp - mgpu* functions over a dlopen'ed CUDA driver -----===//
//
// The CUDA driver is opened at first use (CudaDriver.h), so this library
// builds without the CUDA toolkit and loads without a GPU; kernels run on
// device 0. Every call reports failure through a thread-local message
// instead of aborting: code lowered by gpu-to-llvm has no error channel (its
// functions return void or a handle), so the caller checks
// gsRuntimeGetLastError() after a step.
//
//===----------------------------------------------------------------------===//

#include "gs-c/Runtime.h"

#include "CudaDriver.h"

#include <mutex>
#include <string>
#include <unordered_set>

using namespace gs::cuda;

namespace {
thread_local std::string lastError;
thread_local bool hasError = false;
thread_local CUstream userStream = nullptr;

void setError(std::string message) {
  lastError = std::move(message);
  hasError = true;
}

/// Makes the primary context current for one call; false (error set) when
/// there is no usable GPU.
class ScopedContext {
public:
  ScopedContext() : driver(getDriver()) {
    std::string error;
    CUcontext context = getPrimaryContext(0, error);
    if (!context) {
      setError(error);
      return;
    }
    active = check("cuCtxPushCurrent", driver.cuCtxPushCurrent_v2(context));
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
    setError(describe(call, result));
    return false;
  }
  const Driver &driver;

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

/// Device memory comes from the stream-ordered allocator where the driver
/// and device have it (CUDA 11.2): a step's table and scratch are allocated
/// and freed on its stream each call, and cuMemFree would synchronize the
/// device every time. The pointers it gave are kept, so that mgpuMemFree
/// frees each pointer as it was allocated.
class StreamOrderedMemory {
public:
  bool available(ScopedContext &scope) {
    std::call_once(probed, [&] {
      CUdevice device;
      int supported = 0;
      usable = scope.driver.cuMemAllocAsync && scope.driver.cuMemFreeAsync &&
               scope.driver.cuDeviceGet(&device, 0) == kSuccess &&
               scope.driver.cuDeviceGetAttribute(
                   &supported, kAttributeMemoryPools, device) == kSuccess &&
               supported;
    });
    return usable;
  }
  void remember(void *pointer) {
    std::lock_guard<std::mutex> lock(mutex);
    pointers.insert(pointer);
  }
  /// Whether `pointer` came from the allocator; forgets it.
  bool forget(void *pointer) {
    std::lock_guard<std::mutex> lock(mutex);
    return pointers.erase(pointer) != 0;
  }

private:
  std::once_flag probed;
  bool usable = false;
  std::mutex mutex;
  std::unordered_set<void *> pointers;
};

StreamOrderedMemory &streamOrderedMemory() {
  static StreamOrderedMemory *instance = new StreamOrderedMemory;
  return *instance;
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

void *mgpuMemAlloc(uint64_t sizeBytes, void *stream, bool isHostShared) {
  ScopedContext scope;
  if (!scope)
    return nullptr;
  CUdeviceptr pointer = 0;
  if (sizeBytes == 0)
    return nullptr;
  StreamOrderedMemory &pool = streamOrderedMemory();
  if (!isHostShared && pool.available(scope)) {
    if (!scope.check("cuMemAllocAsync",
                     scope.driver.cuMemAllocAsync(&pointer, sizeBytes, stream)))
      return nullptr;
    pool.remember(reinterpret_cast<void *>(pointer));
    return reinterpret_cast<void *>(pointer);
  }
  bool ok = isHostShared
                ? scope.check("cuMemAllocManaged",
                              scope.driver.cuMemAllocManaged(
                                  &pointer, sizeBytes, kMemAttachGlobal))
                : scope.check("cuMemAlloc",
                              scope.driver.cuMemAlloc_v2(&pointer, sizeBytes));
  return ok ? reinterpret_cast<void *>(pointer) : nullptr;
}

void mgpuMemFree(void *ptr, void *stream) {
  if (!ptr)
    return;
  ScopedContext scope;
  if (!scope)
    return;
  if (streamOrderedMemory().forget(ptr))
    scope.check("cuMemFreeAsync",
                scope.driver.cuMemFreeAsync(reinterpret_cast<CUdeviceptr>(ptr),
                                            stream));
  else
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
