//===- GS.cpp - C API of the GradientStabilizer compiler ------------------===//

#include "gs-c/GS.h"

#include "gs/InitGS.h"

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

using namespace mlir;

struct GSContext {
  MLIRContext context;
  std::string lastError;

  explicit GSContext(const DialectRegistry &registry)
      : context(registry, MLIRContext::Threading::DISABLED) {
    context.loadAllAvailableDialects();
    // An error names its op by location; printing the op (a group of
    // hundreds of tensors) would bury the message.
    context.printOpOnDiagnostic(false);
  }
};

struct GSModule {
  GSContext *owner;
  OwningOpRef<ModuleOp> module;
};

struct GSExecutable {
  std::unique_ptr<ExecutionEngine> engine;
};

namespace {
/// Collects the diagnostics emitted during one C API call into the
/// context's last error, and keeps them off stderr.
class ErrorCollector {
public:
  explicit ErrorCollector(GSContext *context)
      : context(context), handler(&context->context, [this](Diagnostic &d) {
          if (d.getSeverity() != DiagnosticSeverity::Error)
            return success();
          llvm::raw_string_ostream os(messages);
          if (!messages.empty())
            os << "\n";
          os << d.getLocation() << ": " << d;
          for (Diagnostic &note : d.getNotes())
            os << "\n  note: " << note;
          return success();
        }) {
    context->lastError.clear();
  }
  /// Records `what` with the diagnostics collected so far.
  void fail(llvm::StringRef what) {
    context->lastError = what.str();
    if (!messages.empty())
      context->lastError += ":\n" + messages;
  }

private:
  GSContext *context;
  std::string messages;
  ScopedDiagnosticHandler handler;
};

/// Registration touches process-wide registries: do it once.
void registerOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    gs::registerGSPasses();
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}
} // namespace

GSContext *gsContextCreate(void) {
  registerOnce();
  DialectRegistry registry;
  gs::registerGSDialects(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  return new GSContext(registry);
}

void gsContextDestroy(GSContext *context) { delete context; }

const char *gsContextGetLastError(GSContext *context) {
  return context ? context->lastError.c_str() : "no context";
}

GSModule *gsModuleParse(GSContext *context, const char *text, size_t length) {
  if (!context)
    return nullptr;
  ErrorCollector errors(context);
  if (!text) {
    context->lastError = "gsModuleParse: no text given";
    return nullptr;
  }
  ParserConfig config(&context->context);
  // MLIR's lexer may read the byte after the end of its input (an input
  // ending in the middle of a token), so it gets a NUL-terminated copy: the
  // caller's `text` need not be terminated.
  std::string source(text, length);
  OwningOpRef<ModuleOp> module =
      parseSourceString<ModuleOp>(source, config, "<gs input>");
  if (!module) {
    errors.fail("cannot parse the module");
    return nullptr;
  }
  return new GSModule{context, std::move(module)};
}

void gsModuleDestroy(GSModule *module) { delete module; }

char *gsModulePrint(GSModule *module) {
  if (!module)
    return nullptr;
  std::string text;
  llvm::raw_string_ostream os(text);
  module->module->print(os);
  char *copy = static_cast<char *>(std::malloc(text.size() + 1));
  if (copy)
    std::memcpy(copy, text.c_str(), text.size() + 1);
  return copy;
}

void gsFree(void *memory) { std::free(memory); }

GSStatus gsModuleRunPipeline(GSModule *module, const char *pipeline) {
  if (!module)
    return GS_FAILURE;
  ErrorCollector errors(module->owner);
  if (!pipeline) {
    module->owner->lastError = "gsModuleRunPipeline: no pipeline given";
    return GS_FAILURE;
  }
  // The pass manager is anchored on the module: an explicit
  // `builtin.module(...)` around the pipeline is the same pipeline.
  llvm::StringRef text = pipeline;
  text = text.trim();
  if (text.consume_front("builtin.module(") && !text.consume_back(")")) {
    module->owner->lastError =
        "invalid pipeline '" + std::string(pipeline) + "': unbalanced '('";
    return GS_FAILURE;
  }
  auto pm = PassManager::on<ModuleOp>(&module->owner->context);
  std::string parseErrors;
  llvm::raw_string_ostream os(parseErrors);
  if (failed(parsePassPipeline(text, pm, os))) {
    module->owner->lastError =
        "invalid pipeline '" + std::string(pipeline) + "': " + parseErrors;
    return GS_FAILURE;
  }
  if (failed(pm.run(*module->module))) {
    errors.fail("pipeline '" + std::string(pipeline) + "' failed");
    return GS_FAILURE;
  }
  return GS_SUCCESS;
}

GSExecutable *gsExecutableCreate(GSModule *module, int optLevel) {
  if (!module)
    return nullptr;
  ErrorCollector errors(module->owner);
  if (optLevel < 0 || optLevel > 3) {
    module->owner->lastError =
        "optLevel must be in [0, 3], got " + std::to_string(optLevel);
    return nullptr;
  }
  // ExecutionEngineOptions::transformer is a function_ref: the transformer
  // it refers to must outlive ExecutionEngine::create (the sanitized build
  // caught a temporary here).
  std::function<llvm::Error(llvm::Module *)> transformer =
      makeOptimizingTransformer(optLevel, /*sizeLevel=*/0,
                                /*targetMachine=*/nullptr);
  ExecutionEngineOptions options;
  options.transformer = transformer;
  options.jitCodeGenOptLevel = static_cast<llvm::CodeGenOptLevel>(optLevel);
  auto engine = ExecutionEngine::create(*module->module, options);
  if (!engine) {
    std::string message;
    llvm::handleAllErrors(
        engine.takeError(),
        [&](const llvm::ErrorInfoBase &e) { message += e.message(); });
    errors.fail("cannot compile the module (is it in the LLVM dialect?): " +
                message);
    return nullptr;
  }
  // Run the module's static constructors now (e.g. the GPU kernel loading of
  // gs-to-nvvm's host code): lookup alone does not.
  (*engine)->initialize();
  return new GSExecutable{std::move(*engine)};
}

void gsExecutableDestroy(GSExecutable *executable) { delete executable; }

void *gsExecutableLookup(GSExecutable *executable, const char *name) {
  if (!executable || !name)
    return nullptr;
  auto address = executable->engine->lookup(name);
  if (!address) {
    llvm::consumeError(address.takeError());
    return nullptr;
  }
  return *address;
}
