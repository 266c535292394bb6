//===- NVVMToEmulator.cpp - NVVM kernels run by the host emulator ---------===//
//
// Dissolves each gpu.module into the host module so that its kernels run on
// the CPU under lib/Runtime/GpuEmulator.cpp: the kernels keep the exact LLVM
// IR that would become PTX, and only the few NVVM operations that talk to the
// hardware (special registers, shuffles, barriers) become emulator calls.
//
//===----------------------------------------------------------------------===//

#include "gs/Conversion/NVVMToEmulator/NVVMToEmulator.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/AttrTypeSubElements.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/DataLayoutInterfaces.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::gs {
#define GEN_PASS_DEF_CONVERTNVVMKERNELSTOEMULATOR
#include "gs/Conversion/Passes.h.inc"
} // namespace mlir::gs

using namespace mlir;

/// The special registers the emulator provides, by op name; the value is
/// the register's code in include/gs-c/GpuEmulator.h.
static std::optional<int32_t> specialRegisterCode(StringRef opName) {
  return llvm::StringSwitch<std::optional<int32_t>>(opName)
      .Case("nvvm.read.ptx.sreg.tid.x", 0)
      .Case("nvvm.read.ptx.sreg.tid.y", 1)
      .Case("nvvm.read.ptx.sreg.tid.z", 2)
      .Case("nvvm.read.ptx.sreg.ntid.x", 3)
      .Case("nvvm.read.ptx.sreg.ntid.y", 4)
      .Case("nvvm.read.ptx.sreg.ntid.z", 5)
      .Case("nvvm.read.ptx.sreg.ctaid.x", 6)
      .Case("nvvm.read.ptx.sreg.ctaid.y", 7)
      .Case("nvvm.read.ptx.sreg.ctaid.z", 8)
      .Case("nvvm.read.ptx.sreg.nctaid.x", 9)
      .Case("nvvm.read.ptx.sreg.nctaid.y", 10)
      .Case("nvvm.read.ptx.sreg.nctaid.z", 11)
      .Case("nvvm.read.ptx.sreg.laneid", 12)
      .Case("nvvm.read.ptx.sreg.warpsize", 13)
      .Default(std::nullopt);
}

/// The host functions that gpu-to-llvm calls and the emulator implements
/// under the gsEmu prefix (mgpuStreamCreate -> gsEmuStreamCreate).
static bool isEmulatedRuntimeFunction(StringRef name) {
  return llvm::is_contained(
      {"mgpuStreamCreate", "mgpuStreamDestroy", "mgpuStreamSynchronize",
       "mgpuStreamWaitEvent", "mgpuEventCreate", "mgpuEventDestroy",
       "mgpuEventSynchronize", "mgpuEventRecord", "mgpuMemAlloc", "mgpuMemFree",
       "mgpuMemcpy", "mgpuMemset32", "mgpuMemset16"},
      name);
}

namespace {
struct ConvertNVVMKernelsToEmulatorPass
    : gs::impl::ConvertNVVMKernelsToEmulatorBase<
          ConvertNVVMKernelsToEmulatorPass> {
  void runOnOperation() override;

private:
  LogicalResult renameRuntimeCalls(ModuleOp module);
  LogicalResult dissolve(gpu::GPUModuleOp gpuModule, ModuleOp module);
  LogicalResult rewriteNVVMOps(LLVM::LLVMFuncOp func);
  LogicalResult replaceLaunch(gpu::LaunchFuncOp launch, ModuleOp module);
  LLVM::LLVMFuncOp getOrCreateEntry(LLVM::LLVMFuncOp kernel, ModuleOp module);
  LLVM::LLVMFuncOp declare(ModuleOp module, StringRef name, Type result,
                           ArrayRef<Type> params);

  /// Kernels by "<module>::<kernel>", after renaming.
  llvm::StringMap<LLVM::LLVMFuncOp> kernels;
  /// The block size a kernel was compiled for, by its new name: exactly
  /// (gpu.known_block_size, nvvm.reqntid) or at most (nvvm.maxntid).
  struct BlockContract {
    int32_t x = 0, y = 0, z = 0;
    bool exact = false;
  };
  llvm::StringMap<BlockContract> blockContracts;
  /// The shared-memory globals (new name, bytes) of each kernel's
  /// gpu.module, by the kernel's new name: its entry has them poisoned per
  /// block.
  llvm::StringMap<SmallVector<std::pair<std::string, int64_t>>> sharedOfKernel;
  /// Numbers every shuffle and barrier, so the emulator can tell lanes that
  /// wait at different ones apart (a divergent warp).
  int32_t nextSite = 0;
};
} // namespace

