//===- Passes.h - gs conversion passes --------------------------*- C++ -*-===//

#ifndef GS_CONVERSION_PASSES_H
#define GS_CONVERSION_PASSES_H

#include "gs/Conversion/GSToGPU/GSToGPU.h"
#include "gs/Conversion/GSToLLVM/GSToLLVM.h"
#include "gs/Conversion/GSToLinalg/GSToLinalg.h"
#include "gs/Conversion/GSToLoops/GSToLoops.h"
#include "gs/Conversion/NVVMToEmulator/NVVMToEmulator.h"

namespace mlir::gs {
#define GEN_PASS_REGISTRATION
#include "gs/Conversion/Passes.h.inc"
} // namespace mlir::gs

#endif // GS_CONVERSION_PASSES_H
