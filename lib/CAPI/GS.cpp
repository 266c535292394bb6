//===- GS.cpp - C API of the GradientStabilizer compiler ------------------===//
//
// The functions of gs-c/GS.h. Handles and the bookkeeping of a call are in
// Handles.h, error capture in ErrorCapture.h. Parsing, printing, pipelines,
// compilation and destruction run on a thread with a large stack
// (gs/Support/InputLimits.h).
//
//===----------------------------------------------------------------------===//

#include "gs-c/GS.h"

#include "ErrorCapture.h"
#include "Handles.h"

#include "gs/InitGS.h"
#include "gs/Support/InputLimits.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "llvm/Support/DynamicLibrary.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

using namespace mlir;
using namespace mlir::gs::capi;

namespace {
/// Registration touches process-wide registries: do it once.
void registerOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    gs::registerGSPasses();
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

/// Rejects text nested deeper than the limit, or that MLIR's parser is
/// known to crash on, as a parse error.
bool checkRefused(Call &call, StringRef text, StringRef what,
                  StringRef bufferName) {
  std::optional<gs::NestingViolation> violation = gs::findRefusedInput(text);
  if (!violation)
    return true;
  call.fail((what + ":\nloc(\"" + bufferName + "\":" + Twine(violation->line) +
             ":" + Twine(violation->column) + "): " + violation->message)
                .str());
  return false;
}

/// The external symbols `module` declares that the JIT cannot resolve: it
/// looks them up in the process (the program and the libraries loaded with
/// RTLD_GLOBAL), as ExecutionEngine's generator does.
SmallVector<std::string> findUnresolvedSymbols(ModuleOp module) {
  llvm::sys::DynamicLibrary process =
      llvm::sys::DynamicLibrary::getPermanentLibrary(nullptr);
  SmallVector<std::string> missing;
  auto check = [&](StringRef name) {
    if (!name.starts_with("llvm.") &&
        !process.getAddressOfSymbol(name.str().c_str()))
      missing.push_back(name.str());
  };
  module.walk([&](Operation *op) {
    if (auto func = dyn_cast<LLVM::LLVMFuncOp>(op)) {
      if (func.isExternal() && func.getLinkage() != LLVM::Linkage::ExternWeak)
        check(func.getSymName());
    } else if (auto global = dyn_cast<LLVM::GlobalOp>(op)) {
      if (global.getLinkage() == LLVM::Linkage::External &&
          !global.getValueOrNull() && global.getInitializerRegion().empty())
        check(global.getSymName());
    }
  });
  return missing;
}

/// A function `module` defines that the JIT exports, if any.
std::optional<std::string> findDefinedFunction(ModuleOp module) {
  for (auto func : module.getOps<LLVM::LLVMFuncOp>())
    if (!func.isExternal() && func.getLinkage() == LLVM::Linkage::External)
      return func.getSymName().str();
  return std::nullopt;
}

} // namespace

//===----------------------------------------------------------------------===//
// Contexts
//===----------------------------------------------------------------------===//

GSContext *gsContextCreate(void) {
  threadError().clear();
  registerOnce();
  DialectRegistry dialects;
  gs::registerGSDialects(dialects);
  registerBuiltinDialectTranslation(dialects);
  registerLLVMDialectTranslation(dialects);
  auto *context = new ContextImpl(dialects);
  context->handle = registry().add(HandleKind::Context, context);
  return reinterpret_cast<GSContext *>(context->handle);
}

GSStatus gsContextDestroy(GSContext *handle) {
  if (!handle)
    return GS_SUCCESS;
  Call call("gsContextDestroy");
  ContextImpl *context = call.useContext(handle);
  if (!context)
    return GS_FAILURE;
  call.unbind();
  SmallVector<uintptr_t> handles = {context->handle};
  for (auto &entry : context->modules)
    handles.push_back(entry.first);
  for (auto &entry : context->executables)
    handles.push_back(entry.first);
  registry().remove(handles);
  call.onLargeStack(
      [&] {
        // Executables hold code and no IR: first, then the IR, then its
        // context.
        context->executables.clear();
        context->modules.clear();
        delete context;
      },
      /*orInline=*/true);
  return GS_SUCCESS;
}

const char *gsContextGetLastError(GSContext *handle) {
  if (!handle)
    return "no GSContext given (NULL)";
  auto *context = static_cast<ContextImpl *>(
      registry().find(keyOf(handle), HandleKind::Context));
  if (!context)
    return "invalid GSContext handle: destroyed, or not one";
  return context->lastError.c_str();
}

