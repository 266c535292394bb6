//===- GSToGPU.cpp - Lower gs.group_step to fused GPU kernels -------------===//
//
// Host side of the GPU lowering: per gs.group_step a gpu.module with its
// kernels (GroupKernels.h), and in place of the op the tensors' buffers and
// three asynchronous launches on one stream.
//
//===----------------------------------------------------------------------===//

#include "gs/Conversion/GSToGPU/GSToGPU.h"

#include "GroupKernels.h"
#include "MultiTensorKernels.h"
#include "gs/Dialect/GS/IR/GSDialect.h"
#include "gs/Dialect/GS/IR/GSOps.h"
#include "gs/Dialect/GS/Utils/MultiTensorUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/Support/MathExtras.h"

namespace mlir::gs {
#define GEN_PASS_DEF_CONVERTGSTOGPU
#include "gs/Conversion/Passes.h.inc"
} // namespace mlir::gs

using namespace mlir;
using namespace mlir::gs;

static constexpr int64_t kWarpSize = 32;
static constexpr int64_t kMaxBlockSize = 1024;
/// Bytes a kernel parameter takes: one bare pointer.
static constexpr int64_t kPointerBytes = 8;

namespace {
struct ConvertGSToGPUPass : gs::impl::ConvertGSToGPUBase<ConvertGSToGPUPass> {
  using Base::Base;
  void runOnOperation() override;

private:
  LogicalResult checkOptions();
  LogicalResult lower(GroupStepOp op, SymbolTable &symbols);
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

/// The memref a tensor operand is read or written through.
static Value toBuffer(OpBuilder &b, Location loc, Value tensor, bool readOnly) {
  auto type = cast<RankedTensorType>(tensor.getType());
  auto bufferType = MemRefType::get(type.getShape(), type.getElementType());
  return bufferization::ToBufferOp::create(b, loc, bufferType, tensor,
                                           readOnly);
}

/// `buffer` as the kernels take it (getKernelBufferType): an empty buffer of
/// rank other than 1 is reinterpreted as memref<0xT>.
static Value toKernelArg(OpBuilder &b, Location loc, Value buffer) {
  auto type = cast<MemRefType>(buffer.getType());
  auto kernelType = getKernelBufferType(
      RankedTensorType::get(type.getShape(), type.getElementType()));
  if (kernelType == type)
    return buffer;
  return memref::ReinterpretCastOp::create(b, loc, kernelType, buffer,
                                           /*offset=*/0, /*sizes=*/{0},
                                           /*strides=*/{1});
}

/// The GPU step reads and updates the caller's device buffers in place, so
/// its tensors must be arguments of the enclosing function, the updated ones
/// used by nothing else, and its results at most returned (they live in
/// device memory).
static LogicalResult checkDeviceBuffers(GroupStepOp op) {
  auto func = op->getParentOfType<FunctionOpInterface>();
  Block *entry = func ? &func.getFunctionBody().front() : nullptr;
  SmallVector<Value> updatedOperands(op.getParams());
  llvm::append_range(updatedOperands, op.getMoments());
  updatedOperands.append({op.getStats(), op.getCounts(), op.getSteps()});
  for (OpOperand &operand : op->getOpOperands()) {
    Value value = operand.get();
    if (!isa<RankedTensorType>(value.getType()))
      continue;
    auto arg = dyn_cast<BlockArgument>(value);
    if (!arg || arg.getOwner() != entry)
      return op.emitOpError("operand #")
             << operand.getOperandNumber()
             << " must be an argument of the enclosing function: on the GPU "
                "a step works on the caller's device buffers";
  }
  for (Value value : updatedOperands)
    if (!value.hasOneUse())
      return op.emitOpError("updates the buffer of function argument #")
             << cast<BlockArgument>(value).getArgNumber()
             << " in place, so that argument must have no other use";
  for (OpResult result : op->getResults())
    for (Operation *user : result.getUsers())
      if (!user->hasTrait<OpTrait::ReturnLike>())
        return op.emitOpError("result #")
               << result.getResultNumber()
               << " is in device memory: it may only be returned";
  return success();
}

LogicalResult ConvertGSToGPUPass::lower(GroupStepOp op, SymbolTable &symbols) {
  if (!op.getBiasCorrections().empty())
    return op.emitOpError("has bias_corrections, which convert-gs-to-gpu "
                          "takes on gs.multi_tensor_step only");
  if (failed(checkDeviceBuffers(op)))
    return failure();
  // The chunk table numbers the group's chunks in i64 (each tensor's count
  // fits, as the verifier ensures; their sum must too).
  int64_t totalElements = 0;
  for (Type type : op.getGrads().getTypes())
    if (llvm::AddOverflow(totalElements,
                          cast<RankedTensorType>(type).getNumElements(),
                          totalElements))
      return op.emitOpError("has more elements in total than a 64-bit "
                            "integer can count (at most 2^63 - 1); split the "
                            "group");
  unsigned n = op.getNumParams();
  unsigned numMoments = op.getOptimizer().getNumMoments();
  int64_t updateParamBytes = kPointerBytes * n * (2 + numMoments);
  if (updateParamBytes > static_cast<int64_t>(kernelParamLimit))
    return op.emitOpError("needs ")
           << updateParamBytes << " bytes of kernel parameters for its "
           << n * (2 + numMoments) << " buffers, more than kernel-param-limit ("
           << static_cast<unsigned>(kernelParamLimit)
           << "); split the group, or raise the limit (32764 on sm_70 and "
              "newer with CUDA 12.1 or newer)";

  GroupLayout layout(op, chunkSize, blockSize);
  OpBuilder b(op);
  Location loc = op.getLoc();
  MLIRContext *context = &getContext();

  // The kernels, in a module of their own: its globals are this group's.
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(getOperation().getBody());
    auto module = gpu::GPUModuleOp::create(b, loc, "gs_group_step");
    symbols.insert(module);
  }
  auto module = cast<gpu::GPUModuleOp>(getOperation().getBody()->back());
  GroupKernels kernels = buildGroupKernels(b, op, module, layout);

