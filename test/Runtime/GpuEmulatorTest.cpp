//===- GpuEmulatorTest.cpp - The GPU emulator's SIMT semantics ------------===//
//
// Usage: gs-gpu-emulator-test. Kernels written against the emulator's kernel
// interface check its special registers, shuffles (PTX's shfl.sync rules,
// against what CUDA's __shfl_*_sync documents), barriers and shared memory,
// and that every misuse is an error, never a hang. Prints each check and
// each error; exits nonzero on a failure.
//
//===----------------------------------------------------------------------===//

#include "gs-c/GpuEmulator.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

static int failures = 0;

static void expect(bool condition, const char *what) {
  std::printf("%s: %s\n", what, condition ? "ok" : "FAIL");
  if (!condition)
    ++failures;
}

/// Checks that the last error mentions `text`, prints it and clears it.
static void expectError(const char *what, const char *text) {
  const char *error = gsEmuGetLastError();
  std::printf("%s: %s\n", what, error ? error : "(no error)");
  if (!error || !std::strstr(error, text)) {
    std::printf("FAIL: %s: expected an error mentioning '%s'\n", what, text);
    ++failures;
  }
  gsEmuClearLastError();
}

static void expectNoError(const char *what) {
  const char *error = gsEmuGetLastError();
  if (error) {
    std::printf("FAIL: %s: %s\n", what, error);
    ++failures;
    gsEmuClearLastError();
  }
}

enum Register { TidX, TidY, TidZ, NtidX, NtidY, NtidZ, CtaidX, CtaidY };
enum Kind { Bfly, Up, Down, Idx };
static const int32_t kFullMask = -1;

static int32_t reg(int code) { return gsEmuSpecialRegister(code); }
static int32_t linearTid() {
  return reg(TidX) + reg(NtidX) * (reg(TidY) + reg(NtidY) * reg(TidZ));
}
static int32_t shuffle(int site, int kind, int32_t value, int offset, int clamp,
                       bool *valid = nullptr, int32_t mask = kFullMask) {
  int64_t packed = gsEmuShuffle(site, kind, mask, value, offset, clamp);
  if (valid)
    *valid = (packed >> 32) & 1;
  return static_cast<int32_t>(packed);
}

static void launch(void (*kernel)(void **), int grid, int block, void *buffer) {
  void *params[] = {&buffer};
  gsEmuLaunch(kernel, grid, 1, 1, block, 1, 1, 0, params);
}

// --- special registers -------------------------------------------------------

static void registersKernel(void **params) {
  int32_t *out = *static_cast<int32_t **>(params[0]);
  int32_t block = reg(CtaidX) + 2 * reg(CtaidY);
  int32_t *mine = out + 4 * (16 * block + linearTid());
  mine[0] = reg(NtidX) * 100 + reg(NtidY) * 10 + reg(NtidZ);
  mine[1] = gsEmuSpecialRegister(9) * 10 + gsEmuSpecialRegister(10);
  mine[2] = gsEmuSpecialRegister(12); // laneid
  mine[3] = gsEmuSpecialRegister(13); // warpsize
}

static void testRegisters() {
  std::vector<int32_t> out(4 * 16 * 6, -1);
  void *buffer = out.data();
  void *params[] = {&buffer};
  gsEmuLaunch(registersKernel, 2, 3, 1, 4, 2, 2, 0, params);
  expectNoError("registers");
  bool ok = true;
  for (int i = 0; i < 16 * 6; ++i) {
    int32_t *r = &out[4 * i];
    ok &= r[0] == 422 && r[1] == 23 && r[2] == (i % 16) % 32 && r[3] == 32;
  }
  expect(ok, "special registers of a 2x3 grid of 4x2x2 blocks");
}

// --- shuffles ----------------------------------------------------------------

static void butterflyKernel(void **params) {
  int32_t *out = *static_cast<int32_t **>(params[0]);
  int32_t value = linearTid();
  for (int offset = 16; offset >= 1; offset /= 2)
    value += shuffle(offset, Bfly, value, offset, 0x1f);
  out[linearTid()] = value;
}

