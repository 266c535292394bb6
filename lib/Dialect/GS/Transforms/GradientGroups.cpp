//===- GradientGroups.cpp - Gradients of foreign optimizer updates --------===//

#include "GradientGroups.h"

#include "gs/Dialect/GS/IR/GSDialect.h"
#include "gs/Dialect/GS/IR/GSOps.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Transforms/RegionUtils.h"

using namespace mlir;
using namespace mlir::gs;
using namespace mlir::gs::matchers;

Operation *mlir::gs::matchers::ancestorIn(Operation *op, Block *block) {
  while (op && op->getBlock() != block)
    op = op->getParentOp();
  return op;
}

void mlir::gs::matchers::collectSlice(ArrayRef<Value> roots, Block *block,
                                      DenseSet<Value> &values,
                                      llvm::SetVector<Operation *> &blockOps,
                                      const DenseSet<Value> *blocked) {
  SmallVector<Value> work(roots.begin(), roots.end());
  while (!work.empty()) {
    Value v = work.pop_back_val();
    if ((blocked && blocked->contains(v)) || !values.insert(v).second)
      continue;
    if (auto arg = dyn_cast<BlockArgument>(v)) {
      // A linalg body argument stands for its operand; function arguments
      // end the walk.
      auto linalgOp =
          dyn_cast_if_present<linalg::LinalgOp>(arg.getOwner()->getParentOp());
      if (linalgOp && arg.getOwner() == linalgOp.getBlock())
        work.push_back(linalgOp.getMatchingOpOperand(arg)->get());
      continue;
    }
    Operation *op = v.getDefiningOp();
    if (op->getBlock() != block) {
      llvm::append_range(work, op->getOperands());
      continue;
    }
    if (!blockOps.insert(op))
      continue;
    llvm::append_range(work, op->getOperands());
    if (op->getNumRegions() != 0)
      visitUsedValuesDefinedAbove(op->getRegions(), [&](OpOperand *operand) {
        work.push_back(operand->get());
      });
  }
}

/// An outer scalar or 0-d value: uniform, and nothing element-wise below it
/// reads a tensor of rank > 0.
static bool isOuterUniform(Value value, Block *body) {
  if (value.getParentBlock() != body)
    return false;
  auto type = dyn_cast<RankedTensorType>(value.getType());
  return !type || type.getRank() == 0;
}

static bool isGSOp(Operation *op) {
  return op && isa<GSDialect>(op->getDialect());
}

static bool sameShape(Type a, Type b) {
  auto ta = dyn_cast<RankedTensorType>(a), tb = dyn_cast<RankedTensorType>(b);
  return ta && tb && ta.getShape() == tb.getShape();
}

/// `t + c` (c > 0 constant) or `select(t < max, t + 1, max)` with `t` an
/// argument of `body` whose element type is `value`'s: inside a linalg body
/// the increment is a scalar of the counter tensor's element type.
static Value matchIncrementOf(Value value, Block *body) {
  Type type = getElementTypeOrSelf(value.getType());
  Expr e = viewExpr(value);
  if (e.kind == ExprKind::Select) {
    for (int side = 1; side <= 2; ++side) {
      if (!evalConstant(e.operands[3 - side]))
        continue;
      if (Value t = matchIncrementOf(e.operands[side], body))
        return t;
    }
    return {};
  }
  Value counter;
  double increment = 0;
  for (Term term : flattenSum(value)) {
    if (std::optional<double> c = evalConstant(term.value)) {
      increment += term.sign * *c;
      continue;
    }
    auto arg = dyn_cast_if_present<BlockArgument>(getLeaf(term.value));
    if (counter || term.sign < 0 || !arg || arg.getOwner() != body)
      return {};
    counter = arg;
  }
  if (!counter || increment <= 0 ||
      getElementTypeOrSelf(counter.getType()) != type)
    return {};
  return counter;
}

Value mlir::gs::matchers::matchCounterIncrement(Value value, Block *body) {
  Value t = matchIncrementOf(value, body);
  return t && t.getType() == value.getType() ? t : Value();
}

