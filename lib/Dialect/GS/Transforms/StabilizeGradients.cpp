//===- StabilizeGradients.cpp - Gradient-level stabilization --------------===//
//
// Stabilizes the gradient of any optimizer update without recognizing the
// optimizer: gs.grad_norm + gs.stabilize are inserted on the gradient, the
// foreign update reads the stabilized gradient, and under the skip policy
// every state result of the parameter is selected back to its old value.
// Every function is analyzed before anything is rewritten, so an error
// leaves the module as it was.
//
//===----------------------------------------------------------------------===//

#include "GradientGroups.h"

#include "gs/Dialect/GS/IR/GSDialect.h"
#include "gs/Dialect/GS/IR/GSOps.h"
#include "gs/Dialect/GS/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/StringSet.h"

namespace mlir::gs {
#define GEN_PASS_DEF_GSSTABILIZEGRADIENTS
#include "gs/Dialect/GS/Transforms/Passes.h.inc"
} // namespace mlir::gs

using namespace mlir;
using namespace mlir::gs;
using namespace mlir::gs::matchers;

namespace {
struct FunctionPlan {
  func::FuncOp func;
  SmallVector<GradientGroup, 0> groups;
};

struct StabilizeGradients
    : gs::impl::GSStabilizeGradientsBase<StabilizeGradients> {
  using Base::Base;

  void runOnOperation() override;

private:
  /// Analysis of one function; false when an error was emitted.
  bool analyze(func::FuncOp func, FunctionPlan &plan,
               llvm::StringSet<> &namesSeen, bool &attrSeen);
  void rewrite(FunctionPlan &plan, StabilizerAttr config);
  void remark(Operation *op, const Twine &message) {
    if (explain)
      op->emitRemark() << "gs-stabilize-gradients: " << message;
  }
};
} // namespace

/// An argument's name: its `gs.name` attribute, else its name location.
static std::optional<StringRef> argumentName(func::FuncOp func,
                                             BlockArgument arg) {
  if (auto name =
          func.getArgAttrOfType<StringAttr>(arg.getArgNumber(), "gs.name"))
    return name.getValue();
  if (auto loc = dyn_cast<NameLoc>(arg.getLoc()))
    return loc.getName().getValue();
  return std::nullopt;
}

static std::string describe(func::FuncOp func, BlockArgument arg) {
  std::string text;
  if (std::optional<StringRef> name = argumentName(func, arg))
    text = ("'" + *name + "' (").str();
  text += "argument #" + std::to_string(arg.getArgNumber()) + " of @" +
          func.getSymName().str();
  if (argumentName(func, arg))
    text += ")";
  return text;
}

/// Whether the clip factor of `node` can be emitted outside the update.
static bool canMaterializeClip(const ClipNode &node) {
  return canMaterializeF64(node.factor) &&
         (!node.selectCond || canMaterializeCondition(node.selectCond));
}

