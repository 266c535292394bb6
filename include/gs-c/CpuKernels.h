/*===- CpuKernels.h - Prebuilt generic CPU kernels ----------------*- C -*-===*\
|*                                                                            *|
|* libgs_cpu_kernels runs a GradientStabilizer step of any number of tensors  *|
|* with kernels the project's build compiled ahead of time from              *|
|* gs.multi_tensor_step (lib/Runtime/generate_step_kernels.py): nothing is    *|
|* compiled at run time and neither libMLIR nor libLLVM is loaded. Tensors   *|
|* are rows of a table of addresses; hyperparameters are values, so one      *|
|* kernel serves every model and setting.                                    *|
|*                                                                            *|
|* A step is three kernels: `norms` (one per element type), `scalars` (one   *|
|* per optimizer structure, non-finite policy, bias correction and AMP) and  *|
|* `update` (one per optimizer structure, element type and zeroing). Kernel  *|
|* names are those of generate_step_kernels.py, e.g. "gs_norms_bf16",         *|
|* "gs_scalars_adamw_skip_bc_noamp", "gs_update_adamw_bf16_keep".           *|
|*                                                                            *|
|* Results are bitwise the same for any thread count and any instruction    *|
|* set the library picked: a chunk is summed in one fixed order and a        *|
|* tensor's chunk sums are added in chunk order.                             *|
|*                                                                            *|
|* Errors: every function returns 0 on success; otherwise nothing was run    *|
|* and gsCpuLastError() describes the problem (per thread).                  *|
\*===----------------------------------------------------------------------===*/

#ifndef GS_C_CPUKERNELS_H
#define GS_C_CPUKERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Elements per chunk, the unit of work of one thread; chunk_offsets[t+1] -
/// chunk_offsets[t] must be ceil(numel[t] / GS_CPU_CHUNK_SIZE).
#define GS_CPU_CHUNK_SIZE 16384
/// f32 words of `records` scratch per tensor.
#define GS_CPU_RECORD_WORDS 16

/// The buffers of one step; all are caller-owned, so concurrent steps on
/// different scratch are independent.
typedef struct GSCpuStepArgs {
  /// N, and the columns of `table`: 3 + the optimizer's moments.
  int64_t numTensors, tableWidth;
  /// Row t: [numel, param, grad, moment 0, ...]; addresses of contiguous
  /// buffers of the kernels' element type.
  const int64_t *table;
  /// N + 1 prefix sums of ceil(numel / GS_CPU_CHUNK_SIZE).
  const int64_t *chunkOffsets;
  /// [lr, weight_decay, gamma1, gamma2, eps, optimizer hyperparameters...].
  const double *hyper;
  int64_t hyperSize;
  /// GS state, N x 2, N x 2 and N: updated in place.
  double *stats;
  int64_t *counts;
  int64_t *steps;
  /// Scratch: at least chunkOffsets[N] doubles and N * GS_CPU_RECORD_WORDS
  /// floats.
  double *partials;
  int64_t partialsSize;
  float *records;
  int64_t recordsSize;
  /// Loss scaling (0-d f32 values): both given exactly for an "_amp"
  /// scalars kernel, foundInf alone for a "_foundinf" one, neither for
  /// "_noamp".
  const float *invScale, *foundInf;
} GSCpuStepArgs;

/// Runs a whole step: `norms` on `numThreads` threads, `scalars` on one,
/// `update` on `numThreads`. Checks everything first (kernels exist and fit
/// each other and the table; chunk offsets agree with the element counts;
/// addresses are non-null and aligned; scratch is large enough); on an error
/// nothing is written. Without loss scaling the three may run window by
/// window: consecutive tensors spanning at most GS_CPU_WINDOW_BYTES of
/// gradients per thread (0: the whole table at once; default 256 KiB on one
/// thread, 0 on more; a malformed value is an error), so the update reads
/// gradients the norms pass left in the cache. Windows change no bit
/// (tensors are independent).
int gsCpuRunStep(const char *norms, const char *scalars, const char *update,
                 const GSCpuStepArgs *args, int numThreads);

/// Runs one kernel (any kind) on `numThreads` threads (scalars: one), with
/// the same checks; for runtimes that put work between the phases, e.g. a
/// reduction of the norms across processes.
int gsCpuRunKernel(const char *kernel, const GSCpuStepArgs *args,
                   int numThreads);

/// 1 when a kernel named `name` is built in, else 0.
int gsCpuHasKernel(const char *name);

/// The instruction set the kernels run with ("x86-64", "x86-64-v3",
/// "x86-64-v4"); GS_CPU_ISA set to one of those (no wider than the CPU
/// supports) forces it.
const char *gsCpuKernelISA(void);

/// The last error of this thread, or "".
const char *gsCpuLastError(void);

#ifdef __cplusplus
}
#endif

#endif /* GS_C_CPUKERNELS_H */
