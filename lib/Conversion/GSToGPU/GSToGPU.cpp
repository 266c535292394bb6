//===- GSToGPU.cpp - Lower gs.multi_tensor_step to fused GPU kernels ------===//
//
// Host side of the GPU lowering: per gs.multi_tensor_step its kernels
// (MultiTensorKernels.h) and, in place of the op, three asynchronous
// launches on one stream. A static gs.group_step reaches this pass already
// bufferized into such a step over host-built tables, which move to the
// device here.
//
//===----------------------------------------------------------------------===//

#include "gs/Conversion/GSToGPU/GSToGPU.h"

#include "MultiTensorKernels.h"
#include "gs/Dialect/GS/IR/GSDialect.h"
#include "gs/Dialect/GS/IR/GSOps.h"
#include "gs/Dialect/GS/Utils/MultiTensorUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/StringSwitch.h"

namespace mlir::gs {
#define GEN_PASS_DEF_CONVERTGSTOGPU
#include "gs/Conversion/Passes.h.inc"
} // namespace mlir::gs

using namespace mlir;
using namespace mlir::gs;

static constexpr int64_t kWarpSize = 32;
static constexpr int64_t kMaxBlockSize = 1024;

namespace {
struct ConvertGSToGPUPass : gs::impl::ConvertGSToGPUBase<ConvertGSToGPUPass> {
  using Base::Base;
  void runOnOperation() override;

private:
  LogicalResult checkOptions();
  LogicalResult lower(MultiTensorStepOp op, SymbolTable &symbols);
  MultiTensorKernels getOrBuildKernels(MultiTensorStepOp op,
                                       SymbolTable &symbols);
  /// The kernels of `op` in the kernel-library module, named after the
  /// function holding `op`.
  FailureOr<MultiTensorKernels> buildLibraryKernels(MultiTensorStepOp op,
                                                    SymbolTable &symbols);

  /// The gpu.modules of multi-tensor kernels built so far: a step whose
  /// kernels come out the same as an earlier one's launches those.
  SmallVector<gpu::GPUModuleOp> multiTensorModules;
};
} // namespace

LogicalResult ConvertGSToGPUPass::checkOptions() {
  ModuleOp module = getOperation();
  if (blockSize < kWarpSize || blockSize > kMaxBlockSize ||
      blockSize % kWarpSize != 0)
    return module.emitError("convert-gs-to-gpu: block-size must be a "
                            "multiple of 32 in [32, 1024], got ")
           << static_cast<unsigned>(blockSize);
  if (chunkSize == 0 || chunkSize % 8 != 0)
    return module.emitError("convert-gs-to-gpu: chunk-size must be a "
                            "positive multiple of 8, got ")
           << static_cast<unsigned>(chunkSize);
  if (maxBlocks == 0)
    return module.emitError("convert-gs-to-gpu: max-blocks must be at "
                            "least 1");
  return success();
}

//===----------------------------------------------------------------------===//
// gs.multi_tensor_step
//===----------------------------------------------------------------------===//

/// The buffer operands of `op` with their names, for diagnostics.
static SmallVector<std::pair<StringRef, Value>>
namedBuffers(MultiTensorStepOp op) {
  SmallVector<std::pair<StringRef, Value>> buffers = {
      {"table", op.getTable()},       {"chunk_offsets", op.getChunkOffsets()},
      {"hyper", op.getHyper()},       {"stats", op.getStats()},
      {"counts", op.getCounts()},     {"steps", op.getSteps()},
      {"partials", op.getPartials()}, {"records", op.getRecords()}};
  if (Value invScale = op.getInvScale())
    buffers.push_back({"inv_scale", invScale});
  if (Value foundInf = op.getFoundInf())
    buffers.push_back({"found_inf", foundInf});
  return buffers;
}

/// True when `value` is memory the kernels may address: an argument of the
/// enclosing function (the caller's device buffer) or a gpu.alloc.
static bool isDeviceBuffer(Value value) {
  if (value.getDefiningOp<gpu::AllocOp>())
    return true;
  auto arg = dyn_cast<BlockArgument>(value);
  if (!arg)
    return false;
  auto func = dyn_cast<FunctionOpInterface>(arg.getOwner()->getParentOp());
  return func && arg.getOwner() == &func.getFunctionBody().front();
}

