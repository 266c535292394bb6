//===- EmulatorFibers.h - Fibers of the GPU emulator ------------*- C++ -*-===//
//
// The GPU emulator runs each thread of a block as a fiber on its own stack:
// switching between fibers and the scheduler, the stacks (with guard
// pages), and the annotations that keep AddressSanitizer aware of the
// switches. GpuEmulator.cpp schedules them.
//
//===----------------------------------------------------------------------===//

#ifndef GS_LIB_RUNTIME_EMULATORFIBERS_H
#define GS_LIB_RUNTIME_EMULATORFIBERS_H

#include <cstddef>

#if defined(__x86_64__) && defined(__ELF__)
#define GS_EMU_FAST_SWITCH 1
#else
#include <ucontext.h>
#endif

namespace gs::emu {

/// Bytes of each fiber's stack.
constexpr size_t kStackBytes = 256 * 1024;

/// Where a fiber or the scheduler resumes.
struct Context {
#ifdef GS_EMU_FAST_SWITCH
  void *stackPointer = nullptr;
#else
  ucontext_t context;
#endif
};

/// Makes `context` start `main` on `stack`.
void makeContext(Context &context, void *stack, size_t size, void (*main)());

/// Saves the running context in `from` and resumes `to`.
void switchContext(Context &from, Context &to);

/// Tell AddressSanitizer (when built with it) that the stack changes: before
/// a switch, and after one on the resumed side.
void startSwitch(void **fakeStack, const void *bottom, size_t size);
void finishSwitch(void *fakeStack, const void **bottom, size_t *size);

/// Stacks with a guard page below each, kept for the thread's later
/// launches.
class StackPool {
public:
  ~StackPool();
  void *stack(int index);
  /// Room for `count` stacks; false when the memory cannot be had.
  bool reserve(int count);

private:
  static size_t page();
  static size_t stride();
  void *base = nullptr;
  size_t bytes = 0;
  int capacity = 0;
};

} // namespace gs::emu

#endif // GS_LIB_RUNTIME_EMULATORFIBERS_H