static void testButterfly() {
  std::vector<int32_t> out(64);
  launch(butterflyKernel, 1, 64, out.data());
  expectNoError("butterfly");
  bool ok = true;
  for (int i = 0; i < 64; ++i)
    ok &= out[i] == (i < 32 ? 496 : 1520); // sum of 0..31, of 32..63
  expect(ok, "butterfly sum over each warp");
}

/// Segments of 8 lanes, as CUDA's width argument makes them: `c` packs the
/// segment mask and the clamp (0 for up, 31 otherwise).
static void segmentKernel(void **params) {
  int32_t *out = *static_cast<int32_t **>(params[0]);
  int32_t lane = linearTid();
  int32_t segment = (32 - 8) << 8;
  int32_t value = 100 + lane;
  bool valid[4];
  int32_t *mine = out + 8 * lane;
  mine[0] = shuffle(1, Down, value, 1, segment | 0x1f, &valid[0]);
  mine[1] = shuffle(2, Up, value, 2, segment, &valid[1]);
  mine[2] = shuffle(3, Idx, value, 3, segment | 0x1f, &valid[2]);
  mine[3] = shuffle(4, Bfly, value, 4, segment | 0x1f, &valid[3]);
  for (int i = 0; i < 4; ++i)
    mine[4 + i] = valid[i];
}

static void testSegments() {
  std::vector<int32_t> out(8 * 32);
  launch(segmentKernel, 1, 32, out.data());
  expectNoError("segments");
  bool ok = true;
  for (int lane = 0; lane < 32; ++lane) {
    int32_t *r = &out[8 * lane];
    int inSegment = lane % 8;
    // __shfl_down_sync(v, 1, 8): the next lane of the segment, else itself.
    bool downValid = inSegment + 1 < 8;
    ok &= r[0] == 100 + (downValid ? lane + 1 : lane) && r[4] == downValid;
    // __shfl_up_sync(v, 2, 8): two lanes back in the segment, else itself.
    bool upValid = inSegment >= 2;
    ok &= r[1] == 100 + (upValid ? lane - 2 : lane) && r[5] == upValid;
    // __shfl_sync(v, 3, 8): lane 3 of the segment.
    ok &= r[2] == 100 + (lane - inSegment + 3) && r[6] == 1;
    // __shfl_xor_sync(v, 4, 8): stays within the segment.
    ok &= r[3] == 100 + (lane ^ 4) && r[7] == 1;
  }
  expect(ok, "down, up, idx and xor shuffles in segments of 8 lanes");
}

/// A warp of 16 lanes (the block's last warp may be partial) shuffling
/// among its lanes only.
static void partialWarpKernel(void **params) {
  int32_t *out = *static_cast<int32_t **>(params[0]);
  int32_t value = linearTid();
  for (int offset = 8; offset >= 1; offset /= 2)
    value += shuffle(offset, Bfly, value, offset, 0x1f, nullptr, 0xffff);
  out[linearTid()] = value;
}

static void testPartialWarp() {
  std::vector<int32_t> out(16);
  launch(partialWarpKernel, 1, 16, out.data());
  expectNoError("partial warp");
  bool ok = true;
  for (int i = 0; i < 16; ++i)
    ok &= out[i] == 120;
  expect(ok, "shuffles of a 16-lane block with mask 0xffff");
}

// --- barriers and shared memory
// ------------------------------------------------

static int32_t shared[1024];

template <bool withBarrier> static void rotateKernel(void **params) {
  int32_t *out = *static_cast<int32_t **>(params[0]);
  int32_t t = linearTid(), n = reg(NtidX);
  shared[t] = t + 1000 * reg(CtaidX);
  if (withBarrier)
    gsEmuBarrier(0);
  out[t + n * reg(CtaidX)] = shared[(t + 1) % n];
}

static bool rotated(const std::vector<int32_t> &out, int n) {
  for (size_t i = 0; i < out.size(); ++i)
    if (out[i] != static_cast<int32_t>((i % n + 1) % n + 1000 * (i / n)))
      return false;
  return true;
}