LLVM::LLVMFuncOp
ConvertNVVMKernelsToEmulatorPass::declare(ModuleOp module, StringRef name,
                                          Type result, ArrayRef<Type> params) {
  if (auto existing = module.lookupSymbol<LLVM::LLVMFuncOp>(name))
    return existing;
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  return LLVM::LLVMFuncOp::create(b, module.getLoc(), name,
                                  LLVM::LLVMFunctionType::get(result, params));
}

LogicalResult
ConvertNVVMKernelsToEmulatorPass::renameRuntimeCalls(ModuleOp module) {
  SymbolTable symbols(module);
  for (auto func :
       llvm::make_early_inc_range(module.getOps<LLVM::LLVMFuncOp>())) {
    StringRef name = func.getSymName();
    if (!func.isExternal() || !name.starts_with("mgpu"))
      continue;
    if (!isEmulatedRuntimeFunction(name))
      return func.emitOpError("calls '")
             << name << "', which the GPU emulator does not provide";
    if (failed(symbols.rename(
            func, StringAttr::get(&getContext(),
                                  "gsEmu" + name.drop_front(4).str()))))
      return func.emitOpError("cannot be renamed for the GPU emulator");
  }
  return success();
}

LogicalResult
ConvertNVVMKernelsToEmulatorPass::rewriteNVVMOps(LLVM::LLVMFuncOp func) {
  MLIRContext *ctx = &getContext();
  ModuleOp module = func->getParentOfType<ModuleOp>();
  Type i32 = IntegerType::get(ctx, 32);
  Type i64 = IntegerType::get(ctx, 64);
  Type voidType = LLVM::LLVMVoidType::get(ctx);
  SmallVector<Operation *> nvvmOps;
  func.walk([&](Operation *op) {
    if (isa<NVVM::NVVMDialect>(op->getDialect()))
      nvvmOps.push_back(op);
  });
  for (Operation *op : nvvmOps) {
    OpBuilder b(op);
    Location loc = op->getLoc();
    auto constant = [&](int32_t value) -> Value {
      return LLVM::ConstantOp::create(b, loc, i32, value);
    };
    auto call = [&](StringRef callee, Type result, ValueRange args) {
      SmallVector<Type> types(args.getTypes());
      LLVM::LLVMFuncOp decl = declare(module, callee, result, types);
      return LLVM::CallOp::create(b, loc, decl, args);
    };
    if (std::optional<int32_t> code =
            specialRegisterCode(op->getName().getStringRef())) {
      Value value =
          call("gsEmuSpecialRegister", i32, constant(*code)).getResult();
      op->getResult(0).replaceAllUsesWith(value);
      op->erase();
      continue;
    }
    if (isa<NVVM::Barrier0Op>(op)) {
      call("gsEmuBarrier", voidType, constant(nextSite++));
      op->erase();
      continue;
    }
    if (auto shuffle = dyn_cast<NVVM::ShflOp>(op)) {
      Value bits = shuffle.getVal();
      Type valueType = bits.getType();
      if (valueType.isF32())
        bits = LLVM::BitcastOp::create(b, loc, i32, bits);
      Value packed = call("gsEmuShuffle", i64,
                          {constant(nextSite++),
                           constant(static_cast<int32_t>(shuffle.getKind())),
                           shuffle.getThreadMask(), bits, shuffle.getOffset(),
                           shuffle.getMaskAndClamp()})
                         .getResult();
      // The emulator returns the value in the low 32 bits and whether the
      // source lane was valid in bit 32.
      Value value = LLVM::TruncOp::create(b, loc, i32, packed);
      if (valueType.isF32())
        value = LLVM::BitcastOp::create(b, loc, valueType, value);
      Value result = value;
      if (shuffle.getReturnValueAndIsValid()) {
        Value high = LLVM::LShrOp::create(
            b, loc, packed, LLVM::ConstantOp::create(b, loc, i64, 32));
        Value valid =
            LLVM::TruncOp::create(b, loc, IntegerType::get(ctx, 1), high);
        Type structType = shuffle.getType();
        result = LLVM::PoisonOp::create(b, loc, structType);
        result = LLVM::InsertValueOp::create(b, loc, result, value,
                                             ArrayRef<int64_t>{0});
        result = LLVM::InsertValueOp::create(b, loc, result, valid,
                                             ArrayRef<int64_t>{1});
      }
      shuffle.getResult().replaceAllUsesWith(result);
      shuffle->erase();
      continue;
    }
    return op->emitOpError("has no model in the GPU emulator");
  }
  return success();
}

