//===- InjectPipeline.h - Stabilization of compiler-built updates -*- C++ -*-//
//
// The C++ entry point for graph compilers: adds the passes that find the
// optimizer updates in upstream IR, stabilize their gradients and fuse the
// result into gs.group_steps, to any pass manager on a builtin.module.
//
//===----------------------------------------------------------------------===//

#ifndef GS_PIPELINES_INJECTPIPELINE_H
#define GS_PIPELINES_INJECTPIPELINE_H

#include "gs/Dialect/GS/Transforms/Passes.h"

namespace mlir {
class DialectRegistry;
class OpPassManager;

namespace gs {

/// Options of the injection pipeline; the members are the passes' own
/// option structs (see the gs-inject-stabilization and gs-fuse-updates pass
/// docs).
struct GSInjectionPipelineOptions {
  GSInjectStabilizationOptions inject;
  /// Stabilize the gradients of the updates no recognizer raised
  /// (gs-stabilize-gradients, run after gs-inject-stabilization with the
  /// selection, clip and stabilizer options of `inject`).
  bool gradientLevel = true;
  /// Merge the per-tensor steps of one function into fused group steps.
  bool fuseUpdates = true;
  GSFuseUpdatesOptions fuse;
};

/// Adds to `pm` (anchored on builtin.module): gs-inject-stabilization,
/// gs-stabilize-gradients (unless `gradientLevel` is off), then
/// gs-form-group-steps on every func.func (raise each grad_norm -> stabilize
/// -> optimizer_step chain to a gs.group_step), canonicalize + CSE, then
/// gs-fuse-updates on every func.func and a final canonicalize + CSE. The
/// result still holds gs ops: follow it with the gs-to-llvm pipeline or the
/// host compiler's own lowering of gs.
void buildGSInjectionPipeline(OpPassManager &pm,
                              const GSInjectionPipelineOptions &options);

/// Dialects the pipeline reads and creates, for a host tool's registry.
void registerGSInjectionDialects(DialectRegistry &registry);

/// Registers the pipeline as `gs-inject` (with a subset of the options) and
/// the two passes with the global registry.
void registerGSInjectionPipeline();

} // namespace gs
} // namespace mlir

#endif // GS_PIPELINES_INJECTPIPELINE_H