/// The operands the host may provide in its own memory, which this pass
/// copies to the device: the tables it fills before the step (true) and the
/// scratch (false). A static gs.group_step bufferizes into such tables.
static std::optional<bool> getStagingCopy(StringRef name) {
  return llvm::StringSwitch<std::optional<bool>>(name)
      .Cases({"table", "chunk_offsets", "hyper"}, true)
      .Cases({"partials", "records"}, false)
      .Default(std::nullopt);
}

/// A host allocation of this function that the host fills and the step
/// reads: a memref.alloca or memref.alloc with an identity layout.
static bool isHostAllocation(Value value) {
  auto type = cast<MemRefType>(value.getType());
  return type.getLayout().isIdentity() && !type.getMemorySpace() &&
         (value.getDefiningOp<memref::AllocaOp>() ||
          value.getDefiningOp<memref::AllocOp>());
}

/// The buffer whose address `value` is (through
/// memref.extract_aligned_pointer_as_index and index casts), or null.
static Value getAddressedBuffer(Value value) {
  while (auto cast = value.getDefiningOp<arith::IndexCastOp>())
    value = cast.getIn();
  if (auto pointer =
          value.getDefiningOp<memref::ExtractAlignedPointerAsIndexOp>())
    return pointer.getSource();
  return Value();
}

/// Fails when host code reads or writes `buffer`, device memory the step
/// works on (`what` names it): that would fault on a GPU.
static LogicalResult checkNoHostAccess(MultiTensorStepOp op, Value buffer,
                                       const Twine &what) {
  for (Operation *user : buffer.getUsers()) {
    if (!isa<memref::LoadOp, memref::StoreOp, memref::CopyOp>(user) ||
        user->getParentOfType<gpu::GPUModuleOp>())
      continue;
    // A result materialized into its own buffer: a copy onto itself, which
    // canonicalization removes.
    if (auto copy = dyn_cast<memref::CopyOp>(user))
      if (copy.getSource() == copy.getTarget())
        continue;
    InFlightDiagnostic diag = op.emitOpError()
                              << what
                              << " is device memory, but host code accesses "
                                 "it (read the results back with a copy to "
                                 "the host, e.g. gpu.memcpy)";
    diag.attachNote(user->getLoc()) << "accessed here";
    return diag;
  }
  return success();
}

/// A host-built table holds the tensors' addresses: each must be a device
/// buffer. Bufferization copies a tensor into host memory when its old value
/// is still read after the step; its address would fault on the GPU.
static LogicalResult checkTableAddresses(MultiTensorStepOp op, Value table) {
  SmallVector<Value> buffers;
  for (Operation *user : table.getUsers()) {
    auto store = dyn_cast<memref::StoreOp>(user);
    if (!store || store.getMemRef() != table ||
        store.getValue().getDefiningOp<arith::ConstantOp>())
      continue;
    Value buffer = getAddressedBuffer(store.getValue());
    if (buffer && isDeviceBuffer(buffer)) {
      buffers.push_back(buffer);
      continue;
    }
    InFlightDiagnostic diag = op.emitOpError();
    diag << "reads a table entry that is not the address of a device buffer: "
            "on the GPU every tensor must be an argument of the enclosing "
            "function or a gpu.alloc";
    if (buffer && buffer.getDefiningOp<memref::AllocOp>())
      diag << " (bufferization made a copy in host memory, memref.alloc: of "
              "a tensor that is no function argument, or whose old value is "
              "still used after the step)";
    else if (buffer && buffer.getDefiningOp())
      diag << " (it is a " << buffer.getDefiningOp()->getName()
           << " in host memory)";
    diag.attachNote(store.getLoc()) << "the entry is stored here";
    return diag;
  }
  // Only then whether the host touches them: a copy bufferization made
  // reads its source on the host, and the copy is the clearer message.
  for (Value buffer : buffers)
    if (failed(checkNoHostAccess(op, buffer, "a tensor of the table")))
      return failure();
  return success();
}

