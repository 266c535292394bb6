//===- gs-fuzz.cpp - libFuzzer target for the gs compiler -----------------===//
//
// Feeds arbitrary bytes through what a user of gs-opt or the C API can reach:
// parse, verify, print, then every gs pass and pipeline on a clone of the
// module. Any of these may fail with a diagnostic; none may crash, assert,
// hang or trip a sanitizer. Built only with -DGS_ENABLE_FUZZER=ON; run it
// with scripts/fuzz.sh.
//
//===----------------------------------------------------------------------===//

#include "gs/InitGS.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/raw_ostream.h"

#include <cstddef>
#include <cstdint>

using namespace mlir;

/// The pipelines every input goes through, each on its own clone: the gs
/// canonicalizations, injection and fusion, the CPU and GPU lowerings alone
/// and the whole CPU pipeline with non-default options. (gs-to-nvvm itself
/// needs CUDA's ptxas for its last stage; its gs part is convert-gs-to-gpu.)
static constexpr const char *kPipelines[] = {
    "canonicalize,cse",
    "gs-inject",
    "func.func(gs-fuse-updates)",
    "convert-gs-to-loops",
    "convert-gs-to-loops{vector-width=3}",
    "convert-gs-to-gpu",
    "gs-to-llvm",
    "gs-inject,canonicalize,gs-to-llvm{vector-width=1 bare-ptr-abi=1}",
};

static DialectRegistry &getRegistry() {
  static DialectRegistry *registry = [] {
    auto *r = new DialectRegistry();
    gs::registerGSDialects(*r);
    return r;
  }();
  return *registry;
}

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  gs::registerGSPasses();
  getRegistry();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // A fresh context per input: no state carries from one input to the next.
  MLIRContext context(getRegistry(), MLIRContext::Threading::DISABLED);
  // Failures are expected and fine: keep their diagnostics off stderr.
  ScopedDiagnosticHandler swallow(&context,
                                  [](Diagnostic &) { return success(); });

  ParserConfig config(&context);
  // NUL-terminated, as gs-opt's files and the C API's copies are: MLIR's
  // lexer may read the byte after an input that ends inside a token.
  std::string source(reinterpret_cast<const char *>(data), size);
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(source, config, "<fuzz input>");
  if (!module)
    return 0;
  // Printed IR, custom and generic, must parse back: a failure is a printer
  // or parser bug of some op or attribute.
  for (bool generic : {false, true}) {
    std::string text;
    llvm::raw_string_ostream os(text);
    OpPrintingFlags flags;
    if (generic)
      flags.printGenericOpForm();
    module->print(os, flags);
    if (!parseSourceString<ModuleOp>(text, config, "<printed>"))
      __builtin_trap();
  }

  for (const char *pipeline : kPipelines) {
    OwningOpRef<ModuleOp> clone = module->clone();
    auto pm = PassManager::on<ModuleOp>(&context);
    std::string errors;
    llvm::raw_string_ostream os(errors);
    if (failed(parsePassPipeline(pipeline, pm, os)))
      __builtin_trap(); // A pipeline of this list must exist.
    if (succeeded(pm.run(*clone)))
      (void)verify(*clone);
  }
  return 0;
}