  // Buffers updated in place first: a tensor also read elsewhere (even as a
  // gradient of this op) then gets a copy from one-shot bufferization.
  SmallVector<Value> updated;
  for (Value tensor : op.getParams())
    updated.push_back(toBuffer(b, loc, tensor, /*readOnly=*/false));
  for (Value tensor : op.getMoments())
    updated.push_back(toBuffer(b, loc, tensor, /*readOnly=*/false));
  for (Value tensor : {op.getStats(), op.getCounts(), op.getSteps()})
    updated.push_back(toBuffer(b, loc, tensor, /*readOnly=*/false));
  SmallVector<Value> grads;
  for (Value tensor : op.getGrads())
    grads.push_back(toBuffer(b, loc, tensor, /*readOnly=*/true));
  ArrayRef<Value> params = ArrayRef(updated).take_front(n);
  ArrayRef<Value> moments = ArrayRef(updated).slice(n, n * numMoments);
  ArrayRef<Value> state = ArrayRef(updated).take_back(3);

  SmallVector<Value> scalarArgs(state);
  if (Value invScale = op.getInvScale())
    scalarArgs.push_back(toBuffer(b, loc, invScale, /*readOnly=*/true));
  if (Value foundInf = op.getFoundInf())
    scalarArgs.push_back(toBuffer(b, loc, foundInf, /*readOnly=*/true));
  scalarArgs.append({op.getLr(), op.getWeightDecay()});
  SmallVector<Value> updateArgs(params);
  llvm::append_range(updateArgs, grads);
  llvm::append_range(updateArgs, moments);
  SmallVector<Value> normsArgs(grads);
  for (SmallVector<Value> *args : {&normsArgs, &updateArgs})
    for (Value &arg : *args)
      arg = toKernelArg(b, loc, arg);

  // One stream, the launches in order on it, one wait at the end.
  Type tokenType = gpu::AsyncTokenType::get(context);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value threads = arith::ConstantIndexOp::create(b, loc, blockSize);
  Value token =
      gpu::WaitOp::create(b, loc, tokenType, ValueRange{}).getAsyncToken();
  auto launch = [&](gpu::GPUFuncOp kernel, int64_t blocks, ValueRange args) {
    Value grid = arith::ConstantIndexOp::create(b, loc, blocks);
    token = gpu::LaunchFuncOp::create(
                b, loc, kernel, gpu::KernelDim3{grid, one, one},
                gpu::KernelDim3{threads, one, one},
                /*dynamicSharedMemorySize=*/Value(), args, tokenType, token)
                .getAsyncToken();
  };
  int64_t chunkBlocks = std::min<int64_t>(layout.getNumChunks(), maxBlocks);
  if (chunkBlocks > 0)
    launch(kernels.norms, chunkBlocks, normsArgs);
  launch(kernels.scalars, 1, scalarArgs);
  if (chunkBlocks > 0)
    launch(kernels.update, chunkBlocks, updateArgs);
  gpu::WaitOp::create(b, loc, Type(), token);