/// The kernels get each buffer as a device address: the state and the loss
/// scale must be the caller's device memory (a function argument or a
/// gpu.alloc), contiguous, in the default memory space; tables and scratch
/// may also be host allocations, which are staged. Returns the staged ones
/// with whether to copy them in.
static FailureOr<SmallVector<std::pair<Value, bool>>>
checkDeviceBuffers(MultiTensorStepOp op) {
  SmallVector<std::pair<Value, bool>> staged;
  for (auto [name, value] : namedBuffers(op)) {
    auto type = cast<MemRefType>(value.getType());
    if (!type.getLayout().isIdentity() || type.getMemorySpace())
      return op.emitOpError()
             << name
             << " must be a contiguous memref (identity layout) in the "
                "default memory space, got "
             << type;
    std::optional<bool> copy = getStagingCopy(name);
    if (isDeviceBuffer(value)) {
      if (!copy && failed(checkNoHostAccess(op, value, name)))
        return failure();
      continue;
    }
    if (copy && isHostAllocation(value)) {
      Value buffer = value;
      if (llvm::any_of(staged, [&](auto &s) { return s.first == buffer; }))
        return op.emitOpError()
               << name << " shares its host allocation with another operand";
      if (name == "table" && failed(checkTableAddresses(op, value)))
        return failure();
      // Scratch is not copied back: host code may not read it afterwards.
      if (!*copy)
        for (Operation *user : value.getUsers())
          if (user != op && !isa<memref::DeallocOp>(user))
            return op.emitOpError()
                   << name
                   << " is host memory that other operations use, but the "
                      "step's scratch is not copied back from the device: "
                      "give it a gpu.alloc";
      staged.push_back({value, *copy});
      continue;
    }
    return op.emitOpError()
           << name
           << " must be an argument of the enclosing function or a "
              "gpu.alloc"
           << (copy ? ", or a memref.alloca / memref.alloc of this function "
                      "that the pass copies to the device"
                    : "")
           << ": on the GPU a step works on the caller's device buffers";
  }
  return staged;
}

/// True when `a` and `b` hold the same kernels.
static bool haveSameKernels(gpu::GPUModuleOp a, gpu::GPUModuleOp b) {
  auto aOps = a.getBody()->without_terminator();
  auto bOps = b.getBody()->without_terminator();
  if (std::distance(aOps.begin(), aOps.end()) !=
      std::distance(bOps.begin(), bOps.end()))
    return false;
  for (auto [x, y] : llvm::zip(aOps, bOps))
    if (!OperationEquivalence::isEquivalentTo(
            &x, &y, OperationEquivalence::IgnoreLocations))
      return false;
  return true;
}

/// The kernels of `kernels` that were built.
static SmallVector<MultiTensorKernel *>
builtKernels(MultiTensorKernels &kernels) {
  SmallVector<MultiTensorKernel *> built;
  for (MultiTensorKernel *kernel :
       {&kernels.norms, &kernels.scalars, &kernels.update})
    if (kernel->func)
      built.push_back(kernel);
  return built;
}

FailureOr<MultiTensorKernels>
ConvertGSToGPUPass::buildLibraryKernels(MultiTensorStepOp op,
                                        SymbolTable &symbols) {
  auto func = op->getParentOfType<FunctionOpInterface>();
  if (!func)
    return op.emitOpError("must be in a function when kernel-library is set: "
                          "its kernels are named after the function");
  auto library = symbols.lookup<gpu::GPUModuleOp>(kernelLibrary);
  if (!library) {
    if (symbols.lookup(kernelLibrary))
      return op.emitOpError("kernel-library '")
             << kernelLibrary << "' names a symbol that is not a gpu.module";
    OpBuilder b = OpBuilder::atBlockEnd(getOperation().getBody());
    library = gpu::GPUModuleOp::create(b, op.getLoc(), kernelLibrary);
    symbols.insert(library);
  }
  StringRef prefix = func.getName();
  std::string first = op.getPhase() == StepPhase::All
                          ? (prefix + "_norms").str()
                          : prefix.str();
  if (library.lookupSymbol(first))
    return op.emitOpError("is the second step of its phase in @")
           << prefix
           << ": with kernel-library, kernels are named after their function, "
              "so a function holds one step per phase";
  OpBuilder b(op);
  return buildMultiTensorKernels(b, op, library, blockSize, prefix);
}