bool StabilizeGradients::analyze(func::FuncOp func, FunctionPlan &plan,
                                 llvm::StringSet<> &namesSeen, bool &attrSeen) {
  bool named = !gradNames.empty() || !gradAttr.empty();
  SmallVector<BlockArgument> requested;
  for (BlockArgument arg : func.getArguments()) {
    bool wanted = false;
    if (std::optional<StringRef> name = argumentName(func, arg)) {
      if (llvm::is_contained(gradNames, *name)) {
        namesSeen.insert(*name);
        wanted = true;
      }
    }
    if (!gradAttr.empty() && func.getArgAttr(arg.getArgNumber(), gradAttr)) {
      attrSeen = true;
      wanted = true;
    }
    if (wanted)
      requested.push_back(arg);
  }
  if (named && requested.empty())
    return true;

  bool ok = true;
  auto reject = [&](BlockArgument arg, const Twine &why) {
    mlir::emitError(arg.getLoc())
        << "gs-stabilize-gradients: gradient " << describe(func, arg)
        << " cannot be stabilized: " << why;
    ok = false;
  };
  auto unfit = [&](const Twine &why) {
    if (!named) {
      remark(func, "@" + func.getSymName() + " not stabilized: " + why);
      return;
    }
    for (BlockArgument arg : requested)
      reject(arg, why);
  };
  if (!func.getBody().hasOneBlock())
    return unfit("the function has more than one block"), ok;
  if (!SymbolTable::symbolKnownUseEmpty(func, getOperation()))
    return unfit("the function has uses, so its signature cannot change"), ok;
  if (!isa<func::ReturnOp>(func.getBody().front().getTerminator()))
    return unfit("the function does not end in func.return"), ok;
  auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());

  FunctionGradients facts(func);
  std::string reason;
  if (named) {
    for (BlockArgument grad : requested) {
      if (FunctionGradients::isStabilized(grad))
        continue; // gs-inject-stabilization raised its update
      FailureOr<GradientGroup> group = facts.groupForGradient(grad, reason);
      if (failed(group)) {
        reject(grad, reason);
        continue;
      }
      plan.groups.push_back(std::move(*group));
    }
  } else {
    for (unsigned index : facts.getParamCandidates()) {
      FailureOr<GradientGroup> group = facts.groupForResult(index, reason);
      if (failed(group)) {
        Operation *anchor = ret.getOperand(index).getDefiningOp();
        remark(anchor ? anchor : ret.getOperation(),
               "result #" + Twine(index) + " not stabilized: " + reason);
        continue;
      }
      plan.groups.push_back(std::move(*group));
    }
    // A gradient found for two parameters belongs to neither.
    llvm::DenseMap<Value, unsigned> uses;
    for (const GradientGroup &g : plan.groups)
      ++uses[g.grad];
    llvm::erase_if(plan.groups, [&](const GradientGroup &g) {
      if (uses[g.grad] == 1)
        return false;
      remark(ret, "result #" + Twine(g.paramResult) +
                      " not stabilized: its gradient feeds another "
                      "parameter's update too");
      return true;
    });
  }

  // One gradient per parameter, one owner per state.
  DenseMap<unsigned, unsigned> paramOf;
  for (GradientGroup &g : plan.groups) {
    auto [it, inserted] = paramOf.try_emplace(g.paramResult, g.paramResult);
    if (!inserted && named) {
      reject(cast<BlockArgument>(g.grad),
             "the update of result #" + Twine(g.paramResult) +
                 " reads another named gradient as well");
    }
    if (clip == "keep" && !g.clips.empty() &&
        !canMaterializeClip(g.clips.front())) {
      std::string why = "its clip factor cannot be computed outside the "
                        "update (clip=keep)";
      if (named)
        reject(cast<BlockArgument>(g.grad), why);
      else
        remark(ret,
               "result #" + Twine(g.paramResult) + " not stabilized: " + why);
      g.paramResult = ~0u; // dropped below
    }
  }
  llvm::erase_if(plan.groups,
                 [](const GradientGroup &g) { return g.paramResult == ~0u; });
  return ok;
}

/// Folds `cond ? fresh : old` into the linalg.generic that computes `fresh`
/// when nothing else reads it: the generic writes into `old` and yields the
/// select, so the skip costs no pass over memory of its own.
static bool selectInProducer(OpBuilder &b, Value cond, Value fresh, Value old) {
  auto result = dyn_cast<OpResult>(fresh);
  auto generic = result ? dyn_cast<linalg::GenericOp>(result.getOwner())
                        : linalg::GenericOp();
  if (!generic || !fresh.hasOneUse() || !generic.hasPureTensorSemantics() ||
      generic.getNumLoops() != generic.getNumParallelLoops() ||
      old.getType() != fresh.getType())
    return false;
  OpOperand *init = generic.getDpsInitOperand(result.getResultNumber());
  if (!generic.getMatchingIndexingMap(init).isIdentity() ||
      !generic.getMatchingBlockArgument(init).use_empty())
    return false;
  BlockArgument out = generic.getMatchingBlockArgument(init);
  Operation *yield = generic.getBody()->getTerminator();
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(yield);
  Value selected =
      arith::SelectOp::create(b, yield->getLoc(), cond,
                              yield->getOperand(result.getResultNumber()), out);
  yield->setOperand(result.getResultNumber(), selected);
  init->set(old);
  return true;
}

