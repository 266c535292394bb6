//===- FuseUpdates.cpp - Horizontal fusion of gs.group_step ---------------===//
//
// One training step updates many tensors with the same optimizer; each
// gs.group_step is one kernel launch, so steps that can share a launch are
// merged into one op whose state rows are the concatenation of theirs.
//
//===----------------------------------------------------------------------===//

#include "gs/Dialect/GS/IR/GSOps.h"
#include "gs/Dialect/GS/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "llvm/ADT/SmallPtrSet.h"

namespace mlir::gs {
#define GEN_PASS_DEF_GSFUSEUPDATES
#include "gs/Dialect/GS/Transforms/Passes.h.inc"
} // namespace mlir::gs

using namespace mlir;
using namespace mlir::gs;

namespace {
struct FuseUpdates : gs::impl::GSFuseUpdatesBase<FuseUpdates> {
  using Base::Base;
  void runOnOperation() override;
};
} // namespace

/// The element type all parameters share, or null when they differ.
static Type commonElementType(GroupStepOp op) {
  Type type;
  for (Value param : op.getParams()) {
    Type element = cast<ShapedType>(param.getType()).getElementType();
    if (type && type != element)
      return {};
    type = element;
  }
  return type;
}

/// Steps that may share one fused op.
static bool compatible(GroupStepOp a, GroupStepOp b, bool mixedTypes) {
  if (a.getOptimizer() != b.getOptimizer() ||
      a.getStabilizer() != b.getStabilizer() || a.getLr() != b.getLr() ||
      a.getWeightDecay() != b.getWeightDecay() ||
      !llvm::equal(a.getBiasCorrections(), b.getBiasCorrections()) ||
      a.getInvScale() != b.getInvScale() || a.getFoundInf() != b.getFoundInf())
    return false;
  if (mixedTypes)
    return true;
  Type type = commonElementType(a);
  return type && type == commonElementType(b);
}

namespace {
/// The slice of rows [offset, offset + rows of `type`) of a packed tensor.
struct RowBlock {
  SmallVector<OpFoldResult> offsets, sizes, strides;
  RowBlock(OpBuilder &b, int64_t offset, RankedTensorType type)
      : offsets(type.getRank(), b.getIndexAttr(0)),
        strides(type.getRank(), b.getIndexAttr(1)) {
    offsets[0] = b.getIndexAttr(offset);
    for (int64_t d : type.getShape())
      sizes.push_back(b.getIndexAttr(d));
  }
};
} // namespace

/// Stacks the rows of `values` (each with a leading row dimension) into one
/// tensor.
static Value packRows(OpBuilder &b, Location loc, ValueRange values) {
  auto first = cast<RankedTensorType>(values.front().getType());
  int64_t rows = 0;
  for (Value v : values)
    rows += cast<RankedTensorType>(v.getType()).getDimSize(0);
  SmallVector<int64_t> shape(first.getShape());
  shape[0] = rows;
  Value packed = tensor::EmptyOp::create(b, loc, shape, first.getElementType());
  int64_t offset = 0;
  for (Value v : values) {
    auto type = cast<RankedTensorType>(v.getType());
    RowBlock block(b, offset, type);
    packed = tensor::InsertSliceOp::create(b, loc, v, packed, block.offsets,
                                           block.sizes, block.strides);
    offset += type.getDimSize(0);
  }
  return packed;
}

/// Rows [offset, offset + rows of `type`) of `packed`.
static Value unpackRows(OpBuilder &b, Location loc, Value packed,
                        int64_t offset, RankedTensorType type) {
  RowBlock block(b, offset, type);
  return tensor::ExtractSliceOp::create(b, loc, type, packed, block.offsets,
                                        block.sizes, block.strides);
}

namespace {
/// Moves the pure producers of values up to `anchor`. The ops at or after
/// the anchor are recorded once: asking the block for the order after each
/// move would renumber it every time, quadratic in a group of a thousand
/// steps.
class Hoister {
public:
  explicit Hoister(Operation *anchor) : anchor(anchor) {
    for (Operation *op = anchor; op; op = op->getNextNode())
      notBefore.insert(op);
  }

