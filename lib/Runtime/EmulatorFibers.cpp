//===- EmulatorFibers.cpp - Fibers of the GPU emulator --------------------===//

#include "EmulatorFibers.h"

#include <cstdint>

#include <sys/mman.h>
#include <unistd.h>

// Fibers switch by a few instructions on x86-64 (the callee-saved registers
// and the stack pointer); swapcontext, the portable fallback, also makes a
// sigprocmask system call per switch, several times slower.
#ifdef GS_EMU_FAST_SWITCH
// void gsEmuSwitchStack(void **save, void *target): saves the callee-saved
// registers on this stack and its pointer in *save, then resumes `target`,
// a stack saved the same way. MXCSR and the x87 control word, also
// callee-saved, are left alone: kernel code never changes them.
asm(R"(
  .text
  .p2align 4
  .type gsEmuSwitchStack,@function
  .hidden gsEmuSwitchStack
  .globl gsEmuSwitchStack
gsEmuSwitchStack:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size gsEmuSwitchStack, .-gsEmuSwitchStack
)");
extern "C" void gsEmuSwitchStack(void **save, void *target);
#endif

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GS_EMU_ASAN 1
#endif
#endif
#ifdef GS_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace gs::emu {

/// Makes `context` start `main` on `stack`.
void makeContext(Context &context, void *stack, size_t size, void (*main)()) {
#ifdef GS_EMU_FAST_SWITCH
  // The frame gsEmuSwitchStack pops: six registers, then the address it
  // returns to; the slot above keeps `main`'s entry 16-byte aligned as after
  // a call.
  auto *top = reinterpret_cast<uintptr_t *>(
      (reinterpret_cast<uintptr_t>(stack) + size) & ~uintptr_t(15));
  *--top = 0;
  *--top = reinterpret_cast<uintptr_t>(main);
  for (int i = 0; i < 6; ++i)
    *--top = 0;
  context.stackPointer = top;
#else
  getcontext(&context.context);
  context.context.uc_stack.ss_sp = stack;
  context.context.uc_stack.ss_size = size;
  context.context.uc_link = nullptr;
  makecontext(&context.context, main, 0);
#endif
}

void switchContext(Context &from, Context &to) {
#ifdef GS_EMU_FAST_SWITCH
  gsEmuSwitchStack(&from.stackPointer, to.stackPointer);
#else
  swapcontext(&from.context, &to.context);
#endif
}

void startSwitch(void **fakeStack, const void *bottom, size_t size) {
#ifdef GS_EMU_ASAN
  __sanitizer_start_switch_fiber(fakeStack, bottom, size);
#else
  (void)fakeStack, (void)bottom, (void)size;
#endif
}

void finishSwitch(void *fakeStack, const void **bottom, size_t *size) {
#ifdef GS_EMU_ASAN
  __sanitizer_finish_switch_fiber(fakeStack, bottom, size);
#else
  (void)fakeStack, (void)bottom, (void)size;
#endif
}

StackPool::~StackPool() {
  if (base)
    munmap(base, bytes);
}

void *StackPool::stack(int index) {
  return static_cast<char *>(base) + index * stride() + page();
}

bool StackPool::reserve(int count) {
  if (count <= capacity)
    return true;
  if (base)
    munmap(base, bytes);
  base = nullptr;
  capacity = 0;
  bytes = static_cast<size_t>(count) * stride();
  void *memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (memory == MAP_FAILED)
    return false;
  base = memory;
  capacity = count;
  for (int i = 0; i < count; ++i)
    mprotect(static_cast<char *>(base) + i * stride(), page(), PROT_NONE);
  return true;
}

size_t StackPool::page() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

size_t StackPool::stride() { return kStackBytes + page(); }

} // namespace gs::emu
