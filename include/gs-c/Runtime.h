/*===- gs-c/Runtime.h - Host runtime of the gs GPU kernels ---------*- C
-*-===*\
|*                                                                            *|
|* The functions that code lowered by gs-to-nvvm (upstream gpu-to-llvm) calls *|
|* to load its kernels and launch them, implemented over the CUDA driver API  *|
|* loaded with dlopen("libcuda.so.1") at run time: the library links nothing  *|
|* of CUDA and loads on machines without a GPU. No function aborts: failures  *|
|* return NULL or a nonzero status and leave CUDA's own message in            *|
|* gsRuntimeGetLastError() (per thread).                                      *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef GS_C_RUNTIME_H
#define GS_C_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Loads the driver and retains the primary context of device 0. Returns 0
 * when a GPU is usable, nonzero otherwise (no driver, no device, ...). Every
 * other function initializes on first use as well. */
int gsRuntimeInit(void);

/* The last error of this thread ("cuModuleLoadData: CUDA_ERROR_INVALID_IMAGE:
 * device kernel image is invalid", ...), or NULL. */
const char *gsRuntimeGetLastError(void);
void gsRuntimeClearLastError(void);

/* Makes this thread's steps run on `stream` (a CUstream, e.g. PyTorch's
 * current stream); NULL restores the default, a stream per step. The caller
 * owns that stream: steps neither destroy nor synchronize it, so they return
 * without waiting for the GPU, and ordering with the caller's other work on
 * the stream is the stream's. */
void gsRuntimeSetStream(void *stream);
void *gsRuntimeGetStream(void);

/* Waits for `stream` (NULL: the whole context) and reports any error of the
 * work queued on it. Returns 0 on success. */
int gsRuntimeSynchronize(void *stream);

/* The upstream ABI (mlir/lib/ExecutionEngine/CudaRuntimeWrappers.cpp) that
 * gpu-to-llvm and gpu-module-to-binary lower to. Handles are CUmodule,
 * CUfunction, CUstream and CUevent. */
void *mgpuModuleLoad(void *data, size_t gpuBlobSize);
void *mgpuModuleLoadJIT(void *data, int optLevel);
void mgpuModuleUnload(void *module);
void *mgpuModuleGetFunction(void *module, const char *name);
void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t paramsCount);
void *mgpuStreamCreate(void);
void mgpuStreamDestroy(void *stream);
void mgpuStreamSynchronize(void *stream);
void mgpuStreamWaitEvent(void *stream, void *event);
void *mgpuEventCreate(void);
void mgpuEventDestroy(void *event);
void mgpuEventSynchronize(void *event);
void mgpuEventRecord(void *event, void *stream);
void *mgpuMemAlloc(uint64_t sizeBytes, void *stream, bool isHostShared);
void mgpuMemFree(void *ptr, void *stream);
void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, void *stream);
void mgpuMemset32(void *dst, unsigned int value, size_t count, void *stream);
void mgpuMemset16(void *dst, unsigned short value, size_t count, void *stream);

#ifdef __cplusplus
}
#endif

#endif /* GS_C_RUNTIME_H */
