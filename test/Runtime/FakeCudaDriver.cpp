//===- FakeCudaDriver.cpp - A stand-in CUDA driver, for tests -------------===//
//
// Built as libcuda.so.1. By default it has no device: every entry point
// fails as the real driver does on a machine without a GPU
// (CUDA_ERROR_NO_DEVICE). With GS_FAKE_CUDA_DEVICE=MAJOR.MINOR it has one
// device of that compute capability whose contexts work but which runs no
// code: loading a module fails with CUDA_ERROR_NO_BINARY_FOR_GPU, so a test
// sees which kernel image a runtime picked for that device.
//
//===----------------------------------------------------------------------===//

#include <cstdio>
#include <cstdlib>

extern "C" {
static const int kNoDevice = 100;
static const int kNoBinaryForGpu = 209;

static bool fakeDevice(int *major, int *minor) {
  const char *text = std::getenv("GS_FAKE_CUDA_DEVICE");
  return text && std::sscanf(text, "%d.%d", major, minor) == 2;
}

int cuGetErrorName(int error, const char **name) {
  *name = error == kNoDevice         ? "CUDA_ERROR_NO_DEVICE"
          : error == kNoBinaryForGpu ? "CUDA_ERROR_NO_BINARY_FOR_GPU"
                                     : "CUDA_ERROR_UNKNOWN";
  return 0;
}
int cuGetErrorString(int error, const char **text) {
  *text = error == kNoDevice ? "no CUDA-capable device is detected"
          : error == kNoBinaryForGpu
              ? "no kernel image is available for execution on the device"
              : "unknown error";
  return 0;
}

// With a fake device: the calls that find it and enter its context.
int cuInit(unsigned) {
  int major, minor;
  return fakeDevice(&major, &minor) ? 0 : kNoDevice;
}
int cuDeviceGetCount(int *count) {
  int major, minor;
  if (!fakeDevice(&major, &minor))
    return kNoDevice;
  *count = 1;
  return 0;
}
int cuDeviceGet(int *device, int ordinal) {
  int major, minor;
  if (!fakeDevice(&major, &minor) || ordinal != 0)
    return kNoDevice;
  *device = 0;
  return 0;
}
int cuDeviceGetAttribute(int *value, int attribute, int) {
  int major, minor;
  if (!fakeDevice(&major, &minor))
    return kNoDevice;
  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR / _MINOR; else (e.g. the
  // multiprocessor count) 1.
  *value = attribute == 75 ? major : attribute == 76 ? minor : 1;
  return 0;
}
static int fakeContext;
int cuDevicePrimaryCtxRetain(void **context, int) {
  int major, minor;
  if (!fakeDevice(&major, &minor))
    return kNoDevice;
  *context = &fakeContext;
  return 0;
}
int cuCtxPushCurrent_v2(void *) {
  int major, minor;
  return fakeDevice(&major, &minor) ? 0 : kNoDevice;
}
int cuCtxPopCurrent_v2(void **context) {
  int major, minor;
  if (!fakeDevice(&major, &minor))
    return kNoDevice;
  *context = &fakeContext;
  return 0;
}
int cuModuleLoadData(...) {
  int major, minor;
  return fakeDevice(&major, &minor) ? kNoBinaryForGpu : kNoDevice;
}
int cuModuleLoadDataEx(...) {
  int major, minor;
  return fakeDevice(&major, &minor) ? kNoBinaryForGpu : kNoDevice;
}

#define GS_FAIL(name)                                                          \
  int name(...) { return kNoDevice; }
GS_FAIL(cuCtxSynchronize)
GS_FAIL(cuModuleUnload)
GS_FAIL(cuModuleGetFunction)
GS_FAIL(cuLaunchKernel)
GS_FAIL(cuStreamCreate)
GS_FAIL(cuStreamDestroy_v2)
GS_FAIL(cuStreamSynchronize)
GS_FAIL(cuStreamWaitEvent)
GS_FAIL(cuEventCreate)
GS_FAIL(cuEventDestroy_v2)
GS_FAIL(cuEventSynchronize)
GS_FAIL(cuEventRecord)
GS_FAIL(cuMemAlloc_v2)
GS_FAIL(cuMemAllocManaged)
GS_FAIL(cuMemFree_v2)
GS_FAIL(cuMemcpyAsync)
GS_FAIL(cuMemsetD32Async)
GS_FAIL(cuMemsetD16Async)
#undef GS_FAIL
}