static void testBarrier() {
  for (const char *order : {"forward", "reverse"}) {
    setenv("GS_GPU_EMULATOR_SCHEDULE", order, 1);
    std::vector<int32_t> out(3 * 128);
    launch(rotateKernel<true>, 3, 128, out.data());
    expectNoError("barrier");
    std::printf("schedule %s: ", order);
    expect(rotated(out, 128), "shared memory read after a barrier");
  }
  // Without the barrier a thread reads its neighbour's slot before the
  // neighbour wrote it: under the forward order every thread but the last.
  setenv("GS_GPU_EMULATOR_SCHEDULE", "forward", 1);
  std::vector<int32_t> out(128);
  launch(rotateKernel<false>, 1, 128, out.data());
  expectNoError("missing barrier");
  expect(!rotated(out, 128), "a missing barrier shows as a wrong result");
  unsetenv("GS_GPU_EMULATOR_SCHEDULE");
}

/// bar.sync waits for the threads that have not exited.
static void exitThenBarrierKernel(void **params) {
  int32_t *out = *static_cast<int32_t **>(params[0]);
  int32_t t = linearTid();
  if (t % 2)
    return;
  shared[t] = t;
  gsEmuBarrier(0);
  out[t] = shared[(t + 2) % 64];
}

static void testExitedThreads() {
  std::vector<int32_t> out(64, -1);
  launch(exitThenBarrierKernel, 1, 64, out.data());
  expectNoError("exited threads");
  bool ok = true;
  for (int t = 0; t < 64; t += 2)
    ok &= out[t] == (t + 2) % 64;
  expect(ok, "a barrier after half the threads exited");
}

// --- misuse ------------------------------------------------------------------

static void deadlockKernel(void **) {
  if (linearTid() < 16)
    gsEmuBarrier(0);
  else
    shuffle(0, Bfly, 1, 1, 0x1f);
}

static void divergentKernel(void **) {
  shuffle(linearTid() < 16 ? 1 : 2, Bfly, 1, 1, 0x1f);
}

static void exitedLaneKernel(void **) {
  if (linearTid() == 31)
    return;
  shuffle(0, Bfly, 1, 1, 0x1f);
}

static void countingKernel(void **params) {
  int32_t *counter = *static_cast<int32_t **>(params[0]);
  if (linearTid() == 0)
    ++*counter;
}

// A kernel's shared variable, registered by its entry as
// convert-nvvm-kernels-to-emulator writes it: thread 0 of each block reads
// what is there and writes 42; thread 1 reads after it.
static int32_t sharedCell[4];
static void sharedLeftoverKernel(void **params) {
  gsEmuSharedMemory(sharedCell, sizeof(sharedCell));
  int32_t *out = *static_cast<int32_t **>(params[0]);
  int32_t block = reg(CtaidX);
  if (linearTid() == 0) {
    out[block] = sharedCell[0];
    sharedCell[0] = 42;
  } else if (linearTid() == 1) {
    out[2 + block] = sharedCell[0];
  }
}

static void testSharedMemoryPerBlock() {
  int32_t out[4] = {0, 0, 0, 0};
  launch(sharedLeftoverKernel, 2, 32, out);
  expectNoError("shared memory per block");
  expect(out[0] == -1 && out[1] == -1,
         "each block finds its shared memory poisoned, not the last block's");
  expect(out[2] == 42 && out[3] == 42,
         "threads of one block share their shared memory");
}

// Entries as convert-nvvm-kernels-to-emulator writes them for a kernel
// compiled for blocks of exactly 64 x 2 x 1 threads (known_block_size), or
// at most 128 (maxntid).
static void exactBlockKernel(void **params) {
  if (gsEmuCheckBlockSize(64, 2, 1, /*exact=*/1))
    countingKernel(params);
}
static void boundedBlockKernel(void **params) {
  if (gsEmuCheckBlockSize(128, 1, 1, /*exact=*/0))
    countingKernel(params);
}

