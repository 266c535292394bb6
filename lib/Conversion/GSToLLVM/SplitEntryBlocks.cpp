//===- SplitEntryBlocks.cpp - Function bodies out of the entry block ------===//
//
// A workaround for a quadratic cost in upstream dialect conversion; the
// pass description in Passes.td says why.
//
//===----------------------------------------------------------------------===//

#include "gs/Conversion/GSToLLVM/GSToLLVM.h"

#include "mlir/Dialect/ControlFlow/IR/ControlFlowOps.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace mlir::gs {
#define GEN_PASS_DEF_SPLITENTRYBLOCKS
#include "gs/Conversion/Passes.h.inc"
} // namespace mlir::gs

using namespace mlir;

namespace {
struct SplitEntryBlocksPass
    : gs::impl::SplitEntryBlocksBase<SplitEntryBlocksPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal() || func.getNumArguments() < minArguments)
      return;
    Block &entry = func.getBody().front();
    if (entry.empty())
      return;
    Block *body = entry.splitBlock(entry.begin());
    OpBuilder builder = OpBuilder::atBlockEnd(&entry);
    cf::BranchOp::create(builder, func.getLoc(), body);
  }
};
} // namespace
