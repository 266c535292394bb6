//===- Optimizers.cpp - OptimizerAttrInterface implementations ------------===//
//
// The update rules of spec section 2, written once for every lowering. The
// element updates use only arith / math ops valid on scalars and vectors, so
// CPU loops and GPU kernels emit them at any vector width.
//
//===----------------------------------------------------------------------===//

#include "gs/Dialect/GS/IR/GSAttrs.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

using namespace mlir;
using namespace mlir::gs;

namespace {
/// Small expression helpers over one builder and location.
struct Emitter {
  OpBuilder &b;
  Location loc;

  Value f64(double x) { return buildFloatConstant(b, loc, b.getF64Type(), x); }
  Value add(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubFOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value div(Value x, Value y) { return arith::DivFOp::create(b, loc, x, y); }
  Value sqrt(Value x) { return math::SqrtOp::create(b, loc, x); }
  /// `a*x + bCoef*y`, e.g. an EMA step `beta*avg + (1-beta)*sample`.
  Value axpby(Value a, Value x, Value bCoef, Value y) {
    return add(mul(a, x), mul(bCoef, y));
  }
  /// `1 - base^step` for an f64 base and the i64 step.
  Value biasCorrection(Value base, Value step) {
    return sub(f64(1.0), buildPowI(b, loc, base, step));
  }
};
} // namespace

SmallVector<Value>
OptimizerAttrInterface::buildHyperparameterConstants(OpBuilder &builder,
                                                     Location loc) const {
  return llvm::map_to_vector(getHyperparameterValues(), [&](double value) {
    return buildFloatConstant(builder, loc, builder.getF64Type(), value);
  });
}

//===----------------------------------------------------------------------===//
// SGD
//===----------------------------------------------------------------------===//

SmallVector<StringRef> SGDAttr::getMomentNames() const {
  if (getMomentum().convertToDouble() == 0)
    return {};
  return {"momentum_buffer"};
}

// Momentum on or off is structural (it adds the buffer); its value and the
// dampening are run-time hyperparameters.
SmallVector<StringRef> SGDAttr::getHyperparameterNames() const {
  if (getMomentum().convertToDouble() == 0)
    return {};
  return {"momentum", "dampening"};
}

SmallVector<double> SGDAttr::getHyperparameterValues() const {
  if (getMomentum().convertToDouble() == 0)
    return {};
  return {getMomentum().convertToDouble(), getDampening().convertToDouble()};
}

SmallVector<StringRef> SGDAttr::getBiasCorrectionNames() const { return {}; }

SmallVector<Value> SGDAttr::buildStepScalars(OpBuilder &builder, Location loc,
                                             Value step, Value lr,
                                             Value weightDecay,
                                             ValueRange hyper,
                                             ValueRange) const {
  Emitter e{builder, loc};
  if (getMomentum().convertToDouble() == 0)
    return {lr, weightDecay};
  Value momentum = hyper[0], dampening = hyper[1];
  // b = a*b + c*d with (a, c) = (0, 1) on the first step (b = d), else
  // (momentum, 1 - dampening).
  Value one = arith::ConstantIntOp::create(builder, loc, step.getType(), 1);
  Value first =
      arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::eq, step, one);
  Value a = arith::SelectOp::create(builder, loc, first, e.f64(0.0), momentum);
  Value c = arith::SelectOp::create(builder, loc, first, e.f64(1.0),
                                    e.sub(e.f64(1.0), dampening));
  return {lr, weightDecay, a, c, momentum};
}

SmallVector<Value> SGDAttr::buildElementUpdate(OpBuilder &builder, Location loc,
                                               ValueRange s, Value param,
                                               Value grad,
                                               ValueRange moments) const {
  Emitter e{builder, loc};
  Value lr = s[0], wd = s[1];
  Value d = e.add(grad, e.mul(wd, param));
  if (getMomentum().convertToDouble() == 0)
    return {e.sub(param, e.mul(lr, d))};
  Value a = s[2], c = s[3], momentum = s[4];
  Value buffer = e.axpby(a, moments[0], c, d);
  Value direction = getNesterov() ? e.add(d, e.mul(momentum, buffer)) : buffer;
  return {e.sub(param, e.mul(lr, direction)), buffer};
}

