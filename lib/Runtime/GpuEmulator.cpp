//===- GpuEmulator.cpp - Run NVVM kernels on the CPU ----------------------===//
//
// Blocks run one after the other; a block's threads are fibers scheduled in a
// fixed order, each running until it exits or waits at a barrier or a shuffle.
// When every live thread waits at the barrier, all go on; when every lane a
// shuffle's mask names waits at that shuffle, the warp exchanges values by
// PTX's shfl.sync rules. Anything else that leaves no thread runnable is a
// deadlock, reported, never a hang.
//
// GS_GPU_EMULATOR_SCHEDULE=reverse runs the threads in reverse order: a
// kernel that reads shared memory without the barrier it needs gives other
// results under the two orders.
//
//===----------------------------------------------------------------------===//

#include "gs-c/GpuEmulator.h"

#include "EmulatorFibers.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace gs::emu;

namespace {

constexpr int kWarpSize = 32;
constexpr int kMaxThreadsPerBlock = 1024;

thread_local std::string lastError;

/// Keeps the first error: later ones are usually its consequences.
void fail(const std::string &message) {
  if (lastError.empty())
    lastError = message;
}

enum class Wait { Running, Barrier, Shuffle, Exited };

struct Fiber {
  Context context;
  void *stack = nullptr;
  void *fakeStack = nullptr; // ASan's bookkeeping while switched away
  Wait wait = Wait::Running;
  int32_t tid[3] = {0, 0, 0};
  int32_t linear = 0;
  // The pending shuffle and its result.
  int32_t site = 0, kind = 0, mask = 0, value = 0, offset = 0, clamp = 0;
  int64_t result = 0;
};

class Launch {
public:
  Launch(void (*entry)(void **), void **params, const int64_t grid[3],
         const int64_t block[3])
      : entry(entry), params(params) {
    for (int d = 0; d < 3; ++d) {
      gridDim[d] = static_cast<int32_t>(grid[d]);
      blockDim[d] = static_cast<int32_t>(block[d]);
    }
    const char *schedule = std::getenv("GS_GPU_EMULATOR_SCHEDULE");
    reverse = schedule && std::strcmp(schedule, "reverse") == 0;
  }

  void run(StackPool &stacks);

  // Kernel side.
  int32_t specialRegister(int32_t code);
  int64_t shuffle(int32_t site, int32_t kind, int32_t mask, int32_t value,
                  int32_t offset, int32_t clamp);
  void barrier(int32_t site);
  void sharedMemory(void *address, int64_t bytes);

private:
  static void fiberMain();
  void yield(Fiber &fiber);
  void resume(Fiber &fiber);
  bool runBlock(StackPool &stacks);
  bool resolveBarrier(bool &failed);
  bool resolveShuffles(bool &failed);
  std::string where() const;

