//===- InPlaceBufferization.h - Bufferization shared by pipelines -*- C++ -*-//
//
// The stage every gs pipeline shares: tensors become the caller's buffers,
// updated in place.
//
//===----------------------------------------------------------------------===//

#ifndef GS_LIB_PIPELINES_INPLACEBUFFERIZATION_H
#define GS_LIB_PIPELINES_INPLACEBUFFERIZATION_H

namespace mlir {
class OpPassManager;

namespace gs {
/// One-shot bufferization across function boundaries with identity layouts
/// (function arguments are the caller's contiguous buffers), then the
/// results that alias an argument dropped: they are the in-place update of
/// that argument, which the caller already holds. Upstream drops them for
/// private functions only; public ones keep their signature.
void buildInPlaceBufferization(OpPassManager &pm);
} // namespace gs
} // namespace mlir

#endif // GS_LIB_PIPELINES_INPLACEBUFFERIZATION_H
