//===- main.cpp - An out-of-tree compiler using GradientStabilizer --------===//
//
// gs-compile: reads a module whose functions hold optimizer updates in
// upstream MLIR (what torch-mlir or IREE emit), stabilizes and fuses them
// with the gs injection pipeline, lowers the result to the LLVM dialect with
// gs-to-llvm, and prints it. It uses only the project's C++ API: the
// pipelines are added to this tool's own pass managers.
//
//===----------------------------------------------------------------------===//

#include "gs/Dialect/GS/IR/GSOps.h"
#include "gs/InitGS.h"
#include "gs/Pipelines/InjectPipeline.h"
#include "gs/Pipelines/Pipelines.h"

#include "mlir/IR/AsmState.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;

namespace {
enum class Emit { GS, LLVM };

llvm::cl::opt<std::string> inputFilename(llvm::cl::Positional,
                                         llvm::cl::desc("<input file>"),
                                         llvm::cl::init("-"));
llvm::cl::opt<std::string> outputFilename("o",
                                          llvm::cl::desc("Output filename"),
                                          llvm::cl::value_desc("filename"),
                                          llvm::cl::init("-"));
llvm::cl::opt<Emit>
    emit("emit", llvm::cl::desc("What to print"), llvm::cl::init(Emit::LLVM),
         llvm::cl::values(clEnumValN(Emit::GS, "gs",
                                     "the module after injection (gs ops)"),
                          clEnumValN(Emit::LLVM, "llvm",
                                     "the LLVM dialect after gs-to-llvm")));
llvm::cl::opt<std::string>
    clip("clip", llvm::cl::desc("An existing gradient clip: replace or keep"),
         llvm::cl::init("replace"));
} // namespace

/// Runs `pm` on `module`; on failure says which stage failed (the passes
/// have already reported why through the diagnostic handler).
static LogicalResult runStage(PassManager &pm, ModuleOp module,
                              StringRef stage) {
  if (failed(applyPassManagerCLOptions(pm)) || failed(pm.run(module))) {
    llvm::errs() << "gs-compile: " << stage << " failed\n";
    return failure();
  }
  return success();
}

int main(int argc, char **argv) {
  llvm::InitLLVM initLLVM(argc, argv);
  // The usual MLIR debugging flags (--mlir-print-ir-after-all, ...).
  registerAsmPrinterCLOptions();
  registerMLIRContextCLOptions();
  registerPassManagerCLOptions();
  llvm::cl::ParseCommandLineOptions(
      argc, argv, "gs-compile: stabilize and lower optimizer updates\n");

  // The dialects and interfaces both pipelines need, bufferization and
  // conversion to LLVM included.
  DialectRegistry registry;
  gs::registerGSDialects(registry);
  MLIRContext context(registry);
  // Errors point at the input's lines; a dump of the whole module would bury
  // them.
  context.printOpOnDiagnostic(false);

  std::string error;
  std::unique_ptr<llvm::MemoryBuffer> input =
      openInputFile(inputFilename, &error);
  if (!input) {
    llvm::errs() << "gs-compile: " << error << "\n";
    return 1;
  }
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(std::move(input), llvm::SMLoc());
  SourceMgrDiagnosticHandler diagnostics(sourceMgr, &context);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module) {
    llvm::errs() << "gs-compile: cannot parse '" << inputFilename << "'\n";
    return 1;
  }

  gs::GSInjectionPipelineOptions injectOptions;
  injectOptions.inject.clip = clip;
  PassManager inject(&context);
  gs::buildGSInjectionPipeline(inject, injectOptions);
  if (failed(runStage(inject, *module, "stabilization")))
    return 1;

  // An input with nothing recognized still compiles, but unstabilized: say
  // so rather than let the user believe the updates were stabilized.
  unsigned tensors = 0;
  module->walk([&](gs::GroupStepOp op) { tensors += op.getParams().size(); });
  if (tensors == 0)
    module->emitWarning("no optimizer update was recognized; run gs-opt "
                        "-gs-inject-stabilization=explain to see why");

  if (emit == Emit::LLVM) {
    PassManager lower(&context);
    gs::buildGSToLLVMPipeline(lower, gs::GSToLLVMPipelineOptions());
    if (failed(runStage(lower, *module, "lowering (gs-to-llvm)")))
      return 1;
  }

  std::unique_ptr<llvm::ToolOutputFile> output =
      openOutputFile(outputFilename, &error);
  if (!output) {
    llvm::errs() << "gs-compile: " << error << "\n";
    return 1;
  }
  module->print(output->os());
  output->os() << "\n";
  output->keep();
  return 0;
}