FunctionGradients::FunctionGradients(func::FuncOp func) : func(func) {
  body = &func.getBody().front();
  ret = cast<func::ReturnOp>(body->getTerminator());
  unsigned n = ret.getNumOperands();
  candidate.assign(n, false);
  carriedCands.resize(n);
  leaves.resize(n);
  reaches.resize(n);
  readByOther.assign(n, false);

  DenseMap<Value, SmallVector<unsigned, 1>> rootOf;
  SmallVector<Value> roots(n);
  for (unsigned i = 0; i < n; ++i) {
    Value r = ret.getOperand(i);
    auto type = dyn_cast<RankedTensorType>(r.getType());
    if (!type || type.getRank() == 0 ||
        !isa<FloatType>(type.getElementType()) || isGSOp(r.getDefiningOp()))
      continue;
    candidate[i] = true;
    roots[i] = viewExpr(r).value;
    rootOf[roots[i]].push_back(i);
  }
  for (unsigned i = 0; i < n; ++i) {
    if (!candidate[i])
      continue;
    Value r = ret.getOperand(i);
    // A running maximum (Adamax's `max(beta2*u, |g| + eps)`, amsgrad's
    // `max(vmax, v)`; torch-mlir writes max as `a > b ? a : b`) carries what
    // its operands carry.
    SmallVector<Value, 2> sums{r};
    Expr top = viewExpr(r);
    if (top.kind == ExprKind::Max || top.kind == ExprKind::Min)
      sums.assign(top.operands.begin(), top.operands.end());
    else if (top.kind == ExprKind::Select)
      sums.assign(top.operands.begin() + 1, top.operands.end());
    for (Value sum : sums) {
      for (Term term : flattenSum(sum)) {
        if (term.sign < 0)
          continue;
        Product elem = flattenProduct(term.value).elementPart();
        if (elem.num.size() != 1 || !elem.den.empty())
          continue;
        auto arg = dyn_cast_if_present<BlockArgument>(getLeaf(elem.num[0]));
        if (arg && arg.getOwner() == body && arg.getType() == r.getType() &&
            !llvm::is_contained(carriedCands[i], arg))
          carriedCands[i].push_back(arg);
      }
    }
    // One element-wise walk per result: its tensor leaves and the other
    // results it reads.
    DenseSet<Value> visited;
    SmallVector<Value> work{r};
    while (!work.empty()) {
      Expr e = viewExpr(work.pop_back_val());
      if (!visited.insert(e.value).second)
        continue;
      if (e.value != roots[i]) {
        auto it = rootOf.find(e.value);
        if (it != rootOf.end()) {
          for (unsigned j : it->second) {
            if (j != i && !llvm::is_contained(reaches[i], j)) {
              reaches[i].push_back(j);
              readByOther[j] = true;
            }
          }
        }
      }
      if (e.kind == ExprKind::Leaf) {
        auto type = dyn_cast<RankedTensorType>(e.value.getType());
        if (type && type.getRank() != 0)
          leaves[i].insert(e.value);
        continue;
      }
      if (!isOuterUniform(e.value, body))
        llvm::append_range(work, e.operands);
    }
  }
  for (unsigned i = 0; i < n; ++i)
    if (carriedCands[i].size() == 1)
      surelyCarried.insert(carriedCands[i].front());

  // A parameter update carries one argument and no other result reads it;
  // a result whose carried argument another candidate reads is state (a
  // moment the update reads before its new value is computed).
  SmallVector<unsigned> params;
  for (unsigned i = 0; i < n; ++i)
    if (candidate[i] && carriedCands[i].size() == 1 && !readByOther[i])
      params.push_back(i);
  isParamCandidate.assign(n, false);
  for (unsigned i : params) {
    Value carried = carriedCands[i].front();
    if (llvm::none_of(params, [&](unsigned j) {
          return j != i && leaves[j].contains(carried);
        })) {
      paramCandidates.push_back(i);
      isParamCandidate[i] = true;
    }
  }

  counters.resize(n);
  for (unsigned j = 0; j < n; ++j) {
    Value r = ret.getOperand(j);
    auto shaped = dyn_cast<ShapedType>(r.getType());
    if (candidate[j] || isGSOp(r.getDefiningOp()) ||
        (shaped && (!shaped.hasRank() || shaped.getRank() != 0)))
      continue;
    counters[j] = matchCounterIncrement(r, body);
  }
}

bool FunctionGradients::isStabilized(Value grad) {
  return llvm::any_of(grad.getUsers(), [](Operation *user) {
    return isa<GradNormOp, StabilizeOp>(user);
  });
}