MultiTensorKernels ConvertGSToGPUPass::getOrBuildKernels(MultiTensorStepOp op,
                                                         SymbolTable &symbols) {
  OpBuilder b = OpBuilder::atBlockEnd(getOperation().getBody());
  auto module =
      gpu::GPUModuleOp::create(b, op.getLoc(), "gs_multi_tensor_step");
  symbols.insert(module);
  MultiTensorKernels kernels =
      buildMultiTensorKernels(b, op, module, blockSize);
  // The kernels depend on a few structural properties of the op only (the
  // optimizer's flags, the policy, the element type, the chunk size, the
  // optional operands, the phase); built, they are compared rather than
  // keyed.
  for (gpu::GPUModuleOp cached : multiTensorModules) {
    if (!haveSameKernels(cached, module))
      continue;
    for (MultiTensorKernel *kernel : builtKernels(kernels))
      kernel->func =
          cached.lookupSymbol<gpu::GPUFuncOp>(kernel->func.getName());
    symbols.erase(module);
    return kernels;
  }
  multiTensorModules.push_back(module);
  return kernels;
}

LogicalResult ConvertGSToGPUPass::lower(MultiTensorStepOp op,
                                        SymbolTable &symbols) {
  if (op.getWorker())
    return op.emitOpError(
        "has workers(...), which split a step between CPU threads; on the "
        "GPU the blocks of each launch share the chunks: drop them and "
        "launch each phase once");
  if (failed(verifyRecordCapacity(op)))
    return failure();
  FailureOr<SmallVector<std::pair<Value, bool>>> staged =
      checkDeviceBuffers(op);
  if (failed(staged))
    return failure();
  MultiTensorKernels kernels;
  if (kernelLibrary.empty()) {
    kernels = getOrBuildKernels(op, symbols);
  } else {
    FailureOr<MultiTensorKernels> built = buildLibraryKernels(op, symbols);
    if (failed(built))
      return failure();
    kernels = *built;
  }

  OpBuilder b(op);
  Location loc = op.getLoc();
  Type tokenType = gpu::AsyncTokenType::get(&getContext());
  Value token =
      gpu::WaitOp::create(b, loc, tokenType, ValueRange{}).getAsyncToken();
  // Host tables and scratch get device twins on the step's stream, filled
  // from the host before the launches and freed after them.
  IRMapping onDevice;
  for (auto [host, copyIn] : *staged) {
    auto type = cast<MemRefType>(host.getType());
    SmallVector<Value> sizes;
    for (int64_t d = 0; d < type.getRank(); ++d)
      if (type.isDynamicDim(d))
        sizes.push_back(memref::DimOp::create(b, loc, host, d));
    auto alloc = gpu::AllocOp::create(b, loc, type, tokenType,
                                      ValueRange{token}, sizes, ValueRange{});
    token = alloc.getAsyncToken();
    if (copyIn)
      token = gpu::MemcpyOp::create(b, loc, tokenType, ValueRange{token},
                                    alloc.getMemref(), host)
                  .getAsyncToken();
    onDevice.map(host, alloc.getMemref());
  }

  Value n = memref::DimOp::create(b, loc, op.getTable(), 0);
  Value width = memref::DimOp::create(b, loc, op.getTable(), 1);
  auto argumentsOf = [&](const MultiTensorKernel &kernel) {
    SmallVector<Value> args;
    for (StepBuffer buffer : kernel.buffers) {
      Value address = memref::ExtractAlignedPointerAsIndexOp::create(
          b, loc, onDevice.lookupOrDefault(getStepBuffer(op, buffer)));
      args.push_back(
          arith::IndexCastOp::create(b, loc, b.getI64Type(), address));
    }
    args.push_back(n);
    if (llvm::is_contained(kernel.buffers, StepBuffer::Table))
      args.push_back(width);
    return args;
  };

  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value threads = arith::ConstantIndexOp::create(b, loc, blockSize);
  // The chunked launches get max-blocks blocks: the number of chunks,
  // chunk_offsets[N], is in device memory, and reading it would stall the
  // host. When the host filled chunk_offsets itself (a static group), it
  // reads the count there and launches no block without a chunk.
  Value chunkBlocks = arith::ConstantIndexOp::create(b, loc, maxBlocks);
  if (isHostAllocation(op.getChunkOffsets()) &&
      onDevice.contains(op.getChunkOffsets())) {
    Value numChunks = arith::IndexCastOp::create(
        b, loc, b.getIndexType(),
        memref::LoadOp::create(b, loc, op.getChunkOffsets(), ValueRange{n}));
    chunkBlocks = arith::MaxUIOp::create(
        b, loc, arith::MinUIOp::create(b, loc, numChunks, chunkBlocks), one);
  }
  auto launch = [&](const MultiTensorKernel &kernel, Value grid) {
    token = gpu::LaunchFuncOp::create(b, loc, kernel.func,
                                      gpu::KernelDim3{grid, one, one},
                                      gpu::KernelDim3{threads, one, one},
                                      /*dynamicSharedMemorySize=*/Value(),
                                      argumentsOf(kernel), tokenType, token)
                .getAsyncToken();
  };
  StepPhase phase = op.getPhase();
  if (phase == StepPhase::All || phase == StepPhase::Norms)
    launch(kernels.norms, chunkBlocks);
  if (phase == StepPhase::All || phase == StepPhase::Scalars)
    launch(kernels.scalars, one);
  if (phase == StepPhase::All || phase == StepPhase::Update)
    launch(kernels.update, chunkBlocks);
  for (auto [host, copyIn] : *staged)
    token = gpu::DeallocOp::create(b, loc, tokenType, ValueRange{token},
                                   onDevice.lookup(host))
                .getAsyncToken();
  gpu::WaitOp::create(b, loc, Type(), token);
  // A heap table of the host that nothing else frees is freed once copied:
  // the copy from pageable memory has read it when the call returns, and
  // this pipeline has no deallocation stage. (A bufferized gs.group_step
  // frees its own after the step: its memref.dealloc is another user.)
  for (auto [host, copyIn] : *staged)
    if (host.getDefiningOp<memref::AllocOp>() &&
        llvm::all_of(host.getUsers(), [&](Operation *user) {
          return user == op || isa<memref::StoreOp>(user);
        }))
      memref::DeallocOp::create(b, loc, host);
  op.erase();
  return success();
}

