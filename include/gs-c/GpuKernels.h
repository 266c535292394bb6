/*===- GpuKernels.h - Prebuilt generic NVIDIA GPU kernels ---------*- C -*-===*\
|*                                                                            *|
|* libgs_gpu_kernels runs a GradientStabilizer step of any number of tensors  *|
|* on an NVIDIA GPU with kernels the project's build compiled ahead of time   *|
|* from gs.multi_tensor_step (lib/Runtime/generate_step_kernels.py, the same  *|
|* set as the CPU kernels of CpuKernels.h): PTX for sm_80 and newer, plus     *|
|* cubins for sm_80 and sm_90 when the build had ptxas. Nothing is compiled   *|
|* at run time beyond the driver's own PTX JIT, and neither libMLIR nor       *|
|* libLLVM is loaded; the CUDA driver is opened at first use.                 *|
|*                                                                            *|
|* A step is three launches on the caller's stream, in order: `norms` and     *|
|* `update` over all chunks of all tensors, `scalars` in one block. Nothing  *|
|* waits for the device: the GS state, scratch, loss scale and found-inf     *|
|* flag all stay in device memory. Results are bitwise the same for any     *|
|* grid size (the environment variable GS_GPU_MAX_BLOCKS, read at each       *|
|* launch, caps it; default 8 blocks per multiprocessor), and the same as    *|
|* the CPU kernels' up to the rounding of fused multiply-adds.               *|
|*                                                                            *|
|* Errors: every function returns 0 on success; otherwise nothing was        *|
|* launched and gsGpuLastError() describes the problem (per thread).         *|
\*===----------------------------------------------------------------------===*/

#ifndef GS_C_GPUKERNELS_H
#define GS_C_GPUKERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Elements per chunk (as GS_CPU_CHUNK_SIZE) and f32 record words per
/// tensor.
#define GS_GPU_CHUNK_SIZE 16384
#define GS_GPU_RECORD_WORDS 16

/// The buffers of one step. Buffers are device addresses (0: absent), all
/// caller-owned, so steps on different scratch are independent.
typedef struct GSGpuStepArgs {
  /// N, and the columns of the table: 3 + the optimizer's moments.
  int64_t numTensors, tableWidth;
  /// Device copies of the table (row t: [numel, param, grad, moment 0, ...],
  /// addresses of contiguous device buffers of the kernels' element type)
  /// and of the N + 1 chunk offsets (prefix sums of ceil(numel /
  /// GS_GPU_CHUNK_SIZE)).
  uint64_t table, chunkOffsets;
  /// Host copies of the same two arrays: the runtime checks them and sizes
  /// the grid from them without reading device memory. They must hold what
  /// the device copies hold.
  const int64_t *hostTable, *hostChunkOffsets;
  /// f64 [lr, weight_decay, gamma1, gamma2, eps, optimizer hyperparameters].
  uint64_t hyper;
  int64_t hyperSize;
  /// GS state, f64 N x 2, i64 N x 2 and i64 N: updated in place.
  uint64_t stats, counts, steps;
  /// Scratch: f64 x partialsSize (>= chunkOffsets[N]) and f32 x recordsSize
  /// (>= N * GS_GPU_RECORD_WORDS).
  uint64_t partials, records;
  int64_t partialsSize, recordsSize;
  /// Loss scaling (0-d f32 on the device): both for an "_amp" scalars
  /// kernel, foundInf alone for "_foundinf", neither for "_noamp".
  uint64_t invScale, foundInf;
} GSGpuStepArgs;

/// Launches a whole step on `stream` (a CUstream; null: the legacy default
/// stream) of device `device` (a CUDA ordinal), in that device's primary
/// context, the one the CUDA runtime and PyTorch use. Checks everything
/// first (kernels exist and fit each other and the tables; chunk offsets
/// agree with the element counts; addresses non-null and aligned; scratch
/// large enough); on an error nothing is launched.
int gsGpuRunStep(const char *norms, const char *scalars, const char *update,
                 const GSGpuStepArgs *args, int device, void *stream);

/// Launches one kernel (any kind) with the same checks; for runtimes that
/// put work between the phases, e.g. an all-reduce of the norms.
int gsGpuRunKernel(const char *kernel, const GSGpuStepArgs *args, int device,
                   void *stream);

/// 1 when a kernel named `name` is built in, else 0.
int gsGpuHasKernel(const char *name);

/// Which image of the kernels device `device` runs, loading it if needed:
/// e.g. "cubin sm_90", "PTX sm_80 (JIT)", or "emulator"; NULL (with the
/// error set) when the device cannot load any.
const char *gsGpuKernelImage(int device);

/// The last error of this thread, or "".
const char *gsGpuLastError(void);

#ifdef __cplusplus
}
#endif

#endif /* GS_C_GPUKERNELS_H */
