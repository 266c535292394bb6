//===- GSToLoops.h - gs to vectorized loops ---------------------*- C++ -*-===//

#ifndef GS_CONVERSION_GSTOLOOPS_GSTOLOOPS_H
#define GS_CONVERSION_GSTOLOOPS_GSTOLOOPS_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;

namespace gs {
#define GEN_PASS_DECL_CONVERTGSTOLOOPS
#include "gs/Conversion/Passes.h.inc"

/// The widest vector-width the lowering accepts: 256 f32 lanes (the norm
/// uses twice as many f64 lanes) is far beyond any CPU, and a bound keeps
/// vector sizes from overflowing.
constexpr unsigned kMaxVectorWidth = 256;

/// Adds the patterns that lower every gs op to vectorized loops on tensors,
/// `vectorWidth` elements at a time, 1 <= vectorWidth <= kMaxVectorWidth.
void populateGSToLoopsConversionPatterns(RewritePatternSet &patterns,
                                         unsigned vectorWidth);
/// Adds the pattern that lowers gs.multi_tensor_step to loops on its
/// buffers (each phase one loop nest over the run-time chunk table).
void populateMultiTensorStepToLoopsPatterns(RewritePatternSet &patterns,
                                            unsigned vectorWidth);
} // namespace gs
} // namespace mlir

#endif // GS_CONVERSION_GSTOLOOPS_GSTOLOOPS_H
