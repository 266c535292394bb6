//===- StepChecks.h - Pre-launch checks of a multi-tensor step --*- C++ -*-===//
//
// The prebuilt CPU and GPU kernels take the same tables (generate_step_
// kernels.py); both runtimes check a step with these functions before any
// kernel runs, so a bad table is an error, never an out-of-bounds access.
// Errors go to a per-thread message (one per runtime library).
//
//===----------------------------------------------------------------------===//

#ifndef GS_LIB_RUNTIME_STEPCHECKS_H
#define GS_LIB_RUNTIME_STEPCHECKS_H

#include <cstdint>
#include <string>

namespace gs::runtime {

/// Elements per chunk and f32 record words per tensor of every prebuilt
/// kernel (MultiTensorStepOp::kDefaultChunkSize, kRecordWords).
constexpr int64_t kChunkSize = 16384;
constexpr int64_t kRecordWords = 16;

enum class Kind { Norms, Scalars, Update };

/// What a kernel expects, from the generated kernel table.
struct KernelInfo {
  const char *name;
  Kind kind;
  int moments;         // -1: any (norms)
  int hyperparameters; // -1: any (norms)
  int elementBytes;    // 0: none (scalars)
  /// Loss scaling of a scalars kernel: 0 none, 1 invScale and foundInf,
  /// 2 foundInf alone.
  int amp;
};

/// A step's tables as the checks see them: host memory the checks may read
/// (on the GPU, the host copies of what the device holds).
struct StepShape {
  int64_t numTensors, tableWidth;
  const int64_t *table, *chunkOffsets;
  int64_t hyperSize, partialsSize, recordsSize;
  bool hasInvScale, hasFoundInf;
};

/// This thread's last error ("" after a success).
std::string &lastError();

/// Sets lastError() from a printf format; returns 1.
int fail(const char *format, ...) __attribute__((format(printf, 1, 2)));

/// `kernel` (looked up by `name`, null if unknown) is a `kind` kernel of the
/// `target` ("CPU", "GPU") runtime.
int checkKernel(const KernelInfo *kernel, const char *name, Kind kind,
                const char *target);

/// The three kernels of a step fit each other.
int checkStepKernels(const KernelInfo &norms, const KernelInfo &scalars,
                     const KernelInfo &update);

/// `shape` fits `kernel`: table width, hyperparameters, loss scaling.
int checkFits(const KernelInfo &kernel, const StepShape &shape);

/// The tables themselves: counts, chunk offsets that agree with the element
/// counts, non-null addresses aligned to `elementBytes` (0: the kernel reads
/// no tensor data), scratch large enough.
int checkTables(const StepShape &shape, int elementBytes);

} // namespace gs::runtime

#endif // GS_LIB_RUNTIME_STEPCHECKS_H
