//===- CpuKernels.cpp - Runtime of the prebuilt generic CPU kernels -------===//
//
// Looks the kernels up by name, picks the widest instruction-set build the
// CPU supports, checks a step's tables before anything runs, and spreads the
// norms and update kernels over a persistent pool of threads. Worker w of W
// takes chunks w, w + W, ... (the kernels' own loop), and every chunk sum
// lands in its own slot, so the thread count never changes a result.
//
//===----------------------------------------------------------------------===//

#include "gs-c/CpuKernels.h"

#include "StepChecks.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {
//===----------------------------------------------------------------------===//
// Kernel ABI: MLIR's C interface (llvm.emit_c_interface), memref descriptors
// passed by pointer.
//===----------------------------------------------------------------------===//

template <typename T, int Rank> struct Descriptor {
  T *allocated;
  T *aligned;
  int64_t offset;
  int64_t sizes[Rank];
  int64_t strides[Rank];
};
template <typename T> struct Descriptor<T, 0> {
  T *allocated;
  T *aligned;
  int64_t offset;
};

/// The memrefs every kernel takes, in its argument order.
struct Operands {
  Descriptor<int64_t, 2> table;
  Descriptor<int64_t, 1> chunkOffsets;
  Descriptor<double, 1> hyper;
  Descriptor<double, 2> stats;
  Descriptor<int64_t, 2> counts;
  Descriptor<int64_t, 1> steps;
  Descriptor<double, 1> partials;
  Descriptor<float, 1> records;
  Descriptor<float, 0> invScale, foundInf;
};

using D2I = Descriptor<int64_t, 2> *;
using D1I = Descriptor<int64_t, 1> *;
using D1F64 = Descriptor<double, 1> *;
using D2F64 = Descriptor<double, 2> *;
using D1F32 = Descriptor<float, 1> *;
using D0F32 = Descriptor<float, 0> *;
using WorkerKernel = void (*)(D2I, D1I, D1F64, D2F64, D2I, D1I, D1F64, D1F32,
                              int64_t, int64_t);
using ScalarsKernel = void (*)(D2I, D1I, D1F64, D2F64, D2I, D1I, D1F64, D1F32);
using ScalarsAmpKernel = void (*)(D2I, D1I, D1F64, D2F64, D2I, D1I, D1F64,
                                  D1F32, D0F32, D0F32);
using ScalarsFoundInfKernel = void (*)(D2I, D1I, D1F64, D2F64, D2I, D1I, D1F64,
                                       D1F32, D0F32);

using namespace gs::runtime;

struct Kernel {
  KernelInfo info;
  void *isa[3]; // x86-64, x86-64-v3, x86-64-v4
};
} // namespace

// The kernels, one symbol per instruction-set build.
#define GS_KERNEL(kind, name, moments, hyper, bytes, amp)                      \
  extern "C" void _mlir_ciface_##name##_v1();                                  \
  extern "C" void _mlir_ciface_##name##_v3();                                  \
  extern "C" void _mlir_ciface_##name##_v4();
#include "CpuKernelTable.inc"
#undef GS_KERNEL

