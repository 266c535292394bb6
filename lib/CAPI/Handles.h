//===- Handles.h - Handles and calls of the C API ---------------*- C++ -*-===//
//
// Handles are keys of a process-wide registry, never reused, not pointers:
// every call looks its handles up, so a destroyed or unknown handle is an
// error with a message rather than a dangling pointer. A context owns its
// modules and executables.
//
//===----------------------------------------------------------------------===//

#ifndef GS_LIB_CAPI_HANDLES_H
#define GS_LIB_CAPI_HANDLES_H

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace mlir::gs::capi {

struct ContextImpl;

struct ModuleImpl {
  ContextImpl *owner;
  mlir::OwningOpRef<mlir::ModuleOp> module;
};

struct ExecutableImpl {
  ContextImpl *owner;
  std::unique_ptr<mlir::ExecutionEngine> engine;
};

struct ContextImpl {
  mlir::MLIRContext context;
  std::string lastError;
  uintptr_t handle = 0;
  /// What the context owns, by handle.
  llvm::DenseMap<uintptr_t, std::unique_ptr<ModuleImpl>> modules;
  llvm::DenseMap<uintptr_t, std::unique_ptr<ExecutableImpl>> executables;

  explicit ContextImpl(const mlir::DialectRegistry &registry);
};

/// The low two bits of a handle: what it refers to.
enum class HandleKind : uintptr_t { Context = 1, Module = 2, Executable = 3 };

/// The live handles of the process. A handle is a serial number (never
/// reused) and a kind; it maps to its object while that lives.
class Registry {
public:
  uintptr_t add(HandleKind kind, void *object);
  /// The object of `handle` if it is a live handle of `kind`, else null.
  void *find(uintptr_t handle, HandleKind kind);
  void remove(llvm::ArrayRef<uintptr_t> handles);

private:
  std::mutex mutex;
  llvm::DenseMap<uintptr_t, void *> objects;
  uintptr_t nextSerial = 1;
};

/// The process's registry; never destroyed, since handles may be used while
/// the process exits.
Registry &registry();

template <typename Handle> uintptr_t keyOf(Handle *handle) {
  return reinterpret_cast<uintptr_t>(handle);
}

/// The message of the last failing call on this thread.
std::string &threadError();

/// One C API call: looks its handles up, records its failure on the context
/// and the thread, and runs work on a large stack.
class Call {
public:
  explicit Call(const char *name) : name(name) { threadError().clear(); }
  ~Call();

  /// The object of a handle, or null after failing with a message naming
  /// the call and the handle's kind. A found handle binds the call to its
  /// context: failures are then recorded there.
  ContextImpl *useContext(void *handle);
  ModuleImpl *useModule(void *handle);
  ExecutableImpl *useExecutable(void *handle);
  /// Forgets the context (it is being destroyed).
  void unbind() { context = nullptr; }

  void fail(std::string message);

  /// Runs `fn` on a thread with a large stack (gs/Support/InputLimits.h).
  /// If none can start, fails (`fn` does not run) or, with `orInline`, runs
  /// `fn` on this thread.
  bool onLargeStack(llvm::function_ref<void()> fn, bool orInline = false);

private:
  template <typename Impl> Impl *useAs(void *handle, HandleKind kind);
  void *use(uintptr_t key, HandleKind kind);
  void bind(ContextImpl *owner);

  const char *name;
  ContextImpl *context = nullptr;
};

} // namespace mlir::gs::capi

#endif // GS_LIB_CAPI_HANDLES_H