/// `cond ? fresh : old`, element-wise for tensors so that host fusion folds
/// it into the update.
static Value buildSelect(OpBuilder &b, Location loc, Value cond, Value fresh,
                         Value old, DenseMap<Value, Value> &tensorConds) {
  auto type = dyn_cast<RankedTensorType>(fresh.getType());
  if (!type)
    return arith::SelectOp::create(b, loc, cond, fresh, old);
  if (selectInProducer(b, cond, fresh, old))
    return fresh;
  Value &cond0d = tensorConds[cond];
  if (!cond0d)
    cond0d = tensor::FromElementsOp::create(
        b, loc, RankedTensorType::get({}, b.getI1Type()), ValueRange{cond});
  MLIRContext *ctx = b.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(type.getRank(), ctx);
  AffineMap scalar = AffineMap::get(type.getRank(), 0, ctx);
  SmallVector<utils::IteratorType> iterators(type.getRank(),
                                             utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, type, ValueRange{fresh, cond0d}, ValueRange{old},
             ArrayRef<AffineMap>{id, scalar, id}, iterators,
             [](OpBuilder &nb, Location nloc, ValueRange args) {
               Value r =
                   arith::SelectOp::create(nb, nloc, args[1], args[0], args[2]);
               linalg::YieldOp::create(nb, nloc, r);
             })
      .getResult(0);
}

/// `grad * factor` (f64 factor) as a new tensor, for clip=keep.
static Value buildClippedGrad(OpBuilder &b, Location loc, Value grad,
                              Value factor) {
  auto type = cast<RankedTensorType>(grad.getType());
  Value scalar = arith::TruncFOp::create(b, loc, type.getElementType(), factor);
  SmallVector<Value> dims;
  for (int64_t i = 0; i < type.getRank(); ++i)
    if (type.isDynamicDim(i))
      dims.push_back(tensor::DimOp::create(b, loc, grad, i));
  Value empty = tensor::EmptyOp::create(b, loc, type, dims);
  Value fill = linalg::FillOp::create(b, loc, scalar, empty).getResult(0);
  return linalg::MulOp::create(b, loc, ValueRange{grad, fill},
                               ValueRange{empty})
      .getResult(0);
}