namespace {
#define GS_KERNEL_KIND_norms Kind::Norms
#define GS_KERNEL_KIND_scalars Kind::Scalars
#define GS_KERNEL_KIND_update Kind::Update
#define GS_KERNEL(kind, name, moments, hyper, bytes, amp)                      \
  {{#name, GS_KERNEL_KIND_##kind, moments, hyper, bytes, amp},                 \
   {reinterpret_cast<void *>(&_mlir_ciface_##name##_v1),                       \
    reinterpret_cast<void *>(&_mlir_ciface_##name##_v3),                       \
    reinterpret_cast<void *>(&_mlir_ciface_##name##_v4)}},
const Kernel kKernels[] = {
#include "CpuKernelTable.inc"
};
#undef GS_KERNEL

const char *const kISANames[] = {"x86-64", "x86-64-v3", "x86-64-v4"};

int detectISA() {
  int best = 0;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("bmi2"))
    best = 1;
  if (best == 1 && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    best = 2;
#endif
  if (const char *forced = std::getenv("GS_CPU_ISA"))
    for (int i = 0; i <= best; ++i)
      if (std::strcmp(forced, kISANames[i]) == 0)
        return i;
  return best;
}

int isa() {
  static const int chosen = detectISA();
  return chosen;
}

const Kernel *find(const char *name) {
  if (!name)
    return nullptr;
  for (const Kernel &kernel : kKernels)
    if (std::strcmp(kernel.info.name, name) == 0)
      return &kernel;
  return nullptr;
}

/// The checks' view of `args`.
StepShape shapeOf(const GSCpuStepArgs &a) {
  return {a.numTensors,   a.tableWidth,          a.table,
          a.chunkOffsets, a.hyperSize,           a.partialsSize,
          a.recordsSize,  a.invScale != nullptr, a.foundInf != nullptr};
}

/// The buffers every step with tensors needs; the tables themselves are
/// checked by checkTables.
int checkBuffers(const GSCpuStepArgs &a) {
  struct {
    const void *pointer;
    const char *name;
  } required[] = {{a.hyper, "hyper"},       {a.stats, "stats"},
                  {a.counts, "counts"},     {a.steps, "steps"},
                  {a.partials, "partials"}, {a.records, "records"}};
  for (const auto &entry : required)
    if (a.numTensors > 0 && !entry.pointer)
      return fail("%s is null", entry.name);
  return 0;
}

//===----------------------------------------------------------------------===//
// Threads
//===----------------------------------------------------------------------===//

/// A fixed set of threads that run `work(worker)` for workers 1..W-1 while
/// the caller runs worker 0. One parallel phase at a time: a caller that
/// finds the pool busy runs its phase alone (same results, see above).
class Pool {
public:
  bool tryRun(int numWorkers, const std::function<void(int)> &work) {
    std::unique_lock<std::mutex> busy(busyMutex, std::try_to_lock);
    if (!busy.owns_lock())
      return false;
    grow(numWorkers - 1);
    {
      std::lock_guard<std::mutex> lock(mutex);
      job = &work;
      jobWorkers = numWorkers;
      pending = numWorkers - 1;
      ++generation;
    }
    wake.notify_all();
    work(0);
    std::unique_lock<std::mutex> lock(mutex);
    done.wait(lock, [&] { return pending == 0; });
    job = nullptr;
    return true;
  }

  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
      ++generation;
    }
    wake.notify_all();
    for (std::thread &thread : threads)
      thread.join();
  }

private:
  void grow(int count) {
    while (static_cast<int>(threads.size()) < count) {
      int index = static_cast<int>(threads.size()) + 1;
      threads.emplace_back([this, index] { loop(index); });
    }
  }

  void loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int)> *work;
      {
        std::unique_lock<std::mutex> lock(mutex);
        wake.wait(lock, [&] { return generation != seen; });
        seen = generation;
        if (stopping)
          return;
        if (!job || index >= jobWorkers)
          continue;
        work = job;
      }
      (*work)(index);
      std::lock_guard<std::mutex> lock(mutex);
      if (--pending == 0)
        done.notify_one();
    }
  }

  std::mutex busyMutex, mutex;
  std::condition_variable wake, done;
  std::vector<std::thread> threads;
  const std::function<void(int)> *job = nullptr;
  int jobWorkers = 0, pending = 0;
  uint64_t generation = 0;
  bool stopping = false;
};

Pool &pool() {
  static Pool instance;
  return instance;
}

template <typename T, int Rank>
Descriptor<T, Rank> describe(T *data, const int64_t (&sizes)[Rank]) {
  Descriptor<T, Rank> d{};
  d.allocated = d.aligned = data;
  int64_t stride = 1;
  for (int i = Rank - 1; i >= 0; --i) {
    d.sizes[i] = sizes[i];
    d.strides[i] = stride;
    stride *= sizes[i];
  }
  return d;
}

Operands describeArgs(const GSCpuStepArgs &a) {
  int64_t n = a.numTensors;
  Operands o{};
  o.table = describe(const_cast<int64_t *>(a.table), {n, a.tableWidth});
  o.chunkOffsets = describe(const_cast<int64_t *>(a.chunkOffsets), {n + 1});
  o.hyper = describe(const_cast<double *>(a.hyper), {a.hyperSize});
  o.stats = describe(a.stats, {n, 2});
  o.counts = describe(a.counts, {n, 2});
  o.steps = describe(a.steps, {n});
  o.partials = describe(a.partials, {a.partialsSize});
  o.records = describe(a.records, {a.recordsSize});
  o.invScale = {const_cast<float *>(a.invScale),
                const_cast<float *>(a.invScale), 0};
  o.foundInf = {const_cast<float *>(a.foundInf),
                const_cast<float *>(a.foundInf), 0};
  return o;
}

/// Rows [first, last) of a step as a step of their own: the same kernels run
/// on it unchanged. Chunk ids restart at 0 (`offsets`, caller storage, gets
/// the rebased prefix sums, so partials are reused from their start); state
/// and records start at row `first`.
Operands windowOf(const GSCpuStepArgs &a, int64_t first, int64_t last,
                  std::vector<int64_t> &offsets) {
  int64_t n = last - first, base = a.chunkOffsets[first];
  offsets.resize(n + 1);
  for (int64_t t = 0; t <= n; ++t)
    offsets[t] = a.chunkOffsets[first + t] - base;
  GSCpuStepArgs w = a;
  w.numTensors = n;
  w.table = a.table + first * a.tableWidth;
  w.chunkOffsets = offsets.data();
  w.stats = a.stats + first * 2;
  w.counts = a.counts + first * 2;
  w.steps = a.steps + first;
  w.partialsSize = offsets[n];
  w.records = a.records + first * GS_CPU_RECORD_WORDS;
  w.recordsSize = n * GS_CPU_RECORD_WORDS;
  return describeArgs(w);
}

/// Gradient bytes per thread that one window of tensors may span:
/// GS_CPU_WINDOW_BYTES when set (0: the whole table is one window), else
/// 256 KiB on one thread (the window's gradients and the update's other
/// traffic fit in a core's L2) and 0 on more, where handing every window's
/// phases to the pool costs more than the cache saves
/// (benchmarks/cpu_step_windows.py). Read at every step. Returns -1 with the
/// error set when the variable is malformed.
int64_t windowBytesPerThread(int numThreads) {
  const char *text = std::getenv("GS_CPU_WINDOW_BYTES");
  if (!text || !*text)
    return numThreads == 1 ? int64_t(256) << 10 : 0;
  char *end = nullptr;
  errno = 0;
  long long value = std::strtoll(text, &end, 10);
  if (errno || *end || value < 0 || value > (int64_t(1) << 40)) {
    fail("GS_CPU_WINDOW_BYTES must be an integer in [0, 2^40], got '%s'", text);
    return -1;
  }
  return value;
}

void launch(const Kernel &kernel, Operands &o, int numThreads) {
  void *symbol = kernel.isa[isa()];
  if (kernel.info.kind == Kind::Scalars) {
    if (kernel.info.amp == 1)
      reinterpret_cast<ScalarsAmpKernel>(symbol)(
          &o.table, &o.chunkOffsets, &o.hyper, &o.stats, &o.counts, &o.steps,
          &o.partials, &o.records, &o.invScale, &o.foundInf);
    else if (kernel.info.amp == 2)
      reinterpret_cast<ScalarsFoundInfKernel>(symbol)(
          &o.table, &o.chunkOffsets, &o.hyper, &o.stats, &o.counts, &o.steps,
          &o.partials, &o.records, &o.foundInf);
    else
      reinterpret_cast<ScalarsKernel>(symbol)(
          &o.table, &o.chunkOffsets, &o.hyper, &o.stats, &o.counts, &o.steps,
          &o.partials, &o.records);
    return;
  }
  auto run = reinterpret_cast<WorkerKernel>(symbol);
  // More workers than chunks would only idle.
  int64_t chunks = o.chunkOffsets.aligned[o.chunkOffsets.sizes[0] - 1];
  int workers = static_cast<int>(
      std::max<int64_t>(1, std::min<int64_t>(numThreads, chunks)));
  std::function<void(int)> work = [&](int worker) {
    run(&o.table, &o.chunkOffsets, &o.hyper, &o.stats, &o.counts, &o.steps,
        &o.partials, &o.records, worker, workers);
  };
  if (workers == 1 || !pool().tryRun(workers, work))
    for (int w = 0; w < workers; ++w)
      work(w);
}

int checkThreads(int numThreads) {
  if (numThreads < 1 || numThreads > 1024)
    return fail("numThreads must be in [1, 1024], got %d", numThreads);
  return 0;
}
} // namespace

extern "C" {

int gsCpuRunStep(const char *norms, const char *scalars, const char *update,
                 const GSCpuStepArgs *args, int numThreads) {
  lastError().clear();
  if (!args)
    return fail("args is null");
  const Kernel *n = find(norms), *s = find(scalars), *u = find(update);
  if (checkKernel(n ? &n->info : nullptr, norms, Kind::Norms, "CPU") ||
      checkKernel(s ? &s->info : nullptr, scalars, Kind::Scalars, "CPU") ||
      checkKernel(u ? &u->info : nullptr, update, Kind::Update, "CPU") ||
      checkThreads(numThreads) || checkStepKernels(n->info, s->info, u->info))
    return 1;
  StepShape shape = shapeOf(*args);
  if (checkFits(n->info, shape) || checkFits(s->info, shape) ||
      checkFits(u->info, shape) || checkBuffers(*args) ||
      checkTables(shape, u->info.elementBytes))
    return 1;
  int64_t windowBytes = windowBytesPerThread(numThreads);
  if (windowBytes < 0)
    return 1;
  if (args->numTensors == 0)
    return 0;
  // The norms pass reads every gradient, and the update pass reads it
  // again. Run back to back over the whole table, the second read comes
  // from memory; run window by window (consecutive tensors spanning a few
  // hundred KiB of gradients per thread), it comes from the cache. Tensors are
  // independent (spec section 5), so windows change no result; only the
  // group-wide found_inf of a loss-scaled step needs every norm first.
  int64_t budget = windowBytes * numThreads / std::max(1, u->info.elementBytes);
  if (s->info.amp != 0 || budget == 0) {
    Operands o = describeArgs(*args);
    launch(*n, o, numThreads);
    launch(*s, o, 1);
    launch(*u, o, numThreads);
    return 0;
  }
  thread_local std::vector<int64_t> offsets;
  auto numel = [&](int64_t t) { return args->table[t * args->tableWidth]; };
  for (int64_t first = 0, last; first < args->numTensors; first = last) {
    int64_t elements = numel(first);
    for (last = first + 1;
         last < args->numTensors && numel(last) <= budget - elements; ++last)
      elements += numel(last);
    Operands o = windowOf(*args, first, last, offsets);
    launch(*n, o, numThreads);
    launch(*s, o, 1);
    launch(*u, o, numThreads);
  }
  return 0;
}

int gsCpuRunKernel(const char *name, const GSCpuStepArgs *args,
                   int numThreads) {
  lastError().clear();
  if (!args)
    return fail("args is null");
  const Kernel *kernel = find(name);
  if (!kernel)
    return fail("no prebuilt CPU kernel named '%s'", name ? name : "(null)");
  StepShape shape = shapeOf(*args);
  if (checkThreads(numThreads) || checkFits(kernel->info, shape) ||
      checkBuffers(*args) || checkTables(shape, kernel->info.elementBytes))
    return 1;
  if (args->numTensors == 0)
    return 0;
  Operands o = describeArgs(*args);
  launch(*kernel, o, numThreads);
  return 0;
}

int gsCpuHasKernel(const char *name) { return find(name) != nullptr; }

const char *gsCpuKernelISA(void) { return kISANames[isa()]; }

const char *gsCpuLastError(void) { return lastError().c_str(); }

} // extern "C"
