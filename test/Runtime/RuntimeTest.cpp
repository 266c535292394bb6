//===- RuntimeTest.cpp - The runtime without a usable GPU -----------------===//
//
// Usage: gs-runtime-test <text>. Every entry point must fail cleanly, with
// <text> (the expected reason, e.g. CUDA's own message) in the last error;
// the caller's stream must pass through untouched. Prints each error.
//
//===----------------------------------------------------------------------===//

#include "gs-c/Runtime.h"

#include <cstdio>
#include <cstring>

static int failures = 0;

/// Checks that the last error mentions `text`, prints it and clears it.
static void expectError(const char *what, const char *text) {
  const char *error = gsRuntimeGetLastError();
  std::printf("%s: %s\n", what, error ? error : "(no error)");
  if (!error || !std::strstr(error, text)) {
    std::printf("FAIL: %s: expected an error mentioning '%s'\n", what, text);
    ++failures;
  }
  gsRuntimeClearLastError();
}

static void expect(bool condition, const char *what) {
  if (!condition) {
    std::printf("FAIL: %s\n", what);
    ++failures;
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <expected error text>\n", argv[0]);
    return 2;
  }
  const char *reason = argv[1];
  expect(!gsRuntimeGetLastError(), "no error before any call");

  expect(gsRuntimeInit() != 0, "init fails");
  expectError("init", reason);

  static const char image[] = "not a GPU image";
  void *module = mgpuModuleLoad(const_cast<char *>(image), sizeof(image));
  expect(!module, "module load fails");
  expectError("module", reason);
  expect(!mgpuModuleLoadJIT(const_cast<char *>(image), 2), "JIT load fails");
  expectError("jit", reason);

  void *kernel = mgpuModuleGetFunction(module, "norms");
  expect(!kernel, "kernel lookup fails");
  expectError("kernel", "its GPU module was not loaded");

  mgpuLaunchKernel(kernel, 1, 1, 1, 256, 1, 1, 0, nullptr, nullptr, nullptr, 0);
  void *stream = mgpuStreamCreate();
  expect(!stream, "stream creation fails");
  expectError("stream", reason);
  mgpuStreamSynchronize(stream);
  mgpuStreamDestroy(stream);
  expect(!mgpuMemAlloc(64, nullptr, false), "allocation fails");
  expectError("alloc", reason);
  expect(gsRuntimeSynchronize(nullptr) != 0, "synchronize fails");
  expectError("synchronize", reason);

  // The caller's stream is used as is, never synchronized nor destroyed.
  void *callerStream = reinterpret_cast<void *>(0x1234);
  gsRuntimeSetStream(callerStream);
  expect(mgpuStreamCreate() == callerStream, "caller's stream is used");
  mgpuStreamSynchronize(callerStream);
  mgpuStreamDestroy(callerStream);
  expect(!gsRuntimeGetLastError(), "caller's stream left alone");
  gsRuntimeSetStream(nullptr);

  std::printf(failures ? "FAILED\n" : "PASSED\n");
  return failures ? 1 : 0;
}
