//===- GSToGPU.cpp - Lower gs.group_step to fused GPU kernels -------------===//
//
// Host side of the GPU lowering: per gs.group_step a gpu.module with its
// kernels (GroupKernels.h), and in place of the op the tensors' buffers and
// three asynchronous launches on one stream.
//
//===----------------------------------------------------------------------===//

#include "gs/Conversion/GSToGPU/GSToGPU.h"

#include "GroupKernels.h"
#include "gs/Dialect/GS/IR/GSDialect.h"
#include "gs/Dialect/GS/IR/GSOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
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

void ConvertGSToGPUPass::runOnOperation() {
  ModuleOp module = getOperation();
  if (failed(checkOptions()))
    return signalPassFailure();

  SmallVector<GroupStepOp> groups;
  WalkResult walk = module.walk([&](Operation *op) {
    if (!isa<GSDialect>(op->getDialect()))
      return WalkResult::advance();
    auto group = dyn_cast<GroupStepOp>(op);
    if (!group) {
      op->emitOpError("has no GPU lowering: express it as a gs.group_step "
                      "(a group of one tensor is fine) or use "
                      "convert-gs-to-loops");
      return WalkResult::interrupt();
    }
    if (op->getParentOfType<gpu::GPUModuleOp>() ||
        op->getParentOfType<gpu::LaunchOp>()) {
      op->emitOpError("must be in host code, not in a GPU kernel");
      return WalkResult::interrupt();
    }
    groups.push_back(group);
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return signalPassFailure();
  if (groups.empty())
    return;

  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  UnitAttr::get(&getContext()));
  SymbolTable symbols(module);
  for (GroupStepOp group : groups)
    if (failed(lower(group, symbols)))
      return signalPassFailure();
}