void ConvertGSToGPUPass::runOnOperation() {
  ModuleOp module = getOperation();
  if (failed(checkOptions()))
    return signalPassFailure();

  SmallVector<Operation *> steps;
  WalkResult walk = module.walk([&](Operation *op) {
    // Views of run-time addresses lower straight to LLVM.
    if (!isa<GSDialect>(op->getDialect()) || isa<ViewAddressOp>(op))
      return WalkResult::advance();
    if (isa<GroupStepOp>(op)) {
      op->emitOpError("must be bufferized before convert-gs-to-gpu: "
                      "one-shot-bufferize turns it into a "
                      "gs.multi_tensor_step over tables of its buffers (the "
                      "gs-to-nvvm and gs-to-gpu-emulator pipelines do both)");
      return WalkResult::interrupt();
    }
    if (!isa<MultiTensorStepOp>(op)) {
      op->emitOpError("has no GPU lowering: express it as a gs.group_step "
                      "(a group of one tensor is fine) or a "
                      "gs.multi_tensor_step, or use convert-gs-to-loops");
      return WalkResult::interrupt();
    }
    if (op->getParentOfType<gpu::GPUModuleOp>() ||
        op->getParentOfType<gpu::LaunchOp>()) {
      op->emitOpError("must be in host code, not in a GPU kernel");
      return WalkResult::interrupt();
    }
    steps.push_back(op);
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return signalPassFailure();
  if (steps.empty())
    return;

  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  UnitAttr::get(&getContext()));
  SymbolTable symbols(module);
  multiTensorModules.clear();
  for (Operation *step : steps)
    if (failed(lower(cast<MultiTensorStepOp>(step), symbols)))
      return signalPassFailure();
}