static void testBlockContracts() {
  int32_t counter = 0, *pointer = &counter;
  void *params[] = {&pointer};
  gsEmuLaunch(exactBlockKernel, 2, 1, 1, 64, 2, 1, 0, params);
  gsEmuLaunch(boundedBlockKernel, 3, 1, 1, 32, 2, 1, 0, params);
  expectNoError("kept contracts");
  expect(counter == 5, "launches that keep their block size contract run");
  gsEmuLaunch(exactBlockKernel, 1, 1, 1, 128, 1, 1, 0, params);
  expectError("exact block size", "launched with blocks of 128 x 1 x 1");
  gsEmuLaunch(boundedBlockKernel, 1, 1, 1, 64, 4, 1, 0, params);
  expectError("at most", "at most 128 x 1 x 1 threads");
  expect(counter == 5, "a launch that breaks it runs no kernel code");
}

static void divergentBarrierKernel(void **) {
  if (linearTid() % 2)
    gsEmuBarrier(7);
  else
    gsEmuBarrier(8);
}

static void testMisuse() {
  int32_t counter = 0;
  launch(deadlockKernel, 1, 32, &counter);
  expectError("deadlock", "deadlock in block (0, 0, 0)");
  launch(divergentKernel, 1, 32, &counter);
  expectError("divergent", "divergent shuffles in warp 0");
  launch(exitedLaneKernel, 1, 32, &counter);
  expectError("exited lane", "lane 31, which has exited");
  launch(divergentBarrierKernel, 1, 32, &counter);
  expectError("divergent barriers", "divergent barriers in block (0, 0, 0)");
  // The first error sticks: later launches do nothing until it is cleared.
  launch(deadlockKernel, 1, 32, &counter);
  launch(countingKernel, 1, 32, &counter);
  expect(counter == 0, "no launch runs after an error");
  expectError("sticky", "deadlock");
  launch(countingKernel, 4, 32, &counter);
  expectNoError("after clear");
  expect(counter == 4, "launches run again once the error is cleared");

  void *params[] = {&counter};
  gsEmuLaunch(countingKernel, 1, 1, 1, 2048, 1, 1, 0, params);
  expectError("block too large", "invalid configuration");
  gsEmuLaunch(countingKernel, 1, 1, 1, 64, 32, 1, 0, params);
  expectError("too many threads", "2048 threads exceeds 1024");
  gsEmuLaunch(countingKernel, 0, 1, 1, 32, 1, 1, 0, params);
  expectError("empty grid", "invalid configuration");
  gsEmuLaunch(countingKernel, 1, 1, 1, 32, 1, 1, 16, params);
  expectError("dynamic shared memory", "dynamic shared memory");
  gsEmuLaunch(nullptr, 1, 1, 1, 32, 1, 1, 0, params);
  expectError("no kernel", "no kernel");
  gsEmuBarrier(0);
  expectError("outside a kernel", "outside a kernel");
}

static void testMemory() {
  void *stream = gsEmuStreamCreate();
  auto *device = static_cast<uint32_t *>(gsEmuMemAlloc(64, stream, false));
  expect(device && reinterpret_cast<uintptr_t>(device) % 256 == 0,
         "allocations are 256-byte aligned");
  gsEmuMemset32(device, 0xdeadbeef, 16, stream);
  uint32_t host[16];
  gsEmuMemcpy(host, device, sizeof(host), stream);
  gsEmuStreamSynchronize(stream);
  expect(host[0] == 0xdeadbeef && host[15] == 0xdeadbeef, "memset and copy");
  gsEmuMemFree(device, stream);
  gsEmuStreamDestroy(stream);
  expectNoError("memory");
}

int main() {
  testRegisters();
  testButterfly();
  testSegments();
  testPartialWarp();
  testBarrier();
  testExitedThreads();
  testSharedMemoryPerBlock();
  testBlockContracts();
  testMisuse();
  testMemory();
  std::printf(failures ? "FAILED: %d\n" : "PASSED\n", failures);
  return failures ? 1 : 0;
}