//===----------------------------------------------------------------------===//
// Adam and AdamW
//===----------------------------------------------------------------------===//

static SmallVector<StringRef> adamMomentNames(bool amsgrad) {
  if (amsgrad)
    return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return {"exp_avg", "exp_avg_sq"};
}

static SmallVector<StringRef> adamHyperparameterNames() {
  return {"beta1", "beta2", "eps"};
}

static SmallVector<StringRef> adamBiasCorrectionNames() {
  return {"bias_correction1", "bias_correction2"};
}

/// Scalars shared by Adam and AdamW: [beta1, 1-beta1, beta2, 1-beta2,
/// lr/bc1, sqrt(bc2), eps]; `hyper` is [beta1, beta2, eps]. The bias
/// corrections bc1, bc2 are `biasCorrections` when given (the values the
/// source graph computed), else 1 - beta^t.
static SmallVector<Value> adamScalars(Emitter &e, ValueRange hyper, Value step,
                                      Value lr, ValueRange biasCorrections) {
  Value beta1 = hyper[0], beta2 = hyper[1], eps = hyper[2];
  Value bc1, bc2;
  if (biasCorrections.empty()) {
    bc1 = e.biasCorrection(beta1, step);
    bc2 = e.biasCorrection(beta2, step);
  } else {
    assert(biasCorrections.size() == 2 && "Adam takes two bias corrections");
    bc1 = biasCorrections[0];
    bc2 = biasCorrections[1];
  }
  Value stepSize = e.div(lr, bc1);
  Value bc2Sqrt = e.sqrt(bc2);
  return {beta1,    e.sub(e.f64(1.0), beta1),
          beta2,    e.sub(e.f64(1.0), beta2),
          stepSize, bc2Sqrt,
          eps};
}

/// The Adam moment and parameter update on `d`, as torch.optim.Adam.
static SmallVector<Value> adamUpdate(Emitter &e, ValueRange s, bool amsgrad,
                                     Value param, Value d, ValueRange moments) {
  Value beta1 = s[0], oneMinusBeta1 = s[1], beta2 = s[2], oneMinusBeta2 = s[3],
        stepSize = s[4], bc2Sqrt = s[5], eps = s[6];
  Value expAvg = e.axpby(beta1, moments[0], oneMinusBeta1, d);
  Value expAvgSq = e.axpby(beta2, moments[1], oneMinusBeta2, e.mul(d, d));
  Value second = expAvgSq;
  SmallVector<Value> results = {Value(), expAvg, expAvgSq};
  if (amsgrad) {
    second = arith::MaximumFOp::create(e.b, e.loc, moments[2], expAvgSq);
    results.push_back(second);
  }
  Value denom = e.add(e.div(e.sqrt(second), bc2Sqrt), eps);
  results[0] = e.sub(param, e.mul(stepSize, e.div(expAvg, denom)));
  return results;
}

SmallVector<StringRef> AdamAttr::getMomentNames() const {
  return adamMomentNames(getAmsgrad());
}

SmallVector<StringRef> AdamAttr::getHyperparameterNames() const {
  return adamHyperparameterNames();
}

SmallVector<double> AdamAttr::getHyperparameterValues() const {
  return {getBeta1().convertToDouble(), getBeta2().convertToDouble(),
          getEps().convertToDouble()};
}

SmallVector<StringRef> AdamAttr::getBiasCorrectionNames() const {
  return adamBiasCorrectionNames();
}

SmallVector<Value>
AdamAttr::buildStepScalars(OpBuilder &builder, Location loc, Value step,
                           Value lr, Value weightDecay, ValueRange hyper,
                           ValueRange biasCorrections) const {
  Emitter e{builder, loc};
  SmallVector<Value> scalars = adamScalars(e, hyper, step, lr, biasCorrections);
  scalars.push_back(weightDecay);
  return scalars;
}