/// `cands` without `grad`, when one argument is left.
static BlockArgument carriedWithout(ArrayRef<BlockArgument> cands, Value grad) {
  BlockArgument found;
  for (BlockArgument arg : cands) {
    if (arg == grad)
      continue;
    if (found)
      return {};
    found = arg;
  }
  return found;
}

FailureOr<GradientGroup>
FunctionGradients::groupForGradient(Value grad, std::string &reason) {
  SmallVector<unsigned> params;
  for (unsigned i = 0, e = candidate.size(); i < e; ++i) {
    if (!candidate[i] || readByOther[i] || !leaves[i].contains(grad))
      continue;
    if (carriedWithout(carriedCands[i], grad))
      params.push_back(i);
  }
  SmallVector<unsigned> updates;
  for (unsigned i : params) {
    BlockArgument carried = carriedWithout(carriedCands[i], grad);
    if (llvm::none_of(params, [&](unsigned j) {
          return j != i && leaves[j].contains(carried);
        }))
      updates.push_back(i);
  }
  if (updates.empty()) {
    reason = "it is not a gradient: no returned parameter update "
             "(p_new = p*c - f(g, ...)) reads it element-wise";
    return failure();
  }
  if (updates.size() > 1) {
    reason = "it feeds the updates of results #" + std::to_string(updates[0]) +
             " and #" + std::to_string(updates[1]) +
             ", so it cannot be rewired for one parameter";
    return failure();
  }
  GradientGroup group;
  group.paramResult = updates.front();
  group.param = carriedWithout(carriedCands[group.paramResult], grad);
  group.grad = grad;
  if (!sameShape(grad.getType(), group.param.getType())) {
    reason = "its shape differs from the parameter's";
    return failure();
  }
  if (failed(completeGroup(group, reason)))
    return failure();
  return group;
}

FailureOr<GradientGroup>
FunctionGradients::groupForResult(unsigned index, std::string &reason) {
  GradientGroup group;
  group.paramResult = index;
  group.param = carriedCands[index].front();
  SmallVector<Value> grads;
  for (Value leaf : leaves[index]) {
    if (leaf == group.param || surelyCarried.contains(leaf) ||
        !sameShape(leaf.getType(), group.param.getType()) ||
        !isa<FloatType>(cast<ShapedType>(leaf.getType()).getElementType()))
      continue;
    // The gradient enters every state the update reads.
    if (llvm::all_of(reaches[index],
                     [&](unsigned j) { return leaves[j].contains(leaf); }))
      grads.push_back(leaf);
  }
  if (grads.empty()) {
    reason = "no tensor of the parameter's shape besides its state enters "
             "the update element-wise";
    return failure();
  }
  if (grads.size() > 1) {
    reason = "the gradient could be any of " + std::to_string(grads.size()) +
             " tensors entering the update symmetrically (momentum "
             "buffers look like gradients): name it with grad-names or "
             "grad-attr";
    return failure();
  }
  group.grad = grads.front();
  if (isStabilized(group.grad)) {
    reason = "its gradient is already stabilized";
    return failure();
  }
  if (failed(completeGroup(group, reason)))
    return failure();
  return group;
}

