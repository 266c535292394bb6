//===- gs-opt.cpp - The gs optimizer driver -------------------------------===//
//
// mlir-opt for the gs dialect: parses, verifies and transforms IR with the gs
// passes and pipelines and the upstream ones they are built from.
//
// MLIR recurses once per level of nesting, so, unlike mlir-opt, gs-opt
// refuses input nested deeper than gs::kMaxNestingDepth and runs on threads
// whose stack holds that depth (gs/Support/InputLimits.h).
//
//===----------------------------------------------------------------------===//

#include "gs/InitGS.h"
#include "gs/Support/InputLimits.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Support/FileUtilities.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <pthread.h>

using namespace mlir;

/// Threads started from now on (those of MLIR's thread pool, which run
/// nested passes) get the large stack too.
static void setDefaultThreadStack() {
#ifdef __GLIBC__
  pthread_attr_t attributes;
  if (pthread_attr_init(&attributes) != 0)
    return;
  if (pthread_attr_setstacksize(&attributes, gs::kLargeStackBytes) == 0)
    pthread_setattr_default_np(&attributes);
  pthread_attr_destroy(&attributes);
#endif
}

int main(int argc, char **argv) {
  DialectRegistry registry;
  gs::registerGSDialects(registry);
  gs::registerGSPasses();
  auto [inputFilename, outputFilename] = registerAndParseCLIOptions(
      argc, argv, "GradientStabilizer optimizer driver\n", registry);
  MlirOptMainConfig config = MlirOptMainConfig::createFromCLOptions();
  // These read no input.
  if (config.shouldShowDialects() || config.shouldListPasses())
    return asMainReturnCode(
        MlirOptMain(argc, argv, inputFilename, outputFilename, registry));

  llvm::InitLLVM init(argc, argv);
  std::string error;
  std::unique_ptr<llvm::MemoryBuffer> input =
      openInputFile(inputFilename, &error);
  if (!input) {
    llvm::errs() << error << "\n";
    return EXIT_FAILURE;
  }
  if (!gs::isBytecode(input->getBuffer())) {
    if (std::optional<gs::NestingViolation> violation =
            gs::findRefusedInput(input->getBuffer())) {
      llvm::errs() << inputFilename << ":" << violation->line << ":"
                   << violation->column << ": error: " << violation->message
                   << "\n";
      return EXIT_FAILURE;
    }
  }
  std::unique_ptr<llvm::ToolOutputFile> output =
      openOutputFile(outputFilename, &error);
  if (!output) {
    llvm::errs() << error << "\n";
    return EXIT_FAILURE;
  }

  setDefaultThreadStack();
  LogicalResult result = failure();
  if (failed(gs::runWithLargeStack(
          [&] {
            result =
                MlirOptMain(output->os(), std::move(input), registry, config);
          },
          error))) {
    llvm::errs() << "gs-opt: " << error << "\n";
    return EXIT_FAILURE;
  }
  if (failed(result))
    return EXIT_FAILURE;
  output->keep();
  return EXIT_SUCCESS;
}
