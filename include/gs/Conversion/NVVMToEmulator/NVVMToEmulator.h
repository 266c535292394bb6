//===- NVVMToEmulator.h - NVVM kernels run by the host emulator -*- C++ -*-===//

#ifndef GS_CONVERSION_NVVMTOEMULATOR_NVVMTOEMULATOR_H
#define GS_CONVERSION_NVVMTOEMULATOR_NVVMTOEMULATOR_H

#include "mlir/Pass/Pass.h"

namespace mlir::gs {
#define GEN_PASS_DECL_CONVERTNVVMKERNELSTOEMULATOR
#include "gs/Conversion/Passes.h.inc"
} // namespace mlir::gs

#endif // GS_CONVERSION_NVVMTOEMULATOR_NVVMTOEMULATOR_H