const char *gsGetLastError(void) { return threadError().c_str(); }

//===----------------------------------------------------------------------===//
// Modules
//===----------------------------------------------------------------------===//

GSModule *gsModuleParse(GSContext *handle, const char *text, size_t length) {
  Call call("gsModuleParse");
  ContextImpl *context = call.useContext(handle);
  if (!context)
    return nullptr;
  if (!text) {
    call.fail("gsModuleParse: no text given");
    return nullptr;
  }
  // MLIR's lexer may read the byte after the end of its input (an input
  // ending in the middle of a token), so it gets a NUL-terminated copy: the
  // caller's `text` need not be terminated.
  std::string source(text, length);
  if (gs::isBytecode(source)) {
    call.fail("gsModuleParse: expects MLIR text, got bytecode");
    return nullptr;
  }
  if (!checkRefused(call, source, "cannot parse the module", "<gs input>"))
    return nullptr;
  OwningOpRef<ModuleOp> module;
  if (!call.onLargeStack([&] {
        ErrorCollector errors(context);
        ParserConfig config(&context->context);
        module = parseSourceString<ModuleOp>(source, config, "<gs input>");
        if (!module)
          errors.fail("cannot parse the module");
      }))
    return nullptr;
  if (!module)
    return nullptr;
  auto owned = std::make_unique<ModuleImpl>();
  owned->owner = context;
  owned->module = std::move(module);
  uintptr_t key = registry().add(HandleKind::Module, owned.get());
  context->modules[key] = std::move(owned);
  return reinterpret_cast<GSModule *>(key);
}

GSStatus gsModuleDestroy(GSModule *handle) {
  if (!handle)
    return GS_SUCCESS;
  Call call("gsModuleDestroy");
  ModuleImpl *module = call.useModule(handle);
  if (!module)
    return GS_FAILURE;
  registry().remove({keyOf(handle)});
  std::unique_ptr<ModuleImpl> owned =
      std::move(module->owner->modules[keyOf(handle)]);
  module->owner->modules.erase(keyOf(handle));
  call.onLargeStack([&] { owned.reset(); }, /*orInline=*/true);
  return GS_SUCCESS;
}

char *gsModulePrint(GSModule *handle) {
  Call call("gsModulePrint");
  ModuleImpl *module = call.useModule(handle);
  if (!module)
    return nullptr;
  std::string text;
  if (!call.onLargeStack([&] {
        llvm::raw_string_ostream os(text);
        module->module->print(os);
      }))
    return nullptr;
  char *copy = static_cast<char *>(std::malloc(text.size() + 1));
  if (!copy) {
    call.fail("gsModulePrint: out of memory");
    return nullptr;
  }
  std::memcpy(copy, text.c_str(), text.size() + 1);
  return copy;
}

void gsFree(void *memory) { std::free(memory); }

GSStatus gsModuleRunPipeline(GSModule *handle, const char *pipeline) {
  Call call("gsModuleRunPipeline");
  ModuleImpl *module = call.useModule(handle);
  if (!module)
    return GS_FAILURE;
  if (!pipeline) {
    call.fail("gsModuleRunPipeline: no pipeline given");
    return GS_FAILURE;
  }
  // The pass manager is anchored on the module: an explicit
  // `builtin.module(...)` around the pipeline is the same pipeline.
  llvm::StringRef text = pipeline;
  text = text.trim();
  if (text.consume_front("builtin.module(") && !text.consume_back(")")) {
    call.fail("invalid pipeline '" + std::string(pipeline) +
              "': unbalanced '('");
    return GS_FAILURE;
  }
  if (!checkRefused(call, text, "invalid pipeline", "<gs pipeline>"))
    return GS_FAILURE;
  bool succeededRun = false;
  if (!call.onLargeStack([&] {
        ContextImpl *context = module->owner;
        ErrorCollector errors(context);
        auto pm = PassManager::on<ModuleOp>(&context->context);
        std::string parseErrors;
        llvm::raw_string_ostream os(parseErrors);
        {
          // An invalid option value is explained on stderr only.
          StderrCapture capture;
          if (failed(parsePassPipeline(text, pm, os))) {
            // llvm::cl prefixes its reasons with the (empty) program name.
            std::string captured = capture.take(), printed;
            for (StringRef line : llvm::split(captured, '\n'))
              if (!line.empty())
                printed +=
                    (line.starts_with(": ") ? line.drop_front(2) : line).str() +
                    "\n";
            context->lastError = "invalid pipeline '" + std::string(pipeline) +
                                 "': " + printed + parseErrors;
            return;
          }
        }
        if (failed(pm.run(*module->module))) {
          errors.fail("pipeline '" + std::string(pipeline) + "' failed");
          return;
        }
        succeededRun = true;
      }))
    return GS_FAILURE;
  return succeededRun ? GS_SUCCESS : GS_FAILURE;
}