  void (*entry)(void **);
  void **params;
  int32_t gridDim[3], blockDim[3];
  int32_t blockId[3] = {0, 0, 0};
  bool reverse = false;
  /// Shared variables this block has filled with poison.
  std::vector<void *> poisoned;
  std::vector<Fiber> fibers;
  Fiber *current = nullptr;
  Context scheduler;
  void *schedulerFakeStack = nullptr;
  const void *schedulerStackBottom = nullptr;
  size_t schedulerStackSize = 0;
};

thread_local Launch *activeLaunch = nullptr;

std::string Launch::where() const {
  std::string text = "block (" + std::to_string(blockId[0]) + ", " +
                     std::to_string(blockId[1]) + ", " +
                     std::to_string(blockId[2]) + ")";
  if (current)
    text += " thread " + std::to_string(current->linear);
  return text;
}

void Launch::fiberMain() {
  Launch *launch = activeLaunch;
  finishSwitch(nullptr, &launch->schedulerStackBottom,
               &launch->schedulerStackSize);
  launch->entry(launch->params);
  Fiber &self = *launch->current;
  self.wait = Wait::Exited;
  // This fiber is done: ASan may drop its fake stack.
  startSwitch(nullptr, launch->schedulerStackBottom,
              launch->schedulerStackSize);
  switchContext(self.context, launch->scheduler);
  __builtin_unreachable(); // the scheduler never resumes an exited fiber
}

void Launch::yield(Fiber &fiber) {
  startSwitch(&fiber.fakeStack, schedulerStackBottom, schedulerStackSize);
  switchContext(fiber.context, scheduler);
  finishSwitch(fiber.fakeStack, &schedulerStackBottom, &schedulerStackSize);
}

void Launch::resume(Fiber &fiber) {
  current = &fiber;
  startSwitch(&schedulerFakeStack, fiber.stack, kStackBytes);
  switchContext(scheduler, fiber.context);
  finishSwitch(schedulerFakeStack, nullptr, nullptr);
  current = nullptr;
}

int32_t Launch::specialRegister(int32_t code) {
  Fiber &fiber = *current;
  switch (code) {
  case 0:
  case 1:
  case 2:
    return fiber.tid[code];
  case 3:
  case 4:
  case 5:
    return blockDim[code - 3];
  case 6:
  case 7:
  case 8:
    return blockId[code - 6];
  case 9:
  case 10:
  case 11:
    return gridDim[code - 9];
  case 12:
    return fiber.linear % kWarpSize;
  case 13:
    return kWarpSize;
  default:
    fail("gsEmuSpecialRegister: unknown register code " + std::to_string(code));
    return 0;
  }
}

int64_t Launch::shuffle(int32_t site, int32_t kind, int32_t mask, int32_t value,
                        int32_t offset, int32_t clamp) {
  Fiber &fiber = *current;
  fiber.wait = Wait::Shuffle;
  fiber.site = site;
  fiber.kind = kind;
  fiber.mask = mask;
  fiber.value = value;
  fiber.offset = offset;
  fiber.clamp = clamp;
  yield(fiber);
  return fiber.result;
}

/// On a GPU shared memory starts each block undefined; here one host
/// variable serves every block, so a kernel that read what an earlier block
/// left there would pass. The first thread of each block to enter fills it
/// with 0xFF bytes (NaN, -1) instead, before any thread writes it.
void Launch::sharedMemory(void *address, int64_t bytes) {
  if (std::find(poisoned.begin(), poisoned.end(), address) != poisoned.end())
    return;
  poisoned.push_back(address);
  std::memset(address, 0xFF, static_cast<size_t>(bytes));
}

void Launch::barrier(int32_t site) {
  Fiber &fiber = *current;
  fiber.wait = Wait::Barrier;
  fiber.site = site;
  yield(fiber);
}

bool Launch::resolveBarrier(bool &failed) {
  const Fiber *first = nullptr;
  for (Fiber &fiber : fibers) {
    if (fiber.wait == Wait::Barrier)
      first = first ? first : &fiber;
    else if (fiber.wait != Wait::Exited)
      return false;
  }
  if (!first)
    return false;
  // Threads of a block that wait at different barrier instructions are
  // divergent: undefined on a GPU, though one hardware barrier may count
  // them together.
  for (Fiber &fiber : fibers) {
    if (fiber.wait == Wait::Barrier && fiber.site != first->site) {
      fail("divergent barriers in block (" + std::to_string(blockId[0]) + ", " +
           std::to_string(blockId[1]) + ", " + std::to_string(blockId[2]) +
           "): threads " + std::to_string(first->linear) + " and " +
           std::to_string(fiber.linear) + " wait at different barriers");
      failed = true;
      return false;
    }
  }
  // bar.sync waits for the threads that have not exited.
  for (Fiber &fiber : fibers)
    if (fiber.wait == Wait::Barrier)
      fiber.wait = Wait::Running;
  return true;
}

/// The lanes of each warp whose shuffle can complete exchange values by the
/// rules of PTX's shfl.sync.
bool Launch::resolveShuffles(bool &failed) {
  bool progress = false;
  int numThreads = static_cast<int>(fibers.size());
  for (int first = 0; first < numThreads; first += kWarpSize) {
    int lanes = std::min(kWarpSize, numThreads - first);
    Fiber *warp = &fibers[first];
    std::string warpName = "warp " + std::to_string(first / kWarpSize);
    for (int lane = 0; lane < lanes; ++lane) {
      Fiber &leader = warp[lane];
      if (leader.wait != Wait::Shuffle)
        continue;
      uint32_t mask = static_cast<uint32_t>(leader.mask);
      if (!(mask >> lane & 1)) {
        fail("shuffle in " + where() + " " + warpName + ": lane " +
             std::to_string(lane) + " is not in its own mask");
        failed = true;
        return false;
      }
      bool ready = true;
      for (int other = 0; other < kWarpSize && ready; ++other) {
        if (!(mask >> other & 1))
          continue;
        if (other >= lanes) {
          fail("shuffle in " + warpName + " names lane " +
               std::to_string(other) + ", which the block does not have");
          failed = true;
          return false;
        }
        Fiber &peer = warp[other];
        if (peer.wait == Wait::Exited) {
          fail("shuffle in " + warpName + " waits for lane " +
               std::to_string(other) + ", which has exited");
          failed = true;
          return false;
        }
        if (peer.wait != Wait::Shuffle) {
          ready = false;
        } else if (peer.site != leader.site ||
                   static_cast<uint32_t>(peer.mask) != mask) {
          fail("divergent shuffles in " + warpName + ": lanes " +
               std::to_string(lane) + " and " + std::to_string(other) +
               " wait at different shuffles or masks");
          failed = true;
          return false;
        }
      }
      if (!ready)
        continue;
      int32_t results[kWarpSize];
      bool valid[kWarpSize];
      for (int self = 0; self < kWarpSize; ++self) {
        if (!(mask >> self & 1))
          continue;
        Fiber &fiber = warp[self];
        int32_t b = fiber.offset & 0x1f;
        int32_t c = fiber.clamp & 0x1f;
        int32_t segmask = (fiber.clamp >> 8) & 0x1f;
        int32_t maxLane = (self & segmask) | (c & ~segmask);
        int32_t minLane = self & segmask;
        int32_t source = self;
        bool inRange = false;
        switch (fiber.kind) {
        case 0: // bfly
          source = self ^ b;
          inRange = source <= maxLane;
          break;
        case 1: // up
          source = self - b;
          inRange = source >= maxLane;
          break;
        case 2: // down
          source = self + b;
          inRange = source <= maxLane;
          break;
        case 3: // idx
          source = minLane | (b & ~segmask);
          inRange = source <= maxLane;
          break;
        default:
          fail("shuffle of unknown kind " + std::to_string(fiber.kind));
          failed = true;
          return false;
        }
        if (!inRange)
          source = self;
        if (source < 0 || source >= kWarpSize || !(mask >> source & 1)) {
          fail("shuffle in " + warpName + ": lane " + std::to_string(self) +
               " reads lane " + std::to_string(source) +
               ", which is not in the mask");
          failed = true;
          return false;
        }
        results[self] = warp[source].value;
        valid[self] = inRange;
      }
      for (int self = 0; self < kWarpSize; ++self) {
        if (!(mask >> self & 1))
          continue;
        warp[self].result =
            static_cast<int64_t>(static_cast<uint32_t>(results[self])) |
            (static_cast<int64_t>(valid[self]) << 32);
        warp[self].wait = Wait::Running;
      }
      progress = true;
    }
  }
  return progress;
}

bool Launch::runBlock(StackPool &stacks) {
  int numThreads = blockDim[0] * blockDim[1] * blockDim[2];
  poisoned.clear();
  fibers.assign(numThreads, Fiber());
  for (int i = 0; i < numThreads; ++i) {
    Fiber &fiber = fibers[i];
    fiber.linear = i;
    fiber.tid[0] = i % blockDim[0];
    fiber.tid[1] = i / blockDim[0] % blockDim[1];
    fiber.tid[2] = i / (blockDim[0] * blockDim[1]);
    fiber.stack = stacks.stack(i);
    makeContext(fiber.context, fiber.stack, kStackBytes, &Launch::fiberMain);
  }
  while (true) {
    for (int k = 0; k < numThreads; ++k) {
      Fiber &fiber = fibers[reverse ? numThreads - 1 - k : k];
      if (fiber.wait == Wait::Running)
        resume(fiber);
    }
    bool allExited = true;
    for (Fiber &fiber : fibers)
      allExited &= fiber.wait == Wait::Exited;
    if (allExited)
      return true;
    bool failed = false;
    bool progress = resolveShuffles(failed);
    if (failed)
      return false;
    if (!progress) {
      progress = resolveBarrier(failed);
      if (failed)
        return false;
    }
    if (!progress) {
      int atBarrier = 0, atShuffle = 0, exited = 0;
      for (Fiber &fiber : fibers) {
        atBarrier += fiber.wait == Wait::Barrier;
        atShuffle += fiber.wait == Wait::Shuffle;
        exited += fiber.wait == Wait::Exited;
      }
      fail("deadlock in " + where() + ": " + std::to_string(atBarrier) +
           " threads wait at a barrier, " + std::to_string(atShuffle) +
           " at a shuffle, " + std::to_string(exited) + " have exited");
      return false;
    }
  }
}

void Launch::run(StackPool &stacks) {
  int numThreads = blockDim[0] * blockDim[1] * blockDim[2];
  if (!stacks.reserve(numThreads)) {
    fail("gsEmuLaunch: cannot map stacks for " + std::to_string(numThreads) +
         " threads");
    return;
  }
  activeLaunch = this;
  for (blockId[2] = 0; blockId[2] < gridDim[2]; ++blockId[2])
    for (blockId[1] = 0; blockId[1] < gridDim[1]; ++blockId[1])
      for (blockId[0] = 0; blockId[0] < gridDim[0]; ++blockId[0])
        if (!runBlock(stacks) || !lastError.empty()) {
          activeLaunch = nullptr;
          return;
        }
  activeLaunch = nullptr;
}

} // namespace

