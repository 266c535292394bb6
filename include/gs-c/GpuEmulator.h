/*===- gs-c/GpuEmulator.h - Run NVVM kernels on the CPU -----------*- C -*-===*\
|*                                                                            *|
|* The runtime of code lowered by gs-to-gpu-emulator                          *|
|* (convert-nvvm-kernels-to-emulator): kernels run on the host, one block at  *|
|* a time, each of its threads a fiber that yields at barriers and shuffles,  *|
|* so the kernels' reductions and synchronization execute as on the GPU.      *|
|* "Device" buffers are host memory. Nothing aborts: a failure (bad launch    *|
|* configuration, a deadlock, a divergent shuffle) stops the launch, leaves a *|
|* message in gsEmuGetLastError(), and later launches are skipped until       *|
|* gsEmuClearLastError(), as a CUDA context stays failed.                     *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef GS_C_GPU_EMULATOR_H
#define GS_C_GPU_EMULATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The first error of this thread since the last clear, or NULL. */
const char *gsEmuGetLastError(void);
void gsEmuClearLastError(void);

/* Launches: `entry(params)` runs once per thread; params[i] points to the
 * value of the kernel's i-th parameter. */
void gsEmuLaunch(void (*entry)(void **), int64_t gridX, int64_t gridY,
                 int64_t gridZ, int64_t blockX, int64_t blockY, int64_t blockZ,
                 int32_t sharedBytes, void **params);

/* Kernel side. Special registers by code: 0-2 tid.x/y/z, 3-5 ntid, 6-8 ctaid,
 * 9-11 nctaid, 12 laneid, 13 warpsize. */
int32_t gsEmuSpecialRegister(int32_t code);
/* shfl.sync of PTX; `site` identifies the instruction. Returns the value in
 * the low 32 bits and whether the source lane was in range in bit 32. */
int64_t gsEmuShuffle(int32_t site, int32_t kind, int32_t mask, int32_t value,
                     int32_t offset, int32_t maskAndClamp);
/* bar.sync 0 of all threads of the block. */
void gsEmuBarrier(int32_t site);
/* The launch contract of a kernel compiled for blocks of x * y * z threads,
 * checked by its entry: exactly (`exact`: gpu.known_block_size, reqntid) or
 * at most that many (maxntid). Returns 1 if the launch keeps it; else fails
 * the launch and returns 0 (the thread then returns). */
int32_t gsEmuCheckBlockSize(int32_t x, int32_t y, int32_t z, int32_t exact);
/* A shared-memory variable of the kernel, named by its entry: the first call
 * of each block fills it with 0xFF bytes, as shared memory starts a block
 * undefined (one host variable serves every block). */
void gsEmuSharedMemory(void *address, int64_t bytes);

/* The mgpu* host functions gpu-to-llvm calls, renamed. Streams and events
 * are placeholders: every launch completes before it returns. */
void *gsEmuStreamCreate(void);
void gsEmuStreamDestroy(void *stream);
void gsEmuStreamSynchronize(void *stream);
void gsEmuStreamWaitEvent(void *stream, void *event);
void *gsEmuEventCreate(void);
void gsEmuEventDestroy(void *event);
void gsEmuEventSynchronize(void *event);
void gsEmuEventRecord(void *event, void *stream);
void *gsEmuMemAlloc(uint64_t sizeBytes, void *stream, bool isHostShared);
void gsEmuMemFree(void *ptr, void *stream);
void gsEmuMemcpy(void *dst, void *src, size_t sizeBytes, void *stream);
void gsEmuMemset32(void *dst, unsigned int value, size_t count, void *stream);
void gsEmuMemset16(void *dst, unsigned short value, size_t count, void *stream);

#ifdef __cplusplus
}
#endif

#endif /* GS_C_GPU_EMULATOR_H */
