//===- GpuKernels.cpp - Runtime of the prebuilt generic GPU kernels -------===//
//
// Checks a step on the host copies of its tables, then launches the three
// kernels of the step on the caller's stream. The kernels come from one
// module built by gs-opt --gs-to-nvvm (kernel-library=gs_kernels) and
// embedded in this library: the cubin of the device's architecture when the
// build had one, else the PTX, which the driver compiles once and caches.
//
// Built with GS_GPU_KERNELS_EMULATED, the same runtime launches the same
// kernels compiled by gs-to-gpu-emulator instead, on host memory through
// the GPU emulator: the host logic here (checks, kernel choice, argument
// order, grid sizes) is then tested without a GPU.
//
//===----------------------------------------------------------------------===//

#include "gs-c/GpuKernels.h"

#include "StepChecks.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

using namespace gs::runtime;

namespace {
/// Threads per block: the kernels are built for exactly this many
/// (gpu.func known_block_size).
constexpr unsigned kBlockSize = 256;

#define GS_KERNEL_KIND_norms Kind::Norms
#define GS_KERNEL_KIND_scalars Kind::Scalars
#define GS_KERNEL_KIND_update Kind::Update
#define GS_KERNEL(kind, name, moments, hyper, bytes, amp)                      \
  {#name, GS_KERNEL_KIND_##kind, moments, hyper, bytes, amp},
const KernelInfo kKernels[] = {
#include "GpuKernelTable.inc"
};
#undef GS_KERNEL

const KernelInfo *find(const char *name) {
  if (!name)
    return nullptr;
  for (const KernelInfo &kernel : kKernels)
    if (std::strcmp(kernel.name, name) == 0)
      return &kernel;
  return nullptr;
}

StepShape shapeOf(const GSGpuStepArgs &a) {
  return {a.numTensors,       a.tableWidth,    a.hostTable,
          a.hostChunkOffsets, a.hyperSize,     a.partialsSize,
          a.recordsSize,      a.invScale != 0, a.foundInf != 0};
}

/// The device buffers a step with tensors needs.
int checkBuffers(const GSGpuStepArgs &a) {
  struct {
    uint64_t address;
    const char *name;
    int alignment;
    bool optional;
  } buffers[] = {{a.table, "table", 8, false},
                 {a.chunkOffsets, "chunkOffsets", 8, false},
                 {a.hyper, "hyper", 8, false},
                 {a.stats, "stats", 8, false},
                 {a.counts, "counts", 8, false},
                 {a.steps, "steps", 8, false},
                 {a.partials, "partials", 8, false},
                 {a.records, "records", 4, false},
                 {a.invScale, "invScale", 4, true},
                 {a.foundInf, "foundInf", 4, true}};
  if (a.numTensors == 0)
    return 0;
  for (const auto &entry : buffers) {
    if (!entry.address && !entry.optional)
      return fail("%s is a null device address", entry.name);
    if (entry.address % entry.alignment)
      return fail("%s: device address 0x%llx is not %d-byte aligned",
                  entry.name, static_cast<unsigned long long>(entry.address),
                  entry.alignment);
  }
  return 0;
}

/// The kernel's parameters in its order (MultiTensorKernels.h): buffer
/// addresses, then N, then the table's width when it reads the table.
std::vector<uint64_t> parametersOf(const KernelInfo &kernel,
                                   const GSGpuStepArgs &a) {
  uint64_t n = static_cast<uint64_t>(a.numTensors);
  uint64_t width = static_cast<uint64_t>(a.tableWidth);
  switch (kernel.kind) {
  case Kind::Norms:
    return {a.table, a.chunkOffsets, a.partials, n, width};
  case Kind::Update:
    return {a.table, a.chunkOffsets, a.records, n, width};
  case Kind::Scalars: {
    std::vector<uint64_t> p = {a.chunkOffsets, a.hyper,    a.stats,  a.counts,
                               a.steps,        a.partials, a.records};
    if (kernel.amp == 1)
      p.push_back(a.invScale);
    if (kernel.amp != 0)
      p.push_back(a.foundInf);
    p.push_back(n);
    return p;
  }
  }
  return {};
}

/// The most blocks per launch: GS_GPU_MAX_BLOCKS when set (a positive
/// integer; for tests of grid-size independence and for tuning), else
/// `fallback`. Read at every launch, so a process can vary it. Returns 0
/// with the error set when the variable is malformed.
int64_t maxBlocksFromEnvironment(int64_t fallback) {
  const char *value = std::getenv("GS_GPU_MAX_BLOCKS");
  if (!value || !*value)
    return fallback;
  char *end = nullptr;
  errno = 0;
  long long blocks = std::strtoll(value, &end, 10);
  if (errno || *end || blocks < 1 || blocks > (1ll << 31) - 1) {
    fail("GS_GPU_MAX_BLOCKS must be an integer in [1, 2^31 - 1], got '%s'",
         value);
    return 0;
  }
  return blocks;
}

/// Blocks of a launch: one for `scalars`; for the chunked kernels no more
/// than there are chunks (at least one) and no more than `maxBlocks`. Any
/// grid gives the same bits.
unsigned gridOf(const KernelInfo &kernel, const GSGpuStepArgs &a,
                int64_t maxBlocks) {
  if (kernel.kind == Kind::Scalars)
    return 1;
  int64_t chunks = a.hostChunkOffsets[a.numTensors];
  return static_cast<unsigned>(std::clamp<int64_t>(chunks, 1, maxBlocks));
}
} // namespace

#ifdef GS_GPU_KERNELS_EMULATED
//===----------------------------------------------------------------------===//
// Emulated: the kernels' CPU build, launched through the GPU emulator.
//===----------------------------------------------------------------------===//

#include "gs-c/GpuEmulator.h"

#define GS_KERNEL(kind, name, moments, hyper, bytes, amp)                      \
  extern "C" void __gs_emu_gs_kernels_##name##_entry(void **);
#include "GpuKernelTable.inc"
#undef GS_KERNEL

namespace {
using Entry = void (*)(void **);
#define GS_KERNEL(kind, name, moments, hyper, bytes, amp)                      \
  &__gs_emu_gs_kernels_##name##_entry,
const Entry kEntries[] = {
#include "GpuKernelTable.inc"
};
#undef GS_KERNEL

/// The emulator runs blocks one after another: a few blocks exercise the
/// grid-stride loops as well as many would.
constexpr int64_t kMaxBlocks = 8;

int launch(const KernelInfo &kernel, const GSGpuStepArgs &a, int device,
           void * /*stream*/) {
  if (device != 0)
    return fail("the GPU emulator has one device, 0; got %d", device);
  int64_t maxBlocks = maxBlocksFromEnvironment(kMaxBlocks);
  if (!maxBlocks)
    return 1;
  std::vector<uint64_t> values = parametersOf(kernel, a);
  std::vector<void *> params;
  for (uint64_t &value : values)
    params.push_back(&value);
  gsEmuClearLastError();
  gsEmuLaunch(kEntries[&kernel - kKernels], gridOf(kernel, a, maxBlocks), 1, 1,
              kBlockSize, 1, 1, 0, params.data());
  if (const char *error = gsEmuGetLastError()) {
    fail("kernel '%s': %s", kernel.name, error);
    gsEmuClearLastError();
    return 1;
  }
  return 0;
}

int prepare(const KernelInfo & /*kernel*/, int device) {
  if (device != 0)
    return fail("the GPU emulator has one device, 0; got %d", device);
  return 0;
}

const char *imageOf(int device) {
  if (device != 0) {
    fail("the GPU emulator has one device, 0; got %d", device);
    return nullptr;
  }
  return "emulator";
}
} // namespace

#else
//===----------------------------------------------------------------------===//
// CUDA: the embedded images, loaded once per device.
//===----------------------------------------------------------------------===//

#include "CudaDriver.h"

using namespace gs::cuda;

// The images (GpuKernelImages.S): NUL-terminated PTX per target, and the
// cubins the build made with their sizes (0 when it had no ptxas).
extern "C" const char gs_gpu_kernels_ptx_sm80[], gs_gpu_kernels_ptx_sm70[],
    gs_gpu_kernels_cubin_sm75[], gs_gpu_kernels_cubin_sm80[],
    gs_gpu_kernels_cubin_sm90[];
extern "C" const uint64_t gs_gpu_kernels_cubin_sm75_size,
    gs_gpu_kernels_cubin_sm80_size, gs_gpu_kernels_cubin_sm90_size;

namespace {
struct LoadedDevice {
  CUcontext context = nullptr;
  CUmodule module = nullptr;
  std::string image, error;
  int64_t maxBlocks = 0;
  std::map<const KernelInfo *, CUfunction> functions;
};

std::mutex devicesMutex;
std::map<int, LoadedDevice> devices;

/// Pushes `context` for the lifetime of the object.
class ScopedContext {
public:
  explicit ScopedContext(CUcontext context) {
    CUresult result = getDriver().cuCtxPushCurrent_v2(context);
    if (result != kSuccess)
      fail("%s", describe("cuCtxPushCurrent", result).c_str());
    else
      active = true;
  }
  ~ScopedContext() {
    CUcontext previous;
    if (active)
      getDriver().cuCtxPopCurrent_v2(&previous);
  }
  explicit operator bool() const { return active; }

private:
  bool active = false;
};

/// Loads the image that fits `device` into its primary context. Called with
/// devicesMutex held; on failure the reason is kept, so later calls report
/// it at once.
LoadedDevice *load(int ordinal) {
  LoadedDevice &d = devices[ordinal];
  if (d.module)
    return &d;
  if (!d.error.empty()) {
    fail("%s", d.error.c_str());
    return nullptr;
  }
  auto failed = [&](std::string error) -> LoadedDevice * {
    d.error = std::move(error);
    fail("%s", d.error.c_str());
    return nullptr;
  };
  std::string error;
  d.context = getPrimaryContext(ordinal, error);
  if (!d.context)
    return failed(error);
  const Driver &driver = getDriver();
  ScopedContext scope(d.context);
  if (!scope)
    return failed(lastError());
  int major = 0, minor = 0, sms = 0;
  CUdevice device;
  driver.cuDeviceGet(&device, ordinal);
  driver.cuDeviceGetAttribute(&major, kAttributeComputeMajor, device);
  driver.cuDeviceGetAttribute(&minor, kAttributeComputeMinor, device);
  driver.cuDeviceGetAttribute(&sms, kAttributeMultiprocessors, device);
  // A cubin runs on its own major architecture from its minor version up;
  // PTX, compiled by the driver, on its target and everything newer. The
  // newest image that runs on the device wins.
  struct Image {
    int major, minor;
    const char *data;
    bool available, isPTX;
  };
  const Image images[] = {
      {9, 0, gs_gpu_kernels_cubin_sm90, gs_gpu_kernels_cubin_sm90_size != 0,
       false},
      {8, 0, gs_gpu_kernels_cubin_sm80, gs_gpu_kernels_cubin_sm80_size != 0,
       false},
      {8, 0, gs_gpu_kernels_ptx_sm80, true, true},
      {7, 5, gs_gpu_kernels_cubin_sm75, gs_gpu_kernels_cubin_sm75_size != 0,
       false},
      {7, 0, gs_gpu_kernels_ptx_sm70, true, true},
  };
  const Image *chosen = nullptr;
  for (const Image &image : images) {
    bool runs = image.isPTX
                    ? major * 10 + minor >= image.major * 10 + image.minor
                    : major == image.major && minor >= image.minor;
    if (image.available && runs) {
      chosen = &image;
      break;
    }
  }
  std::string chip = "sm_" + std::to_string(major) + std::to_string(minor);
  if (!chosen)
    return failed("device " + std::to_string(ordinal) + " is " + chip +
                  "; the prebuilt GPU kernels need sm_70 or newer");
  std::string target =
      "sm_" + std::to_string(chosen->major) + std::to_string(chosen->minor);
  CUresult result;
  if (!chosen->isPTX) {
    d.image = "cubin " + target;
    result = driver.cuModuleLoadData(&d.module, chosen->data);
  } else {
    d.image = "PTX " + target + " (JIT for " + chip + ")";
    int options[] = {kJitOptimizationLevel};
    void *values[] = {reinterpret_cast<void *>(static_cast<intptr_t>(4))};
    result =
        driver.cuModuleLoadDataEx(&d.module, chosen->data, 1, options, values);
  }
  if (result != kSuccess) {
    d.module = nullptr;
    return failed("loading the GPU kernels (" + d.image + ") on device " +
                  std::to_string(ordinal) + ": " +
                  describe("cuModuleLoadData", result));
  }
  // Enough blocks to fill the device a few times over; past that, blocks
  // loop over the chunks.
  d.maxBlocks = std::max(1, sms) * 8;
  return &d;
}

/// The kernel's function on device `ordinal`, looked up once; null with
/// the error set when the device or kernel cannot be had.
CUfunction resolve(const KernelInfo &kernel, int ordinal, CUcontext &context,
                   int64_t &maxBlocks) {
  std::lock_guard<std::mutex> lock(devicesMutex);
  LoadedDevice *d = load(ordinal);
  if (!d)
    return nullptr;
  context = d->context;
  maxBlocks = d->maxBlocks;
  CUfunction &slot = d->functions[&kernel];
  if (!slot) {
    ScopedContext scope(d->context);
    if (!scope)
      return nullptr;
    CUresult result =
        getDriver().cuModuleGetFunction(&slot, d->module, kernel.name);
    if (result != kSuccess) {
      slot = nullptr;
      fail("kernel '%s': %s", kernel.name,
           describe("cuModuleGetFunction", result).c_str());
    }
  }
  return slot;
}

int prepare(const KernelInfo &kernel, int ordinal) {
  CUcontext context;
  int64_t maxBlocks;
  return resolve(kernel, ordinal, context, maxBlocks) ? 0 : 1;
}

int launch(const KernelInfo &kernel, const GSGpuStepArgs &a, int ordinal,
           void *stream) {
  CUcontext context;
  int64_t maxBlocks;
  CUfunction function = resolve(kernel, ordinal, context, maxBlocks);
  if (!function)
    return 1;
  maxBlocks = maxBlocksFromEnvironment(maxBlocks);
  if (!maxBlocks)
    return 1;
  std::vector<uint64_t> values = parametersOf(kernel, a);
  std::vector<void *> params;
  for (uint64_t &value : values)
    params.push_back(&value);
  ScopedContext scope(context);
  if (!scope)
    return 1;
  CUresult result = getDriver().cuLaunchKernel(
      function, gridOf(kernel, a, maxBlocks), 1, 1, kBlockSize, 1, 1, 0, stream,
      params.data(), nullptr);
  if (result != kSuccess)
    return fail("kernel '%s': %s", kernel.name,
                describe("cuLaunchKernel", result).c_str());
  return 0;
}

const char *imageOf(int ordinal) {
  std::lock_guard<std::mutex> lock(devicesMutex);
  LoadedDevice *d = load(ordinal);
  return d ? d->image.c_str() : nullptr;
}
} // namespace
#endif

extern "C" {

int gsGpuRunStep(const char *norms, const char *scalars, const char *update,
                 const GSGpuStepArgs *args, int device, void *stream) {
  lastError().clear();
  if (!args)
    return fail("args is null");
  const KernelInfo *n = find(norms), *s = find(scalars), *u = find(update);
  if (checkKernel(n, norms, Kind::Norms, "GPU") ||
      checkKernel(s, scalars, Kind::Scalars, "GPU") ||
      checkKernel(u, update, Kind::Update, "GPU") ||
      checkStepKernels(*n, *s, *u))
    return 1;
  StepShape shape = shapeOf(*args);
  if (checkFits(*n, shape) || checkFits(*s, shape) || checkFits(*u, shape) ||
      checkTables(shape, u->elementBytes) || checkBuffers(*args))
    return 1;
  if (args->numTensors == 0)
    return 0;
  // Every kernel is loaded before the first launch, so a device that cannot
  // run them changes nothing. Launches queue in order on one stream.
  if (prepare(*n, device) || prepare(*s, device) || prepare(*u, device))
    return 1;
  return launch(*n, *args, device, stream) ||
         launch(*s, *args, device, stream) || launch(*u, *args, device, stream);
}

int gsGpuRunKernel(const char *name, const GSGpuStepArgs *args, int device,
                   void *stream) {
  lastError().clear();
  if (!args)
    return fail("args is null");
  const KernelInfo *kernel = find(name);
  if (!kernel)
    return fail("no prebuilt GPU kernel named '%s'", name ? name : "(null)");
  StepShape shape = shapeOf(*args);
  if (checkFits(*kernel, shape) || checkTables(shape, kernel->elementBytes) ||
      checkBuffers(*args))
    return 1;
  if (args->numTensors == 0)
    return 0;
  return prepare(*kernel, device) || launch(*kernel, *args, device, stream);
}

int gsGpuHasKernel(const char *name) { return find(name) != nullptr; }

const char *gsGpuKernelImage(int device) {
  lastError().clear();
  return imageOf(device);
}

const char *gsGpuLastError(void) { return lastError().c_str(); }

} // extern "C"