void StabilizeGradients::rewrite(FunctionPlan &plan, StabilizerAttr config) {
  func::FuncOp func = plan.func;
  Block *body = &func.getBody().front();
  auto ret = cast<func::ReturnOp>(body->getTerminator());
  MLIRContext *ctx = &getContext();
  OpBuilder b(ctx);
  auto statsType = RankedTensorType::get({2}, b.getF64Type());
  auto countsType = RankedTensorType::get({2}, b.getI64Type());
  bool skip = config.getOnNonfinite() == NonFinitePolicy::Skip;
  llvm::sort(plan.groups, [](const GradientGroup &x, const GradientGroup &y) {
    return x.paramResult < y.paramResult;
  });

  // Result index -> (old value, step_ok of every parameter it belongs to).
  llvm::MapVector<unsigned, std::pair<Value, SmallVector<Value>>> guarded;
  SmallVector<std::pair<Value, DictionaryAttr>> newResults;
  llvm::SetVector<Operation *> touched;
  SmallVector<Value> clipRoots;
  // All state arguments at once: each insertion rebuilds the function type.
  auto stateAttrs = [&](const GradientGroup &g, StringRef kind) {
    return b.getDictionaryAttr(
        {b.getNamedAttr("gs.state", b.getStringAttr(kind)),
         b.getNamedAttr("gs.param",
                        b.getI64IntegerAttr(g.param.getArgNumber()))});
  };
  unsigned firstState = func.getNumArguments();
  {
    SmallVector<unsigned> indices;
    SmallVector<Type> types;
    SmallVector<DictionaryAttr> attrs;
    SmallVector<Location> locs;
    for (const GradientGroup &g : plan.groups) {
      for (auto [type, kind] : {std::pair<Type, StringRef>(statsType, "stats"),
                                {countsType, "counts"}}) {
        indices.push_back(firstState);
        types.push_back(type);
        attrs.push_back(stateAttrs(g, kind));
        locs.push_back(g.grad.getLoc());
      }
    }
    (void)func.insertArguments(indices, types, attrs, locs);
  }
  for (auto [i, group] : llvm::enumerate(plan.groups)) {
    GradientGroup &g = group;
    Location loc = g.grad.getLoc();
    Value stats = func.getArgument(firstState + 2 * i);
    Value counts = func.getArgument(firstState + 2 * i + 1);

    b.setInsertionPoint(g.firstUse);
    Value input = g.grad;
    if (clip == "keep" && !g.clips.empty())
      input = buildClippedGrad(b, loc, g.grad,
                               materializeClipFactor(b, loc, g.clips.front()));
    auto norm = GradNormOp::create(b, loc, input);
    auto stabilize = StabilizeOp::create(
        b, loc, input, norm, stats, counts,
        config == StabilizerAttr::getDefault(ctx) ? StabilizerAttr() : config);

    auto inUpdate = [&](OpOperand &use) {
      Operation *owner = ancestorIn(use.getOwner(), body);
      return owner && g.slice.contains(owner);
    };
    for (ClipNode &node : g.clips)
      node.scaled.replaceUsesWithIf(node.gradInScope, inUpdate);
    g.grad.replaceUsesWithIf(stabilize.getStabilized(), inUpdate);

    if (skip) {
      Value ok = stabilize.getStepOk();
      auto &param = guarded[g.paramResult];
      param.first = g.param;
      param.second.push_back(ok);
      for (const StateResult &s : g.states) {
        auto &state = guarded[s.result];
        state.first = s.old;
        state.second.push_back(ok);
      }
    }
    newResults.emplace_back(stabilize.getNewStats(), stateAttrs(g, "stats"));
    newResults.emplace_back(stabilize.getNewCounts(), stateAttrs(g, "counts"));
    touched.insert(g.slice.begin(), g.slice.end());
    clipRoots.append(g.clipRoots.begin(), g.clipRoots.end());
  }
  // The clip computations, which only the removed clips may have used.
  DenseSet<Value> clipValues;
  collectSlice(clipRoots, body, clipValues, touched);

  b.setInsertionPoint(ret);
  DenseMap<Value, Value> tensorConds;
  for (auto &[index, entry] : guarded) {
    Location loc = ret.getOperand(index).getLoc();
    Value ok = entry.second.front();
    // A shared counter advances when any of its parameters stepped.
    for (Value other : ArrayRef<Value>(entry.second).drop_front())
      ok = arith::OrIOp::create(b, loc, ok, other);
    ret.setOperand(index, buildSelect(b, loc, ok, ret.getOperand(index),
                                      entry.first, tensorConds));
  }
  {
    unsigned first = func.getNumResults();
    SmallVector<unsigned> indices(newResults.size(), first);
    SmallVector<Type> types;
    SmallVector<DictionaryAttr> attrs;
    SmallVector<Value> values;
    for (auto &[value, attr] : newResults) {
      types.push_back(value.getType());
      attrs.push_back(attr);
      values.push_back(value);
    }
    (void)func.insertResults(indices, types, attrs);
    ret->insertOperands(first, values);
  }

  // Erase what only the removed clips used: users come after their
  // definitions, so one pass from the back suffices.
  SmallVector<Operation *> ops(touched.begin(), touched.end());
  llvm::sort(ops,
             [](Operation *x, Operation *y) { return y->isBeforeInBlock(x); });
  for (Operation *op : ops) {
    if (isOpTriviallyDead(op)) {
      op->erase();
      continue;
    }
    for (Region &region : op->getRegions())
      for (Block &block : region)
        for (Operation &inner :
             llvm::make_early_inc_range(llvm::reverse(block)))
          if (isOpTriviallyDead(&inner))
            inner.erase();
  }
}

void StabilizeGradients::runOnOperation() {
  FailureOr<StabilizerAttr> parsed =
      parseInjectionOptions(getOperation(), "gs-stabilize-gradients", clip,
                            onNonfinite, gamma1, gamma2, eps, biasCorrection);
  if (failed(parsed))
    return signalPassFailure();
  StabilizerAttr config = *parsed;

  SmallVector<FunctionPlan> plans;
  llvm::StringSet<> namesSeen;
  bool attrSeen = false, ok = true;
  {
    // Analysis only: the IR does not change while the cache lives.
    NormInputsCache cache;
    for (func::FuncOp func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      FunctionPlan plan{func, {}};
      ok &= analyze(func, plan, namesSeen, attrSeen);
      if (!plan.groups.empty())
        plans.push_back(std::move(plan));
    }
  }
  for (const std::string &name : gradNames) {
    if (namesSeen.contains(name))
      continue;
    getOperation().emitError()
        << "gs-stabilize-gradients: grad-names: no function argument is "
           "named '"
        << name << "'";
    ok = false;
  }
  if (!gradAttr.empty() && !attrSeen) {
    getOperation().emitError()
        << "gs-stabilize-gradients: grad-attr: no function argument carries '"
        << gradAttr << "'";
    ok = false;
  }
  if (!ok)
    return signalPassFailure();
  for (FunctionPlan &plan : plans)
    rewrite(plan, config);
}