  /// True when `value` is available before the anchor or is computed by
  /// pure ops that can move there; `members` cannot.
  bool canHoist(Value value,
                const llvm::SmallPtrSetImpl<Operation *> &members) const {
    Operation *def = value.getDefiningOp();
    if (!def || !notBefore.contains(def))
      return true;
    if (members.contains(def) || def->getNumRegions() != 0 ||
        !isMemoryEffectFree(def))
      return false;
    return llvm::all_of(def->getOperands(), [&](Value operand) {
      return canHoist(operand, members);
    });
  }

  void hoist(Value value) {
    Operation *def = value.getDefiningOp();
    if (!def || !notBefore.contains(def))
      return;
    for (Value operand : def->getOperands())
      hoist(operand);
    def->moveBefore(anchor);
    notBefore.erase(def);
  }

private:
  Operation *anchor;
  DenseSet<Operation *> notBefore;
};
} // namespace

static void fuse(ArrayRef<GroupStepOp> members) {
  GroupStepOp last = members.front();
  OpBuilder b(last);
  SmallVector<Location> locs;
  SmallVector<Value> params, grads, moments, stats, counts, steps;
  for (GroupStepOp op : members) {
    locs.push_back(op.getLoc());
    llvm::append_range(params, op.getParams());
    llvm::append_range(grads, op.getGrads());
    llvm::append_range(moments, op.getMoments());
    stats.push_back(op.getStats());
    counts.push_back(op.getCounts());
    steps.push_back(op.getSteps());
  }
  Location loc = b.getFusedLoc(locs);
  auto fused = GroupStepOp::create(
      b, loc, last.getOptimizer(), last.getConfigAttr(), params, grads, moments,
      packRows(b, loc, stats), packRows(b, loc, counts),
      packRows(b, loc, steps), last.getLr(), last.getWeightDecay(),
      last.getBiasCorrections(), last.getInvScale(), last.getFoundInf());

  unsigned paramOffset = 0, momentOffset = 0;
  int64_t rowOffset = 0;
  for (GroupStepOp op : members) {
    unsigned n = op.getNumParams(), m = op.getMoments().size();
    SmallVector<Value> results;
    llvm::append_range(results, fused.getNewParams().slice(paramOffset, n));
    llvm::append_range(results, fused.getNewMoments().slice(momentOffset, m));
    auto rowsOf = [&](Value packed, Value original) {
      return unpackRows(b, loc, packed, rowOffset,
                        cast<RankedTensorType>(original.getType()));
    };
    results.push_back(rowsOf(fused.getNewStats(), op.getNewStats()));
    results.push_back(rowsOf(fused.getNewCounts(), op.getNewCounts()));
    results.push_back(rowsOf(fused.getNewSteps(), op.getNewSteps()));
    op->replaceAllUsesWith(results);
    paramOffset += n;
    momentOffset += m;
    rowOffset += cast<RankedTensorType>(op.getStats().getType()).getDimSize(0);
  }
  for (GroupStepOp op : members)
    op->erase();
}

void FuseUpdates::runOnOperation() {
  SmallVector<Block *> blocks;
  getOperation()->walk([&](Block *block) { blocks.push_back(block); });
  for (Block *block : blocks) {
    SmallVector<GroupStepOp> ops(block->getOps<GroupStepOp>());
    SmallVector<SmallVector<GroupStepOp>> clusters;
    for (GroupStepOp op : ops) {
      auto *it = llvm::find_if(clusters, [&](ArrayRef<GroupStepOp> cluster) {
        return compatible(cluster.front(), op, mixedTypes);
      });
      if (it == clusters.end())
        clusters.push_back({op});
      else
        it->push_back(op);
    }
    for (SmallVector<GroupStepOp> &cluster : clusters) {
      // The fused op replaces the first member, so the operands of the
      // others must be available there: pure producers defined in between
      // (the packing of their state rows, conversions of lr) move up; a
      // member whose operands cannot (they depend on another member or on
      // side effects) stays out.
      Hoister hoister(cluster.front());
      llvm::SmallPtrSet<Operation *, 8> members;
      for (GroupStepOp op : cluster)
        members.insert(op);
      SmallVector<GroupStepOp> legal = {cluster.front()};
      for (GroupStepOp op : llvm::drop_begin(cluster)) {
        if (llvm::all_of(op->getOperands(), [&](Value v) {
              return hoister.canHoist(v, members);
            })) {
          for (Value v : op->getOperands())
            hoister.hoist(v);
          legal.push_back(op);
        }
      }
      if (legal.size() >= 2)
        fuse(legal);
    }
  }
}