LogicalResult
ConvertNVVMKernelsToEmulatorPass::dissolve(gpu::GPUModuleOp gpuModule,
                                           ModuleOp module) {
  MLIRContext *ctx = &getContext();
  SymbolTable inner(gpuModule);
  SymbolTable outer(module);
  std::string prefix = ("__gs_emu_" + gpuModule.getSymName() + "_").str();
  SmallVector<Operation *> ops;
  for (Operation &op : gpuModule.getBody()->getOperations()) {
    if (auto func = dyn_cast<LLVM::LLVMFuncOp>(op)) {
      if (func.isExternal())
        return func.emitOpError("is a kernel-side declaration, which the GPU "
                                "emulator cannot provide");
    } else if (!isa<LLVM::GlobalOp>(op)) {
      return op.emitOpError("in a gpu.module is not supported by the GPU "
                            "emulator; lower the kernels to NVVM first");
    }
    ops.push_back(&op);
  }

  // Global and shared memory are host memory: blocks run one at a time, so
  // one instance of a shared variable serves them all.
  AttrTypeReplacer hostPointers;
  hostPointers.addReplacement(
      [&](LLVM::LLVMPointerType type) -> std::optional<Type> {
        if (type.getAddressSpace() == 0)
          return std::nullopt;
        return LLVM::LLVMPointerType::get(ctx);
      });
  SmallVector<std::pair<std::string, int64_t>> shared;
  for (Operation *op : ops)
    if (auto global = dyn_cast<LLVM::GlobalOp>(op))
      if (global.getAddrSpace() == 3)
        shared.push_back(
            {prefix + global.getSymName().str(),
             static_cast<int64_t>(DataLayout::closest(global)
                                      .getTypeSize(global.getGlobalType())
                                      .getFixedValue())});
  for (Operation *op : ops) {
    auto symbol = cast<SymbolOpInterface>(op);
    std::string oldName = symbol.getName().str();
    StringAttr newName = StringAttr::get(ctx, prefix + oldName);
    if (outer.lookup(newName))
      return op->emitOpError("cannot move to the host: '")
             << newName.getValue() << "' exists there";
    if (failed(inner.rename(op, newName)))
      return op->emitOpError("cannot be renamed for the GPU emulator");
    if (auto global = dyn_cast<LLVM::GlobalOp>(op))
      global.setAddrSpace(0);
    hostPointers.recursivelyReplaceElementsIn(op, /*replaceAttrs=*/true,
                                              /*replaceLocs=*/false,
                                              /*replaceTypes=*/true);
    op->walk([](LLVM::AddrSpaceCastOp cast) {
      cast.getResult().replaceAllUsesWith(cast.getArg());
      cast->erase();
    });
    if (auto func = dyn_cast<LLVM::LLVMFuncOp>(op)) {
      if (failed(rewriteNVVMOps(func)))
        return failure();
      if (func->hasAttr(gpu::GPUDialect::getKernelFuncAttrName())) {
        kernels[(gpuModule.getSymName() + "::" + oldName).str()] = func;
        sharedOfKernel[newName.getValue()] = shared;
      }
      // The launch contract becomes a check in the kernel's entry (see
      // getOrCreateEntry); the attributes mean nothing on the host.
      for (auto [name, exact] :
           {std::pair<StringRef, bool>{"gpu.known_block_size", true},
            {"nvvm.reqntid", true},
            {"nvvm.maxntid", false}}) {
        auto sizes = func->getAttrOfType<DenseI32ArrayAttr>(name);
        auto known = blockContracts.find(newName.getValue());
        if (!sizes || sizes.size() != 3 ||
            (known != blockContracts.end() && known->second.exact >= exact))
          continue;
        blockContracts[newName.getValue()] = {sizes[0], sizes[1], sizes[2],
                                              exact};
      }
      for (StringRef name :
           {"gpu.kernel", "gpu.known_block_size", "gpu.known_grid_size",
            "nvvm.kernel", "nvvm.maxntid", "nvvm.reqntid", "nvvm.minctasm"})
        func->removeAttr(name);
    }
    op->moveBefore(module.getBody(), module.getBody()->end());
  }
  return success();
}

