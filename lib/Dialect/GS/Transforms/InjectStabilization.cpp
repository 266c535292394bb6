//===- InjectStabilization.cpp - Stabilize optimizer updates --------------===//
//
// Raises the optimizer updates found by the recognizers to
// gs.grad_norm + gs.stabilize + gs.optimizer_step and threads the GS state
// through the function signature. Recognition runs on every result first and
// rewrites happen afterwards, so an update is either rewritten whole or left
// exactly as it was.
//
//===----------------------------------------------------------------------===//

#include "ClipMatchers.h"
#include "GradientGroups.h"
#include "OptimizerRecognizers.h"

#include "gs/Dialect/GS/IR/GSDialect.h"
#include "gs/Dialect/GS/IR/GSOps.h"
#include "gs/Dialect/GS/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::gs {
#define GEN_PASS_DEF_GSINJECTSTABILIZATION
#include "gs/Dialect/GS/Transforms/Passes.h.inc"
} // namespace mlir::gs

using namespace mlir;
using namespace mlir::gs;
using namespace mlir::gs::matchers;

namespace {
struct InjectStabilization
    : gs::impl::GSInjectStabilizationBase<InjectStabilization> {
  using Base::Base;

  void runOnOperation() override;

private:
  void processFunction(func::FuncOp func, StabilizerAttr config);
  LogicalResult isSelected(func::FuncOp func, Value grad, std::string &why);
  void remark(Operation *op, const Twine &message) {
    if (explain)
      op->emitRemark() << message;
  }
};
} // namespace

/// The op a remark about result `index` is attached to.
static Operation *anchorOf(func::ReturnOp ret, unsigned index) {
  if (Operation *def = ret.getOperand(index).getDefiningOp())
    return def;
  return ret;
}

/// A function name of an argument: its `gs.name` attribute, else its name
/// location.
static std::optional<StringRef> argumentName(func::FuncOp func,
                                             BlockArgument arg) {
  if (auto name =
          func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "gs.name"))
    return name.getValue();
  if (auto loc = dyn_cast<NameLoc>(arg.getLoc()))
    return loc.getName().getValue();
  return std::nullopt;
}

LogicalResult InjectStabilization::isSelected(func::FuncOp func, Value grad,
                                              std::string &why) {
  if (gradNames.empty() && gradAttr.empty())
    return success();
  auto arg = dyn_cast<BlockArgument>(grad);
  if (!arg) {
    why = "its gradient is not a function argument, so it cannot be "
          "selected by name or attribute";
    return failure();
  }
  if (!gradAttr.empty() && !func.getArgAttr(arg.getArgNumber(), gradAttr)) {
    why = ("gradient argument #" + Twine(arg.getArgNumber()) +
           " does not carry '" + gradAttr + "'")
              .str();
    return failure();
  }
  if (!gradNames.empty()) {
    std::optional<StringRef> name = argumentName(func, arg);
    if (!name || !llvm::is_contained(gradNames, *name)) {
      why = ("gradient argument #" + Twine(arg.getArgNumber()) +
             " is not among grad-names")
                .str();
      return failure();
    }
  }
  return success();
}

/// The source's step counter as the gs step operand: the count before this
/// step, in a tensor<i64>.
static Value buildStepTensor(OpBuilder &b, Location loc,
                             const StepCounter &step) {
  Value count = step.counter;
  if (isa<RankedTensorType>(count.getType()))
    count = tensor::ExtractOp::create(b, loc, count, ValueRange{});
  Type i64 = b.getI64Type();
  if (isa<FloatType>(count.getType()))
    count = arith::FPToSIOp::create(b, loc, i64, count);
  else if (count.getType().isIndex())
    count = arith::IndexCastOp::create(b, loc, i64, count);
  else if (count.getType().getIntOrFloatBitWidth() < 64)
    count = arith::ExtSIOp::create(b, loc, i64, count);
  else if (count.getType().getIntOrFloatBitWidth() > 64)
    count = arith::TruncIOp::create(b, loc, i64, count);
  if (step.countsAfterStep)
    count = arith::SubIOp::create(b, loc, count,
                                  arith::ConstantIntOp::create(b, loc, i64, 1));
  return tensor::FromElementsOp::create(b, loc, RankedTensorType::get({}, i64),
                                        ValueRange{count});
}