LogicalResult FunctionGradients::completeGroup(GradientGroup &group,
                                               std::string &reason) {
  unsigned index = group.paramResult;
  Value grad = group.grad;
  auto fail = [&](const Twine &message) {
    reason = message.str();
    return failure();
  };
  // Tensor state: results the update reads, whose old value it reads, or
  // that read the gradient.
  for (unsigned j = 0, e = candidate.size(); j < e; ++j) {
    if (j == index || !candidate[j])
      continue;
    // Another parameter's update: it must not read this gradient.
    if (isParamCandidate[j] && !llvm::is_contained(reaches[index], j)) {
      if (leaves[j].contains(grad))
        return fail("the gradient also feeds the update of result #" +
                    Twine(j));
      continue;
    }
    bool related = llvm::is_contained(reaches[index], j) ||
                   leaves[j].contains(grad) ||
                   llvm::any_of(carriedCands[j], [&](BlockArgument arg) {
                     return arg != grad && leaves[index].contains(arg);
                   });
    if (!related)
      continue;
    // The parameter is not the old value of its state (SGD's buffer reads
    // it through an L2 weight decay `g + wd*p`).
    SmallVector<BlockArgument> cands;
    llvm::copy_if(carriedCands[j], std::back_inserter(cands),
                  [&](BlockArgument arg) { return arg != group.param; });
    BlockArgument old = carriedWithout(cands, grad);
    if (!old)
      return fail("cannot tell the old value of state result #" + Twine(j));
    group.states.push_back({j, old});
  }

  // Clips of the gradient; the walk stops at each one.
  DenseSet<Value> visited;
  SmallVector<Value> roots{ret.getOperand(index)};
  for (const StateResult &s : group.states)
    roots.push_back(ret.getOperand(s.result));
  SmallVector<Value> work(roots);
  while (!work.empty()) {
    Expr e = viewExpr(work.pop_back_val());
    if (!visited.insert(e.value).second || e.kind == ExprKind::Leaf)
      continue;
    if (std::optional<ClipNode> node = matchClipNode(e.value, grad)) {
      group.clips.push_back(*node);
      continue;
    }
    if (!isOuterUniform(e.value, body))
      llvm::append_range(work, e.operands);
  }
  SmallVector<Value> factorValues;
  for (const ClipNode &node : group.clips) {
    llvm::append_range(factorValues, node.factor.num);
    llvm::append_range(factorValues, node.factor.den);
    if (node.selectCond)
      factorValues.push_back(node.selectCond);
    if (node.selectCond != group.clips.front().selectCond ||
        !equalProducts(node.factor, group.clips.front().factor))
      return fail("the gradient is clipped by different factors");
  }
  // The slice of the update does not enter the clip factors: their norm
  // reads the raw gradient.
  for (Value v : factorValues) {
    SmallVector<Value> stack{v};
    while (!stack.empty()) {
      Expr f = viewExpr(stack.pop_back_val());
      if (f.value.getParentBlock() == body) {
        group.clipRoots.insert(f.value);
        continue;
      }
      for (Value operand : f.operands)
        stack.push_back(operand);
      if (f.kind == ExprKind::Leaf)
        group.clipRoots.insert(f.value);
    }
  }
  DenseSet<Value> values;
  collectSlice(roots, body, values, group.slice, &group.clipRoots);

  // Step counters (`t + 1`) the update or its states read, before or after
  // the increment.
  for (unsigned j = 0, e = candidate.size(); j < e; ++j) {
    Value r = ret.getOperand(j);
    Value t = counters[j];
    if (t && (values.contains(r) || values.contains(t)))
      group.states.push_back({j, t});
  }

  for (OpOperand &use : grad.getUses()) {
    Operation *owner = ancestorIn(use.getOwner(), body);
    if (!owner || !group.slice.contains(owner))
      continue;
    if (!group.firstUse || owner->isBeforeInBlock(group.firstUse))
      group.firstUse = owner;
  }
  if (!group.firstUse)
    return fail("the update reads the gradient only through its clip");
  for (Value v : group.clipRoots) {
    Operation *def = v.getDefiningOp();
    if (def && def->getBlock() == body && group.firstUse->isBeforeInBlock(def))
      return fail("the clip factor is computed after the update first "
                  "reads the gradient");
  }
  return success();
}

FailureOr<StabilizerAttr> mlir::gs::matchers::parseInjectionOptions(
    Operation *module, StringRef pass, StringRef clip, StringRef onNonfinite,
    double gamma1, double gamma2, double eps, bool biasCorrection) {
  if (clip != "replace" && clip != "keep")
    return module->emitError()
           << pass << ": clip must be 'replace' or 'keep', got '" << clip
           << "'";
  std::optional<NonFinitePolicy> policy = symbolizeNonFinitePolicy(onNonfinite);
  if (!policy)
    return module->emitError()
           << pass
           << ": on-nonfinite must be 'skip', 'zero' or 'passthrough', got '"
           << onNonfinite << "'";
  auto emitError = [&] { return module->emitError(); };
  if (failed(StabilizerAttr::verify(emitError, APFloat(gamma1), APFloat(gamma2),
                                    APFloat(eps), biasCorrection, *policy)))
    return failure();
  return StabilizerAttr::get(module->getContext(), APFloat(gamma1),
                             APFloat(gamma2), APFloat(eps), biasCorrection,
                             *policy);
}