/// `void entry(void **params)`: loads each kernel argument through its
/// pointer in `params`, as CUDA passes kernel parameters, and calls the
/// kernel.
LLVM::LLVMFuncOp
ConvertNVVMKernelsToEmulatorPass::getOrCreateEntry(LLVM::LLVMFuncOp kernel,
                                                   ModuleOp module) {
  std::string name = (kernel.getSymName() + "_entry").str();
  if (auto existing = module.lookupSymbol<LLVM::LLVMFuncOp>(name))
    return existing;
  MLIRContext *ctx = &getContext();
  Type ptr = LLVM::LLVMPointerType::get(ctx);
  OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
  Location loc = kernel.getLoc();
  auto entry = LLVM::LLVMFuncOp::create(
      b, loc, name,
      LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx), {ptr}));
  Block *body = entry.addEntryBlock(b);
  b.setInsertionPointToStart(body);
  // A launch that breaks the kernel's block size contract fails, as the
  // driver refuses it (reqntid, maxntid) or as the kernel's code, which
  // assumes its block size (known_block_size), would go wrong.
  auto contract = blockContracts.find(kernel.getSymName());
  if (contract != blockContracts.end()) {
    Type i32 = IntegerType::get(ctx, 32);
    auto constant = [&](int32_t value) -> Value {
      return LLVM::ConstantOp::create(b, loc, i32, value);
    };
    const BlockContract &c = contract->second;
    SmallVector<Value> sizes = {constant(c.x), constant(c.y), constant(c.z),
                                constant(c.exact ? 1 : 0)};
    LLVM::LLVMFuncOp check =
        declare(module, "gsEmuCheckBlockSize", i32, SmallVector<Type>(4, i32));
    Value ok = LLVM::CallOp::create(b, loc, check, sizes).getResult();
    Value holds =
        LLVM::ICmpOp::create(b, loc, LLVM::ICmpPredicate::ne, ok, constant(0));
    Block *run = entry.addBlock(), *refuse = entry.addBlock();
    LLVM::CondBrOp::create(b, loc, holds, run, refuse);
    b.setInsertionPointToStart(refuse);
    LLVM::ReturnOp::create(b, loc, ValueRange{});
    b.setInsertionPointToStart(run);
  }
  for (auto &[global, bytes] : sharedOfKernel.lookup(kernel.getSymName())) {
    Type i64 = IntegerType::get(ctx, 64);
    Value address = LLVM::AddressOfOp::create(b, loc, ptr, global);
    Value size = LLVM::ConstantOp::create(b, loc, i64, bytes);
    LLVM::CallOp::create(b, loc,
                         declare(module, "gsEmuSharedMemory",
                                 LLVM::LLVMVoidType::get(ctx), {ptr, i64}),
                         ValueRange{address, size});
  }
  SmallVector<Value> args;
  for (auto [i, type] : llvm::enumerate(kernel.getFunctionType().getParams())) {
    Value slot = LLVM::GEPOp::create(b, loc, ptr, ptr, body->getArgument(0),
                                     ArrayRef<LLVM::GEPArg>{int32_t(i)});
    Value argument = LLVM::LoadOp::create(b, loc, ptr, slot);
    args.push_back(LLVM::LoadOp::create(b, loc, type, argument));
  }
  LLVM::CallOp::create(b, loc, kernel, args);
  LLVM::ReturnOp::create(b, loc, ValueRange{});
  return entry;
}

