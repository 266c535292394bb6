//===- StepChecks.cpp - Pre-launch checks of a multi-tensor step ----------===//

#include "StepChecks.h"

#include <cstdarg>
#include <cstdio>

namespace gs::runtime {

std::string &lastError() {
  static thread_local std::string error;
  return error;
}

int fail(const char *format, ...) {
  char buffer[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buffer, sizeof(buffer), format, args);
  va_end(args);
  lastError() = buffer;
  return 1;
}

static const char *kindName(Kind kind) {
  switch (kind) {
  case Kind::Norms:
    return "norms";
  case Kind::Scalars:
    return "scalars";
  case Kind::Update:
    return "update";
  }
  return "?";
}

int checkKernel(const KernelInfo *kernel, const char *name, Kind kind,
                const char *target) {
  if (!kernel)
    return fail("no prebuilt %s kernel named '%s'", target,
                name ? name : "(null)");
  if (kernel->kind != kind)
    return fail("kernel '%s' is not a %s kernel", name, kindName(kind));
  return 0;
}

int checkStepKernels(const KernelInfo &norms, const KernelInfo &scalars,
                     const KernelInfo &update) {
  if (norms.elementBytes != update.elementBytes)
    return fail("kernels '%s' and '%s' are for different element types",
                norms.name, update.name);
  if (scalars.moments != update.moments ||
      scalars.hyperparameters != update.hyperparameters)
    return fail("kernels '%s' and '%s' are for different optimizers",
                scalars.name, update.name);
  return 0;
}

int checkFits(const KernelInfo &kernel, const StepShape &shape) {
  if (kernel.moments >= 0 && shape.tableWidth != 3 + kernel.moments)
    return fail("kernel '%s' takes a table of %d columns (numel, param, grad "
                "and %d moments), got %lld",
                kernel.name, 3 + kernel.moments, kernel.moments,
                static_cast<long long>(shape.tableWidth));
  if (kernel.hyperparameters >= 0 &&
      shape.hyperSize < 5 + kernel.hyperparameters)
    return fail("kernel '%s' reads %d hyperparameters, got %lld", kernel.name,
                5 + kernel.hyperparameters,
                static_cast<long long>(shape.hyperSize));
  if (kernel.kind == Kind::Scalars) {
    bool wantsInvScale = kernel.amp == 1, wantsFoundInf = kernel.amp != 0;
    if (wantsInvScale != shape.hasInvScale)
      return fail(wantsInvScale ? "kernel '%s' needs invScale"
                                : "kernel '%s' takes no invScale",
                  kernel.name);
    if (wantsFoundInf != shape.hasFoundInf)
      return fail(wantsFoundInf ? "kernel '%s' needs foundInf"
                                : "kernel '%s' takes no foundInf",
                  kernel.name);
  }
  return 0;
}

int checkTables(const StepShape &shape, int elementBytes) {
  int64_t n = shape.numTensors;
  if (n < 0)
    return fail("numTensors is negative (%lld)", static_cast<long long>(n));
  if (shape.tableWidth < 3)
    return fail("tableWidth must be at least 3, got %lld",
                static_cast<long long>(shape.tableWidth));
  if (!shape.chunkOffsets)
    return fail("chunkOffsets is null");
  if (n > 0 && !shape.table)
    return fail("table is null");
  if (shape.chunkOffsets[0] != 0)
    return fail("chunkOffsets[0] must be 0, got %lld",
                static_cast<long long>(shape.chunkOffsets[0]));
  for (int64_t t = 0; t < n; ++t) {
    const int64_t *row = shape.table + t * shape.tableWidth;
    int64_t numel = row[0];
    if (numel < 0)
      return fail("tensor %lld: negative element count %lld",
                  static_cast<long long>(t), static_cast<long long>(numel));
    int64_t chunks = numel / kChunkSize + (numel % kChunkSize != 0);
    int64_t have = shape.chunkOffsets[t + 1] - shape.chunkOffsets[t];
    if (have != chunks)
      return fail("tensor %lld: chunkOffsets give %lld chunks but %lld "
                  "elements need %lld",
                  static_cast<long long>(t), static_cast<long long>(have),
                  static_cast<long long>(numel),
                  static_cast<long long>(chunks));
    if (numel == 0 || elementBytes == 0)
      continue;
    for (int64_t column = 1; column < shape.tableWidth; ++column) {
      int64_t address = row[column];
      if (address == 0)
        return fail("tensor %lld: column %lld (%s) is a null address",
                    static_cast<long long>(t), static_cast<long long>(column),
                    column == 1   ? "param"
                    : column == 2 ? "grad"
                                  : "moment");
      if (address % elementBytes != 0)
        return fail("tensor %lld: column %lld address 0x%llx is not aligned "
                    "to its %d-byte elements",
                    static_cast<long long>(t), static_cast<long long>(column),
                    static_cast<unsigned long long>(address), elementBytes);
    }
  }
  int64_t numChunks = shape.chunkOffsets[n];
  if (shape.partialsSize < numChunks)
    return fail("partials scratch holds %lld doubles, the step needs %lld "
                "(one per chunk)",
                static_cast<long long>(shape.partialsSize),
                static_cast<long long>(numChunks));
  if (shape.recordsSize < n * kRecordWords)
    return fail("records scratch holds %lld floats, the step needs %lld",
                static_cast<long long>(shape.recordsSize),
                static_cast<long long>(n * kRecordWords));
  return 0;
}

} // namespace gs::runtime