/// `grad * factor` as a new tensor, for clip=keep.
static Value buildClippedGrad(OpBuilder &b, Location loc, Value grad,
                              Value factor) {
  auto type = cast<RankedTensorType>(grad.getType());
  Value scalar = arith::TruncFOp::create(b, loc, type.getElementType(), factor);
  Value empty =
      tensor::EmptyOp::create(b, loc, type.getShape(), type.getElementType());
  Value fill = linalg::FillOp::create(b, loc, scalar, empty).getResult(0);
  return linalg::MulOp::create(b, loc, ValueRange{grad, fill},
                               ValueRange{empty})
      .getResult(0);
}

void InjectStabilization::processFunction(func::FuncOp func,
                                          StabilizerAttr config) {
  if (func.isExternal())
    return;
  if (!func.getBody().hasOneBlock()) {
    remark(func, "not rewritten: the function has more than one block");
    return;
  }
  if (!SymbolTable::symbolKnownUseEmpty(func, getOperation())) {
    remark(func, "not rewritten: the function has uses, so its signature "
                 "cannot change");
    return;
  }
  auto ret = dyn_cast<func::ReturnOp>(func.getBody().front().getTerminator());
  if (!ret)
    return;

  // Recognize first, rewrite afterwards.
  SmallVector<RecognizedUpdate, 2> updates;
  SmallVector<unsigned> claimed;
  ResultsByLeaf index = indexResults(func);
  // The IR does not change until every result was tried.
  std::optional<NormInputsCache> cache(std::in_place);
  DenseMap<unsigned, std::string> reasons;
  for (unsigned i = 0, e = ret.getNumOperands(); i < e; ++i) {
    if (llvm::is_contained(claimed, i))
      continue;
    std::string reason;
    FailureOr<RecognizedUpdate> update =
        recognizeUpdate(func, index, i, claimed, reason);
    if (failed(update)) {
      reasons[i] = reason;
      continue;
    }
    if (failed(isSelected(func, update->grad, reason))) {
      reasons[i] = reason;
      continue;
    }
    if (!update->clipFactors.empty() && clip == "keep" &&
        !llvm::all_of(update->clipFactors, [](Value f) {
          return isUniform(f) && canMaterializeF64(f);
        })) {
      reasons[i] = "the clip factor cannot be kept";
      continue;
    }
    // A factor of lr (or a divisor taken for a bias correction) that reads
    // the gradient's norm is a clip in a form the recognizers do not take
    // (TF's c / max(norm, c), optax's select); gs-stabilize-gradients
    // handles those.
    auto reads = [&](Value v) { return dependsOnNormOf(v, update->grad); };
    auto readsNorm = [&](const Product &p) {
      return llvm::any_of(p.num, reads) || llvm::any_of(p.den, reads);
    };
    if (readsNorm(update->lr) || readsNorm(update->weightDecay) ||
        llvm::any_of(update->biasCorrections, reads)) {
      reasons[i] = "the gradient is clipped in a form the optimizer "
                   "recognizers do not take (gradient-level stabilization "
                   "handles it)";
      continue;
    }
    if (!canMaterializeF64(update->lr) ||
        !canMaterializeF64(update->weightDecay)) {
      reasons[i] = "lr or weight_decay is not a scalar expression of "
                   "constants and function arguments";
      continue;
    }
    claimed.push_back(i);
    llvm::append_range(claimed, update->momentResults);
    updates.push_back(std::move(*update));
  }
  for (auto &[index, reason] : reasons) {
    if (llvm::is_contained(claimed, index))
      continue;
    auto type = dyn_cast<RankedTensorType>(ret.getOperand(index).getType());
    if (!type || type.getRank() == 0 || !isa<FloatType>(type.getElementType()))
      continue;
    remark(anchorOf(ret, index),
           "result #" + Twine(index) + " not rewritten: " + reason);
  }
  cache.reset();
  if (updates.empty())
    return;

  // The old update computations, erased below once nothing uses them.
  SetVector<Operation *> oldOps;
  SmallVector<Value> worklist;
  for (const RecognizedUpdate &u : updates) {
    worklist.push_back(ret.getOperand(u.paramResult));
    for (unsigned r : u.momentResults)
      worklist.push_back(ret.getOperand(r));
  }
  while (!worklist.empty()) {
    Operation *op = worklist.pop_back_val().getDefiningOp();
    if (!op || !oldOps.insert(op))
      continue;
    llvm::append_range(worklist, op->getOperands());
  }

  MLIRContext *ctx = &getContext();
  Block *body = &func.getBody().front();
  OpBuilder b(ret);
  auto statsType = RankedTensorType::get({2}, b.getF64Type());
  auto countsType = RankedTensorType::get({2}, b.getI64Type());
  auto stepType = RankedTensorType::get({}, b.getI64Type());
  SmallVector<Value> newResults;
  SmallVector<DictionaryAttr> newResultAttrs;
  llvm::MapVector<unsigned, SmallVector<Value>> counterGuards;
  // The scalar and 0-d results that increment an argument, found once.
  DenseMap<Value, SmallVector<unsigned, 1>> incrementsOf;
  for (auto [r, value] : llvm::enumerate(ret.getOperands())) {
    auto shaped = dyn_cast<ShapedType>(value.getType());
    if (shaped && (!shaped.hasRank() || shaped.getRank() != 0))
      continue;
    if (Value t = matchCounterIncrement(value, body))
      incrementsOf[t].push_back(r);
  }
  // Updates in the order of their parameters' results.
  llvm::sort(updates, [](const RecognizedUpdate &a, const RecognizedUpdate &b) {
    return a.paramResult < b.paramResult;
  });
  auto stateAttrs = [&](const RecognizedUpdate &u, StringRef kind) {
    return b.getDictionaryAttr(
        {b.getNamedAttr("gs.state", b.getStringAttr(kind)),
         b.getNamedAttr("gs.param",
                        b.getI64IntegerAttr(u.param.getArgNumber()))});
  };
  auto isSgdMomentum = [](const RecognizedUpdate &u) {
    return isa<SGDAttr>(u.optimizer) && !u.moments.empty();
  };
  // All state arguments at once: each insertion rebuilds the function type,
  // which is linear in the number of arguments.
  SmallVector<unsigned> firstStateArg;
  {
    unsigned end = func.getNumArguments();
    SmallVector<unsigned> indices;
    SmallVector<Type> types;
    SmallVector<DictionaryAttr> attrs;
    SmallVector<Location> locs;
    for (const RecognizedUpdate &u : updates) {
      firstStateArg.push_back(end + indices.size());
      Location loc = anchorOf(ret, u.paramResult)->getLoc();
      SmallVector<std::pair<Type, StringRef>, 3> kinds = {
          {statsType, "stats"}, {countsType, "counts"}};
      if (isSgdMomentum(u))
        kinds.push_back({stepType, "step"});
      for (auto [type, kind] : kinds) {
        indices.push_back(end);
        types.push_back(type);
        attrs.push_back(stateAttrs(u, kind));
        locs.push_back(loc);
      }
    }
    (void)func.insertArguments(indices, types, attrs, locs);
  }
  for (unsigned n = 0, e = updates.size(); n < e; ++n) {
    const RecognizedUpdate &u = updates[n];
    Location loc = anchorOf(ret, u.paramResult)->getLoc();
    Value stats = func.getArgument(firstStateArg[n]);
    Value counts = func.getArgument(firstStateArg[n] + 1);
    Value stepArg =
        isSgdMomentum(u) ? func.getArgument(firstStateArg[n] + 2) : Value();
    auto resultAttrs = [&](StringRef kind) { return stateAttrs(u, kind); };

    Value grad = u.grad;
    if (!u.clipFactors.empty() && clip == "keep") {
      Product factor;
      factor.num = u.clipFactors;
      grad = buildClippedGrad(b, loc, grad, materializeF64(b, loc, factor));
    }
    Value lr = materializeF64(b, loc, u.lr);
    Value wd = materializeF64(b, loc, u.weightDecay);
    SmallVector<Value, 2> biasCorrections =
        llvm::map_to_vector(u.biasCorrections, [&](Value bc) {
          return materializeSourceF64(b, loc, bc);
        });
    Value step;
    if (u.step && u.step->counter)
      step = buildStepTensor(b, loc, *u.step);
    else if (stepArg)
      step = stepArg;
    else // The optimizer ignores its step count, or is given its bias
         // corrections.
      step = arith::ConstantOp::create(
          b, loc, DenseElementsAttr::get(stepType, b.getI64IntegerAttr(0)));

    auto norm = GradNormOp::create(b, loc, grad);
    auto stabilize = StabilizeOp::create(
        b, loc, grad, norm, stats, counts,
        config == StabilizerAttr::getDefault(ctx) ? StabilizerAttr() : config);
    SmallVector<Value> moments(u.moments.begin(), u.moments.end());
    auto optStep = OptimizerStepOp::create(
        b, loc, cast<OptimizerAttrInterface>(u.optimizer), u.param,
        stabilize.getStabilized(), moments, step, lr, wd, biasCorrections,
        stabilize.getStepOk());

    // Spec section 3: a skipped step does not advance the source's own step
    // counter either (its new value `t + 1` is returned): the counter of
    // the bias corrections, or every counter the given ones are computed
    // from. Bias corrections computed outside the function come with a
    // counter the host keeps, which it must not advance on a skipped step.
    if (config.getOnNonfinite() == NonFinitePolicy::Skip) {
      SmallVector<Value> counters;
      if (u.step && u.step->counter)
        counters.push_back(u.step->counter);
      if (!u.biasCorrections.empty()) {
        DenseSet<Value> values;
        llvm::SetVector<Operation *> ops;
        collectSlice(u.biasCorrections, body, values, ops);
        for (BlockArgument arg : body->getArguments())
          if (values.contains(arg))
            counters.push_back(arg);
      }
      // Whether the optimizer stepped, read from its step count (which
      // advances exactly then) rather than from step_ok: step_ok then only
      // gates the step, so gs-form-group-steps can still fuse the chain.
      Value stepped;
      for (Value counter : counters) {
        for (unsigned r : incrementsOf.lookup(counter)) {
          if (!stepped) {
            Value before =
                tensor::ExtractOp::create(b, loc, step, ValueRange{});
            Value after = tensor::ExtractOp::create(
                b, loc, optStep.getNewStep(), ValueRange{});
            stepped = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ne,
                                            after, before);
          }
          counterGuards[r].push_back(stepped);
        }
      }
    }
    ret.setOperand(u.paramResult, optStep.getNewParam());
    for (auto [r, value] :
         llvm::zip_equal(u.momentResults, optStep.getNewMoments()))
      ret.setOperand(r, value);
    newResults.push_back(stabilize.getNewStats());
    newResultAttrs.push_back(resultAttrs("stats"));
    newResults.push_back(stabilize.getNewCounts());
    newResultAttrs.push_back(resultAttrs("counts"));
    if (stepArg) {
      newResults.push_back(optStep.getNewStep());
      newResultAttrs.push_back(resultAttrs("step"));
    }
  }
  // A counter shared by several updates advances when any of them stepped.
  for (auto &[r, oks] : counterGuards) {
    Value fresh = ret.getOperand(r);
    Value old = matchCounterIncrement(fresh, body);
    Location loc = fresh.getLoc();
    Value ok = oks.front();
    for (Value other : ArrayRef<Value>(oks).drop_front())
      ok = arith::OrIOp::create(b, loc, ok, other);
    Value selected;
    if (isa<RankedTensorType>(fresh.getType())) {
      Value f = tensor::ExtractOp::create(b, loc, fresh, ValueRange{});
      Value o = tensor::ExtractOp::create(b, loc, old, ValueRange{});
      selected = tensor::FromElementsOp::create(
          b, loc, fresh.getType(),
          ValueRange{arith::SelectOp::create(b, loc, ok, f, o)});
    } else {
      selected = arith::SelectOp::create(b, loc, ok, fresh, old);
    }
    ret.setOperand(r, selected);
  }
  {
    unsigned end = func.getNumResults();
    SmallVector<unsigned> indices(newResults.size(), end);
    SmallVector<Type> types;
    for (Value value : newResults)
      types.push_back(value.getType());
    (void)func.insertResults(indices, types, newResultAttrs);
    ret->insertOperands(end, newResults);
  }

  // Erase what only the old updates used. Users come after their
  // definitions in the block, so one pass from the back suffices.
  SmallVector<Operation *> ops(oldOps.begin(), oldOps.end());
  llvm::sort(ops,
             [](Operation *x, Operation *y) { return y->isBeforeInBlock(x); });
  for (Operation *op : ops)
    if (isOpTriviallyDead(op))
      op->erase();
}

void InjectStabilization::runOnOperation() {
  FailureOr<StabilizerAttr> parsed =
      parseInjectionOptions(getOperation(), "gs-inject-stabilization", clip,
                            onNonfinite, gamma1, gamma2, eps, biasCorrection);
  if (failed(parsed))
    return signalPassFailure();
  StabilizerAttr config = *parsed;

  SmallVector<func::FuncOp> funcs(getOperation().getOps<func::FuncOp>());
  for (func::FuncOp func : funcs)
    processFunction(func, config);
}