LogicalResult
ConvertNVVMKernelsToEmulatorPass::replaceLaunch(gpu::LaunchFuncOp launch,
                                                ModuleOp module) {
  if (launch.getAsyncToken())
    return launch.emitOpError("still returns an async token; run gpu-to-llvm "
                              "before the GPU emulator conversion");
  if (launch.hasClusterSize())
    return launch.emitOpError("uses clusters, which the GPU emulator does not "
                              "model");
  std::string key = (launch.getKernelModuleName().getValue() +
                     "::" + launch.getKernelName().getValue())
                        .str();
  auto it = kernels.find(key);
  if (it == kernels.end())
    return launch.emitOpError("launches '")
           << key << "', which is not an NVVM kernel of this module";
  LLVM::LLVMFuncOp kernel = it->second;
  ArrayRef<Type> paramTypes = kernel.getFunctionType().getParams();
  ValueRange operands = launch.getKernelOperands();
  if (TypeRange(operands) != TypeRange(paramTypes))
    return launch.emitOpError("passes arguments of other types than kernel '")
           << key << "' takes";

  MLIRContext *ctx = &getContext();
  Type ptr = LLVM::LLVMPointerType::get(ctx);
  Type i32 = IntegerType::get(ctx, 32);
  Type i64 = IntegerType::get(ctx, 64);
  auto host = launch->getParentOfType<LLVM::LLVMFuncOp>();
  if (!host || host.isExternal())
    return launch.emitOpError("must be in an LLVM function");
  Location loc = launch.getLoc();

  // The parameter slots live in the host function's frame, allocated once
  // even when the launch is in a loop.
  OpBuilder b = OpBuilder::atBlockBegin(&host.getBody().front());
  Value one = LLVM::ConstantOp::create(b, loc, i64, 1);
  auto array =
      LLVM::LLVMArrayType::get(ptr, std::max<size_t>(1, operands.size()));
  Value params = LLVM::AllocaOp::create(b, loc, ptr, array, one);
  SmallVector<Value> slots;
  for (Type type : paramTypes)
    slots.push_back(LLVM::AllocaOp::create(b, loc, ptr, type, one));

  b.setInsertionPoint(launch);
  for (auto [i, operand, slot] : llvm::enumerate(operands, slots)) {
    LLVM::StoreOp::create(b, loc, operand, slot);
    Value entry = LLVM::GEPOp::create(b, loc, ptr, array, params,
                                      ArrayRef<LLVM::GEPArg>{0, int32_t(i)});
    LLVM::StoreOp::create(b, loc, slot, entry);
  }
  auto toI64 = [&](Value value) -> Value {
    auto type = cast<IntegerType>(value.getType());
    if (type.getWidth() == 64)
      return value;
    if (type.getWidth() < 64)
      return LLVM::ZExtOp::create(b, loc, i64, value);
    return LLVM::TruncOp::create(b, loc, i64, value);
  };
  gpu::KernelDim3 grid = launch.getGridSizeOperandValues();
  gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
  Value sharedBytes = launch.getDynamicSharedMemorySize();
  if (!sharedBytes)
    sharedBytes = LLVM::ConstantOp::create(b, loc, i32, 0);
  Value entry =
      LLVM::AddressOfOp::create(b, loc, getOrCreateEntry(kernel, module));
  SmallVector<Value> args = {entry,          toI64(grid.x),  toI64(grid.y),
                             toI64(grid.z),  toI64(block.x), toI64(block.y),
                             toI64(block.z), sharedBytes,    params};
  SmallVector<Type> types(ValueRange(args).getTypes());
  LLVM::CallOp::create(
      b, loc,
      declare(module, "gsEmuLaunch", LLVM::LLVMVoidType::get(ctx), types),
      args);
  launch.erase();
  return success();
}

void ConvertNVVMKernelsToEmulatorPass::runOnOperation() {
  ModuleOp module = getOperation();
  kernels.clear();
  blockContracts.clear();
  sharedOfKernel.clear();
  nextSite = 0;
  if (failed(renameRuntimeCalls(module)))
    return signalPassFailure();
  SmallVector<gpu::GPUModuleOp> gpuModules(module.getOps<gpu::GPUModuleOp>());
  for (gpu::GPUModuleOp gpuModule : gpuModules) {
    if (failed(dissolve(gpuModule, module)))
      return signalPassFailure();
  }
  SmallVector<gpu::LaunchFuncOp> launches;
  module.walk([&](gpu::LaunchFuncOp launch) { launches.push_back(launch); });
  for (gpu::LaunchFuncOp launch : launches) {
    if (failed(replaceLaunch(launch, module)))
      return signalPassFailure();
  }
  for (gpu::GPUModuleOp gpuModule : gpuModules)
    gpuModule.erase();
  module->removeAttr(gpu::GPUDialect::getContainerModuleAttrName());
}
