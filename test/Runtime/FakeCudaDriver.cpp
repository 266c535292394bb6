//===- FakeCudaDriver.cpp - A CUDA driver without devices, for tests ------===//
//
// Built as libcuda.so.1: every entry point fails as the real driver does on
// a machine without a GPU (CUDA_ERROR_NO_DEVICE).
//
//===----------------------------------------------------------------------===//

extern "C" {
static const int kNoDevice = 100;

int cuGetErrorName(int error, const char **name) {
  *name = error == kNoDevice ? "CUDA_ERROR_NO_DEVICE" : "CUDA_ERROR_UNKNOWN";
  return 0;
}
int cuGetErrorString(int error, const char **text) {
  *text = error == kNoDevice ? "no CUDA-capable device is detected"
                             : "unknown error";
  return 0;
}

#define GS_FAIL(name)                                                          \
  int name(...) { return kNoDevice; }
GS_FAIL(cuInit)
GS_FAIL(cuDeviceGet)
GS_FAIL(cuDeviceGetCount)
GS_FAIL(cuDeviceGetAttribute)
GS_FAIL(cuDevicePrimaryCtxRetain)
GS_FAIL(cuCtxPushCurrent_v2)
GS_FAIL(cuCtxPopCurrent_v2)
GS_FAIL(cuCtxSynchronize)
GS_FAIL(cuModuleLoadData)
GS_FAIL(cuModuleLoadDataEx)
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
