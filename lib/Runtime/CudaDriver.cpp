//===- CudaDriver.cpp - The CUDA driver API, opened at run time -----------===//

#include "CudaDriver.h"

#include <dlfcn.h>

#include <map>
#include <mutex>

namespace gs::cuda {

namespace {
/// describe() on a given driver: getDriver() itself uses it while its
/// std::call_once runs, where calling getDriver() again would deadlock.
std::string describeWith(const Driver &driver, const char *call,
                         CUresult result) {
  const char *name = nullptr, *text = nullptr;
  if (driver.cuGetErrorName)
    driver.cuGetErrorName(result, &name);
  if (driver.cuGetErrorString)
    driver.cuGetErrorString(result, &text);
  return std::string(call) + ": " +
         (name ? name : "CUDA error " + std::to_string(result)) + ": " +
         (text ? text : "unknown error");
}
} // namespace

const Driver &getDriver() {
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
#define GS_RESOLVE_OPTIONAL(name, ...)                                         \
  driver.name = reinterpret_cast<decltype(driver.name)>(dlsym(handle, #name));
    GS_CUDA_OPTIONAL_FUNCTIONS(GS_RESOLVE_OPTIONAL)
#undef GS_RESOLVE_OPTIONAL
    CUresult result = driver.cuInit(0);
    if (result != kSuccess)
      driver.error = describeWith(driver, "cuInit", result);
  });
  return driver;
}

std::string describe(const char *call, CUresult result) {
  return describeWith(getDriver(), call, result);
}

CUcontext getPrimaryContext(int ordinal, std::string &error) {
  const Driver &driver = getDriver();
  if (!driver.error.empty()) {
    error = driver.error;
    return nullptr;
  }
  static std::mutex mutex;
  static std::map<int, CUcontext> contexts;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = contexts.find(ordinal);
  if (it != contexts.end())
    return it->second;
  int count = 0;
  CUresult result = driver.cuDeviceGetCount(&count);
  if (result != kSuccess) {
    error = describe("cuDeviceGetCount", result);
    return nullptr;
  }
  if (ordinal < 0 || ordinal >= count) {
    error = "no CUDA device " + std::to_string(ordinal) + " (the machine has " +
            std::to_string(count) + ")";
    return nullptr;
  }
  CUdevice device;
  result = driver.cuDeviceGet(&device, ordinal);
  if (result != kSuccess) {
    error = describe("cuDeviceGet", result);
    return nullptr;
  }
  CUcontext context = nullptr;
  result = driver.cuDevicePrimaryCtxRetain(&context, device);
  if (result != kSuccess) {
    error = describe("cuDevicePrimaryCtxRetain", result);
    return nullptr;
  }
  contexts[ordinal] = context;
  return context;
}

} // namespace gs::cuda