SmallVector<Value> AdamAttr::buildElementUpdate(OpBuilder &builder,
                                                Location loc, ValueRange s,
                                                Value param, Value grad,
                                                ValueRange moments) const {
  Emitter e{builder, loc};
  Value d = e.add(grad, e.mul(s[7], param));
  return adamUpdate(e, s, getAmsgrad(), param, d, moments);
}

SmallVector<StringRef> AdamWAttr::getMomentNames() const {
  return adamMomentNames(getAmsgrad());
}

SmallVector<StringRef> AdamWAttr::getHyperparameterNames() const {
  return adamHyperparameterNames();
}

SmallVector<double> AdamWAttr::getHyperparameterValues() const {
  return {getBeta1().convertToDouble(), getBeta2().convertToDouble(),
          getEps().convertToDouble()};
}

SmallVector<StringRef> AdamWAttr::getBiasCorrectionNames() const {
  return adamBiasCorrectionNames();
}

SmallVector<Value>
AdamWAttr::buildStepScalars(OpBuilder &builder, Location loc, Value step,
                            Value lr, Value weightDecay, ValueRange hyper,
                            ValueRange biasCorrections) const {
  Emitter e{builder, loc};
  SmallVector<Value> scalars = adamScalars(e, hyper, step, lr, biasCorrections);
  scalars.push_back(e.sub(e.f64(1.0), e.mul(lr, weightDecay)));
  return scalars;
}

SmallVector<Value> AdamWAttr::buildElementUpdate(OpBuilder &builder,
                                                 Location loc, ValueRange s,
                                                 Value param, Value grad,
                                                 ValueRange moments) const {
  Emitter e{builder, loc};
  Value decayed = e.mul(param, s[7]);
  return adamUpdate(e, s, getAmsgrad(), decayed, grad, moments);
}

//===----------------------------------------------------------------------===//
// Lion
//===----------------------------------------------------------------------===//

SmallVector<StringRef> LionAttr::getMomentNames() const { return {"exp_avg"}; }

SmallVector<StringRef> LionAttr::getHyperparameterNames() const {
  return {"beta1", "beta2"};
}

SmallVector<double> LionAttr::getHyperparameterValues() const {
  return {getBeta1().convertToDouble(), getBeta2().convertToDouble()};
}

SmallVector<StringRef> LionAttr::getBiasCorrectionNames() const { return {}; }

SmallVector<Value> LionAttr::buildStepScalars(OpBuilder &builder, Location loc,
                                              Value, Value lr,
                                              Value weightDecay,
                                              ValueRange hyper,
                                              ValueRange) const {
  Emitter e{builder, loc};
  Value decay = e.sub(e.f64(1.0), e.mul(lr, weightDecay));
  Value beta1 = hyper[0], beta2 = hyper[1];
  return {lr,    decay,
          beta1, e.sub(e.f64(1.0), beta1),
          beta2, e.sub(e.f64(1.0), beta2)};
}

SmallVector<Value> LionAttr::buildElementUpdate(OpBuilder &builder,
                                                Location loc, ValueRange s,
                                                Value param, Value grad,
                                                ValueRange moments) const {
  Emitter e{builder, loc};
  Value lr = s[0], decay = s[1], beta1 = s[2], oneMinusBeta1 = s[3],
        beta2 = s[4], oneMinusBeta2 = s[5];
  Value mix = e.axpby(beta1, moments[0], oneMinusBeta1, grad);
  // sign(mix): +-1, and mix itself for zeros and NaN.
  Type type = mix.getType();
  Value zero = buildFloatConstant(builder, loc, type, 0.0);
  Value positive =
      arith::CmpFOp::create(builder, loc, arith::CmpFPredicate::OGT, mix, zero);
  Value negative =
      arith::CmpFOp::create(builder, loc, arith::CmpFPredicate::OLT, mix, zero);
  Value sign = arith::SelectOp::create(
      builder, loc, positive, buildFloatConstant(builder, loc, type, 1.0),
      arith::SelectOp::create(builder, loc, negative,
                              buildFloatConstant(builder, loc, type, -1.0),
                              mix));
  Value newParam = e.sub(e.mul(param, decay), e.mul(lr, sign));
  Value expAvg = e.axpby(beta2, moments[0], oneMinusBeta2, grad);
  return {newParam, expAvg};
}
