//===- ErrorCapture.cpp - Errors of the C API's calls ---------------------===//

#include "ErrorCapture.h"

#include "llvm/Support/raw_ostream.h"

#include <unistd.h>

using namespace mlir::gs::capi;

ErrorCollector::ErrorCollector(ContextImpl *context)
    : context(context), handler(&context->context, [this](mlir::Diagnostic &d) {
        if (d.getSeverity() != mlir::DiagnosticSeverity::Error)
          return mlir::success();
        llvm::raw_string_ostream os(messages);
        if (!messages.empty())
          os << "\n";
        os << d.getLocation() << ": " << d;
        for (mlir::Diagnostic &note : d.getNotes())
          os << "\n  note: " << note;
        return mlir::success();
      }) {}

void ErrorCollector::fail(llvm::StringRef what) {
  context->lastError = what.str();
  if (!messages.empty())
    context->lastError += ":\n" + messages;
}

StderrCapture::StderrCapture() : lock(mutex()) {
  llvm::errs().flush();
  std::fflush(stderr);
  file = std::tmpfile();
  saved = file ? ::dup(STDERR_FILENO) : -1;
  if (saved < 0 || ::dup2(::fileno(file), STDERR_FILENO) < 0)
    release();
}

StderrCapture::~StderrCapture() {
  std::string text = take();
  if (!text.empty())
    llvm::errs() << text;
}

std::string StderrCapture::take() {
  if (!file)
    return "";
  llvm::errs().flush();
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  std::string text;
  std::rewind(file);
  char buffer[4096];
  size_t read;
  while ((read = std::fread(buffer, 1, sizeof(buffer), file)) > 0)
    text.append(buffer, read);
  release();
  return text;
}

std::mutex &StderrCapture::mutex() {
  static std::mutex *instance = new std::mutex;
  return *instance;
}

void StderrCapture::release() {
  if (saved >= 0)
    ::close(saved);
  if (file)
    std::fclose(file);
  saved = -1;
  file = nullptr;
}
