//===- ErrorCapture.h - Errors of the C API's calls -------------*- C++ -*-===//
//
// Every error text of a C API call reaches gsContextGetLastError: MLIR's
// diagnostics (ErrorCollector) and the messages LLVM writes only to stderr
// (StderrCapture).
//
//===----------------------------------------------------------------------===//

#ifndef GS_LIB_CAPI_ERRORCAPTURE_H
#define GS_LIB_CAPI_ERRORCAPTURE_H

#include "Handles.h"

#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/StringRef.h"

#include <cstdio>
#include <mutex>
#include <string>

namespace mlir::gs::capi {

/// Collects the error diagnostics emitted while it lives, and keeps them
/// off stderr.
class ErrorCollector {
public:
  explicit ErrorCollector(ContextImpl *context);
  /// Records `what` with the diagnostics collected so far.
  void fail(llvm::StringRef what);

private:
  ContextImpl *context;
  std::string messages;
  mlir::ScopedDiagnosticHandler handler;
};

/// Redirects the process's stderr to a temporary file while it lives. Some
/// LLVM messages only go to stderr: the reason a pass option value is
/// invalid (llvm::cl), the symbols a JIT link misses. take() returns what
/// was written and restores stderr; otherwise the destructor restores it
/// and writes the text out. Captures are serialized process-wide.
class StderrCapture {
public:
  StderrCapture();
  ~StderrCapture();
  std::string take();

private:
  static std::mutex &mutex();
  void release();

  std::lock_guard<std::mutex> lock;
  std::FILE *file = nullptr;
  int saved = -1;
};

} // namespace mlir::gs::capi

#endif // GS_LIB_CAPI_ERRORCAPTURE_H
