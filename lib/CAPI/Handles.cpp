//===- Handles.cpp - Handles and calls of the C API -----------------------===//
//
// The handle registry and the bookkeeping every C API call shares (see
// Handles.h).
//
//===----------------------------------------------------------------------===//

#include "Handles.h"

#include "gs/Support/InputLimits.h"

static_assert(sizeof(uintptr_t) == 8, "handles hold a 62-bit serial number");

using namespace mlir::gs::capi;

ContextImpl::ContextImpl(const mlir::DialectRegistry &registry)
    : context(registry, mlir::MLIRContext::Threading::DISABLED) {
  context.loadAllAvailableDialects();
  // An error names its op by location; printing the op (a group of hundreds
  // of tensors) would bury the message.
  context.printOpOnDiagnostic(false);
}

static const char *kindName(HandleKind kind) {
  switch (kind) {
  case HandleKind::Context:
    return "GSContext";
  case HandleKind::Module:
    return "GSModule";
  case HandleKind::Executable:
    return "GSExecutable";
  }
  return "handle";
}

uintptr_t Registry::add(HandleKind kind, void *object) {
  std::lock_guard<std::mutex> lock(mutex);
  uintptr_t handle = (nextSerial++ << 2) | static_cast<uintptr_t>(kind);
  objects[handle] = object;
  return handle;
}

void *Registry::find(uintptr_t handle, HandleKind kind) {
  if ((handle & 3) != static_cast<uintptr_t>(kind))
    return nullptr;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = objects.find(handle);
  return it == objects.end() ? nullptr : it->second;
}

void Registry::remove(llvm::ArrayRef<uintptr_t> handles) {
  std::lock_guard<std::mutex> lock(mutex);
  for (uintptr_t handle : handles)
    objects.erase(handle);
}

Registry &mlir::gs::capi::registry() {
  static Registry *instance = new Registry;
  return *instance;
}

std::string &mlir::gs::capi::threadError() {
  thread_local std::string error;
  return error;
}

Call::~Call() {
  if (context)
    threadError() = context->lastError;
}

/// The context that owns an object of the C API.
static ContextImpl *ownerOf(ContextImpl *context) { return context; }
template <typename Impl> static ContextImpl *ownerOf(Impl *object) {
  return object->owner;
}

template <typename Impl> Impl *Call::useAs(void *handle, HandleKind kind) {
  auto *found = static_cast<Impl *>(use(keyOf(handle), kind));
  if (found)
    bind(ownerOf(found));
  return found;
}

ContextImpl *Call::useContext(void *handle) {
  return useAs<ContextImpl>(handle, HandleKind::Context);
}

ModuleImpl *Call::useModule(void *handle) {
  return useAs<ModuleImpl>(handle, HandleKind::Module);
}

ExecutableImpl *Call::useExecutable(void *handle) {
  return useAs<ExecutableImpl>(handle, HandleKind::Executable);
}

void Call::fail(std::string message) {
  if (context)
    context->lastError = std::move(message);
  else
    threadError() = std::move(message);
}

bool Call::onLargeStack(llvm::function_ref<void()> fn, bool orInline) {
  std::string error;
  if (mlir::succeeded(mlir::gs::runWithLargeStack(fn, error)))
    return true;
  if (orInline) {
    fn();
    return true;
  }
  fail(std::string(name) + ": " + error);
  return false;
}

void *Call::use(uintptr_t key, HandleKind kind) {
  if (!key) {
    fail(std::string(name) + ": no " + kindName(kind) + " given (NULL)");
    return nullptr;
  }
  void *object = registry().find(key, kind);
  if (!object)
    fail(std::string(name) + ": invalid " + kindName(kind) + " handle: " +
         (kind == HandleKind::Context ? "destroyed, or not one"
                                      : "destroyed (or its context was), "
                                        "or not one"));
  return object;
}

void Call::bind(ContextImpl *owner) {
  context = owner;
  context->lastError.clear();
}