  SmallVector<Value> results;
  for (auto [buffer, result] : llvm::zip_equal(updated, op.getResults()))
    results.push_back(bufferization::ToTensorOp::create(
        b, loc, result.getType(), buffer, /*restrict=*/true,
        /*writable=*/true));
  op.replaceAllUsesWith(results);
  op.erase();
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

/// The kernels get each buffer as a device address: it must be the caller's
/// device memory (a function argument or a gpu.alloc), contiguous, in the
/// default memory space.
static LogicalResult checkDeviceBuffers(MultiTensorStepOp op) {
  auto func = op->getParentOfType<FunctionOpInterface>();
  Block *entry = func ? &func.getFunctionBody().front() : nullptr;
  for (auto [name, value] : namedBuffers(op)) {
    auto type = cast<MemRefType>(value.getType());
    if (!type.getLayout().isIdentity() || type.getMemorySpace())
      return op.emitOpError()
             << name
             << " must be a contiguous memref (identity layout) in the "
                "default memory space, got "
             << type;
    auto arg = dyn_cast<BlockArgument>(value);
    bool isArgument = arg && arg.getOwner() == entry;
    if (!isArgument && !value.getDefiningOp<gpu::AllocOp>())
      return op.emitOpError()
             << name
             << " must be an argument of the enclosing function or a "
                "gpu.alloc result: on the GPU a step works on the caller's "
                "device buffers";
  }
  return success();
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
  if (failed(verifyRecordCapacity(op)) || failed(checkDeviceBuffers(op)))
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
  Value n = memref::DimOp::create(b, loc, op.getTable(), 0);
  Value width = memref::DimOp::create(b, loc, op.getTable(), 1);
  auto argumentsOf = [&](const MultiTensorKernel &kernel) {
    SmallVector<Value> args;
    for (StepBuffer buffer : kernel.buffers) {
      Value address = memref::ExtractAlignedPointerAsIndexOp::create(
          b, loc, getStepBuffer(op, buffer));
      args.push_back(
          arith::IndexCastOp::create(b, loc, b.getI64Type(), address));
    }
    args.push_back(n);
    if (llvm::is_contained(kernel.buffers, StepBuffer::Table))
      args.push_back(width);
    return args;
  };

  // The number of chunks, chunk_offsets[N], is in device memory: reading it
  // would stall the host. So norms and update always get max-blocks blocks,
  // and those past the last chunk return at once (one load and a compare).
  Type tokenType = gpu::AsyncTokenType::get(&getContext());
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  Value threads = arith::ConstantIndexOp::create(b, loc, blockSize);
  Value token =
      gpu::WaitOp::create(b, loc, tokenType, ValueRange{}).getAsyncToken();
  auto launch = [&](const MultiTensorKernel &kernel, int64_t blocks) {
    Value grid = arith::ConstantIndexOp::create(b, loc, blocks);
    token = gpu::LaunchFuncOp::create(b, loc, kernel.func,
                                      gpu::KernelDim3{grid, one, one},
                                      gpu::KernelDim3{threads, one, one},
                                      /*dynamicSharedMemorySize=*/Value(),
                                      argumentsOf(kernel), tokenType, token)
                .getAsyncToken();
  };
  StepPhase phase = op.getPhase();
  if (phase == StepPhase::All || phase == StepPhase::Norms)
    launch(kernels.norms, maxBlocks);
  if (phase == StepPhase::All || phase == StepPhase::Scalars)
    launch(kernels.scalars, 1);
  if (phase == StepPhase::All || phase == StepPhase::Update)
    launch(kernels.update, maxBlocks);
  gpu::WaitOp::create(b, loc, Type(), token);
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
    if (!isa<GroupStepOp, MultiTensorStepOp>(op)) {
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
  for (Operation *step : steps) {
    LogicalResult lowered = isa<GroupStepOp>(step)
                                ? lower(cast<GroupStepOp>(step), symbols)
                                : lower(cast<MultiTensorStepOp>(step), symbols);
    if (failed(lowered))
      return signalPassFailure();
  }
}
