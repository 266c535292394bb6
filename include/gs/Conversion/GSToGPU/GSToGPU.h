//===- GSToGPU.h - gs to fused GPU kernels ----------------------*- C++ -*-===//

#ifndef GS_CONVERSION_GSTOGPU_GSTOGPU_H
#define GS_CONVERSION_GSTOGPU_GSTOGPU_H

#include "mlir/Pass/Pass.h"

namespace mlir::gs {
#define GEN_PASS_DECL_CONVERTGSTOGPU
#define GEN_PASS_DECL_CONVERTKERNELMATHTOINTRINSICS
#include "gs/Conversion/Passes.h.inc"
} // namespace mlir::gs

#endif // GS_CONVERSION_GSTOGPU_GSTOGPU_H