//===----------------------------------------------------------------------===//
// Executables
//===----------------------------------------------------------------------===//

GSExecutable *gsExecutableCreate(GSModule *handle, int optLevel) {
  Call call("gsExecutableCreate");
  ModuleImpl *module = call.useModule(handle);
  if (!module)
    return nullptr;
  if (optLevel < 0 || optLevel > 3) {
    call.fail("optLevel must be in [0, 3], got " + std::to_string(optLevel));
    return nullptr;
  }
  ContextImpl *context = module->owner;
  std::unique_ptr<ExecutionEngine> engine;
  if (!call.onLargeStack([&] {
        ErrorCollector errors(context);
        SmallVector<std::string> missing =
            findUnresolvedSymbols(*module->module);
        if (!missing.empty()) {
          errors.fail("cannot compile the module: unresolved symbols (declared "
                      "by the module, defined neither in it nor in this "
                      "process): " +
                      llvm::join(missing, ", "));
          return;
        }
        // ExecutionEngineOptions::transformer is a function_ref: the
        // transformer it refers to must outlive ExecutionEngine::create (the
        // sanitized build caught a temporary here).
        std::function<llvm::Error(llvm::Module *)> transformer =
            makeOptimizingTransformer(optLevel, /*sizeLevel=*/0,
                                      /*targetMachine=*/nullptr);
        ExecutionEngineOptions options;
        options.transformer = transformer;
        options.jitCodeGenOptLevel =
            static_cast<llvm::CodeGenOptLevel>(optLevel);
        // The JIT reports link errors (e.g. a missing runtime function) on
        // stderr only.
        StderrCapture capture;
        auto created = ExecutionEngine::create(*module->module, options);
        if (!created) {
          std::string message = llvm::toString(created.takeError());
          errors.fail("cannot compile the module (is it in the LLVM "
                      "dialect?): " +
                      message + capture.take());
          return;
        }
        // Compile and link now, so that a failure is this call's error (and
        // ExecutionEngine::initialize, which cannot report one, finds the
        // code ready): the module is one unit, one lookup builds it all.
        if (std::optional<std::string> name =
                findDefinedFunction(*module->module)) {
          auto address = (*created)->lookup(*name);
          if (!address) {
            std::string message = llvm::toString(address.takeError());
            errors.fail("cannot compile the module: " + message + "\n" +
                        capture.take());
            return;
          }
        }
        engine = std::move(*created);
      }))
    return nullptr;
  if (!engine)
    return nullptr;
  // Run the module's static constructors now (e.g. the GPU kernel loading of
  // gs-to-nvvm's host code), on the caller's thread: lookup alone does not.
  engine->initialize();
  auto owned = std::make_unique<ExecutableImpl>();
  owned->owner = context;
  owned->engine = std::move(engine);
  uintptr_t key = registry().add(HandleKind::Executable, owned.get());
  context->executables[key] = std::move(owned);
  return reinterpret_cast<GSExecutable *>(key);
}

GSStatus gsExecutableDestroy(GSExecutable *handle) {
  if (!handle)
    return GS_SUCCESS;
  Call call("gsExecutableDestroy");
  ExecutableImpl *executable = call.useExecutable(handle);
  if (!executable)
    return GS_FAILURE;
  registry().remove({keyOf(handle)});
  executable->owner->executables.erase(keyOf(handle));
  return GS_SUCCESS;
}

void *gsExecutableLookup(GSExecutable *handle, const char *name) {
  Call call("gsExecutableLookup");
  ExecutableImpl *executable = call.useExecutable(handle);
  if (!executable)
    return nullptr;
  if (!name) {
    call.fail("gsExecutableLookup: no name given");
    return nullptr;
  }
  auto address = executable->engine->lookup(name);
  if (!address) {
    call.fail("gsExecutableLookup: no function '" + std::string(name) +
              "': " + llvm::toString(address.takeError()));
    return nullptr;
  }
  return *address;
}
