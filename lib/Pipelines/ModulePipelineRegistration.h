//===- ModulePipelineRegistration.h - Module pipelines ----------*- C++ -*-===//
//
// PassPipelineRegistration for pipelines that must run on a builtin.module.
//
//===----------------------------------------------------------------------===//

#ifndef GS_LIB_PIPELINES_MODULEPIPELINEREGISTRATION_H
#define GS_LIB_PIPELINES_MODULEPIPELINEREGISTRATION_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include <functional>
#include <string>

namespace mlir::gs {
/// Registers pipeline `name` as PassPipelineRegistration does, but makes bad
/// uses parse errors: nested under anything but a module, adding its module
/// passes would be a fatal error in OpPassManager::addPass that aborts the
/// host process (gs-opt, the C API's caller). `check`, when given, returns
/// an error message for options the pipeline refuses, or an empty string.
template <typename Options>
void registerModulePipeline(
    StringRef name, StringRef description,
    std::function<void(OpPassManager &, const Options &)> builder,
    std::function<std::string(const Options &)> check = {}) {
  std::string arg = name.str();
  registerPassPipeline(
      name, description,
      [arg, builder,
       check](OpPassManager &pm, StringRef optionsText,
              function_ref<LogicalResult(const Twine &)> errorHandler) {
        Options options;
        if (failed(options.parseFromString(optionsText)))
          return failure();
        StringRef anchor = pm.getOpAnchorName();
        if (anchor != ModuleOp::getOperationName() &&
            anchor != OpPassManager::getAnyOpAnchorName())
          return errorHandler(arg +
                              " runs on a builtin.module, not nested on '" +
                              anchor + "'");
        if (check) {
          std::string message = check(options);
          if (!message.empty())
            return errorHandler(arg + ": " + message);
        }
        builder(pm, options);
        return success();
      },
      [](function_ref<void(const detail::PassOptions &)> optionsHandler) {
        optionsHandler(Options());
      });
}
} // namespace mlir::gs

#endif // GS_LIB_PIPELINES_MODULEPIPELINEREGISTRATION_H