extern "C" {

const char *gsEmuGetLastError(void) {
  return lastError.empty() ? nullptr : lastError.c_str();
}

void gsEmuClearLastError(void) { lastError.clear(); }

void gsEmuLaunch(void (*entry)(void **), int64_t gridX, int64_t gridY,
                 int64_t gridZ, int64_t blockX, int64_t blockY, int64_t blockZ,
                 int32_t sharedBytes, void **params) {
  if (!lastError.empty())
    return; // a failed step stays failed, as a CUDA context does
  if (activeLaunch) {
    fail("gsEmuLaunch: kernels cannot launch kernels");
    return;
  }
  const int64_t grid[3] = {gridX, gridY, gridZ};
  const int64_t block[3] = {blockX, blockY, blockZ};
  const int64_t gridLimit[3] = {2147483647, 65535, 65535};
  const int64_t blockLimit[3] = {1024, 1024, 64};
  for (int d = 0; d < 3; ++d) {
    if (grid[d] < 1 || grid[d] > gridLimit[d] || block[d] < 1 ||
        block[d] > blockLimit[d]) {
      fail("gsEmuLaunch: invalid configuration: grid " + std::to_string(gridX) +
           " x " + std::to_string(gridY) + " x " + std::to_string(gridZ) +
           ", block " + std::to_string(blockX) + " x " +
           std::to_string(blockY) + " x " + std::to_string(blockZ));
      return;
    }
  }
  if (blockX * blockY * blockZ > kMaxThreadsPerBlock) {
    fail("gsEmuLaunch: a block of " + std::to_string(blockX * blockY * blockZ) +
         " threads exceeds " + std::to_string(kMaxThreadsPerBlock));
    return;
  }
  if (sharedBytes != 0) {
    fail("gsEmuLaunch: dynamic shared memory is not emulated");
    return;
  }
  if (!entry) {
    fail("gsEmuLaunch: no kernel");
    return;
  }
  thread_local StackPool stacks;
  Launch launch(entry, params, grid, block);
  launch.run(stacks);
}

int32_t gsEmuSpecialRegister(int32_t code) {
  if (!activeLaunch) {
    fail("gsEmuSpecialRegister called outside a kernel");
    return 0;
  }
  return activeLaunch->specialRegister(code);
}

int64_t gsEmuShuffle(int32_t site, int32_t kind, int32_t mask, int32_t value,
                     int32_t offset, int32_t maskAndClamp) {
  if (!activeLaunch) {
    fail("gsEmuShuffle called outside a kernel");
    return value;
  }
  return activeLaunch->shuffle(site, kind, mask, value, offset, maskAndClamp);
}

void gsEmuBarrier(int32_t site) {
  if (!activeLaunch) {
    fail("gsEmuBarrier called outside a kernel");
    return;
  }
  activeLaunch->barrier(site);
}

void gsEmuSharedMemory(void *address, int64_t bytes) {
  if (!activeLaunch) {
    fail("gsEmuSharedMemory called outside a kernel");
    return;
  }
  activeLaunch->sharedMemory(address, bytes);
}

int32_t gsEmuCheckBlockSize(int32_t x, int32_t y, int32_t z, int32_t exact) {
  if (!activeLaunch) {
    fail("gsEmuCheckBlockSize called outside a kernel");
    return 0;
  }
  int32_t bx = activeLaunch->specialRegister(3),
          by = activeLaunch->specialRegister(4),
          bz = activeLaunch->specialRegister(5);
  bool holds = exact ? (bx == x && by == y && bz == z)
                     : int64_t(bx) * by * bz <= int64_t(x) * y * z;
  if (holds)
    return 1;
  auto dims = [](int32_t a, int32_t b, int32_t c) {
    return std::to_string(a) + " x " + std::to_string(b) + " x " +
           std::to_string(c);
  };
  fail("a kernel compiled for blocks of " +
       std::string(exact ? "" : "at most ") + dims(x, y, z) + " threads (" +
       (exact ? "gpu.known_block_size / nvvm.reqntid" : "nvvm.maxntid") +
       ") was launched with blocks of " + dims(bx, by, bz));
  return 0;
}

// Streams and events: every launch has completed when it returns, so there
// is nothing to wait for; a non-null handle keeps callers' null checks happy.
static char placeholder;
void *gsEmuStreamCreate(void) { return &placeholder; }
void gsEmuStreamDestroy(void *) {}
void gsEmuStreamSynchronize(void *) {}
void gsEmuStreamWaitEvent(void *, void *) {}
void *gsEmuEventCreate(void) { return &placeholder; }
void gsEmuEventDestroy(void *) {}
void gsEmuEventSynchronize(void *) {}
void gsEmuEventRecord(void *, void *) {}

void *gsEmuMemAlloc(uint64_t sizeBytes, void *, bool) {
  // 256-byte alignment, like cuMemAlloc.
  void *memory = nullptr;
  if (posix_memalign(&memory, 256, sizeBytes ? sizeBytes : 1) != 0) {
    fail("gsEmuMemAlloc: out of memory for " + std::to_string(sizeBytes) +
         " bytes");
    return nullptr;
  }
  return memory;
}
void gsEmuMemFree(void *ptr, void *) { std::free(ptr); }
void gsEmuMemcpy(void *dst, void *src, size_t sizeBytes, void *) {
  std::memmove(dst, src, sizeBytes);
}
void gsEmuMemset32(void *dst, unsigned int value, size_t count, void *) {
  auto *out = static_cast<unsigned int *>(dst);
  for (size_t i = 0; i < count; ++i)
    out[i] = value;
}
void gsEmuMemset16(void *dst, unsigned short value, size_t count, void *) {
  auto *out = static_cast<unsigned short *>(dst);
  for (size_t i = 0; i < count; ++i)
    out[i] = value;
}

} // extern "C"
