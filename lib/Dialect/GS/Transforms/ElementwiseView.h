//===- ElementwiseView.h - Element-wise expression view of IR ---*- C++ -*-===//
//
// Graph compilers write one element-wise formula in many ways: one
// linalg op per operation, fused linalg.generics, arith / math ops on scalars
// or tensors, constants as splats, scalars, fills or broadcasts. This view
// sees all of them as one expression tree over "leaves" (function arguments,
// results of ops that are not element-wise), so the optimizer recognizers can
// be written once. Values inside a linalg body are followed to the operands
// they come from; ops that are not element-wise (reductions, transposes,
// index-dependent bodies) are leaves, never looked into.
//
//===----------------------------------------------------------------------===//

#ifndef GS_LIB_DIALECT_GS_TRANSFORMS_ELEMENTWISEVIEW_H
#define GS_LIB_DIALECT_GS_TRANSFORMS_ELEMENTWISEVIEW_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/DenseMap.h"

namespace mlir::linalg {
class LinalgOp;
} // namespace mlir::linalg

namespace mlir::gs::matchers {

enum class ExprKind {
  Leaf,     // not looked into: `value` is an outer value or an unknown op
  Constant, // `constant`
  Add,
  Sub,
  Mul,
  Div,
  Neg,
  Sqrt,
  Max,
  Min,
  Pow,      // base, exponent (powf or fpowi)
  Select,   // condition, true value, false value
  CmpF,     // `predicate`, lhs, rhs
  IntToFP,  // sitofp / uitofp
  CopySign, // magnitude, sign
  Abs,
};

/// One node of the element-wise view.
struct Expr {
  ExprKind kind = ExprKind::Leaf;
  /// The value the node stands for; for leaves the value outside any linalg
  /// body when there is one.
  Value value;
  SmallVector<Value, 3> operands;
  double constant = 0;
  arith::CmpFPredicate predicate = arith::CmpFPredicate::AlwaysFalse;
};

/// A linalg op computes each result element from the operands' elements at
/// the same position (identity maps) or from 0-d / scalar operands (maps
/// without results), without looking at the position itself.
bool isElementwiseLinalg(linalg::LinalgOp op);

/// A scalar or 0-d tensor value that exists outside linalg bodies.
bool isOuterScalar(Value value);

/// Views `value` as an expression node, looking through casts between float
/// types, fills, 0-d broadcasts, 0-d extracts and element-wise linalg ops.
Expr viewExpr(Value value);

/// True when `value` is the same for every element: constants, scalar and
/// 0-d tensor leaves defined outside linalg bodies, and ops on those.
bool isUniform(Value value);

/// The value of a uniform expression made of constants only.
std::optional<double> evalConstant(Value value);

/// While alive, remembers evalConstant's answers: a global norm is a sum of
/// a thousand terms, and each question about a factor that reads it (is it
/// a constant?) would walk all of them again, once per parameter. The IR
/// the remembered values belong to must not change while it is alive.
class ConstantCache {
public:
  ConstantCache();
  ~ConstantCache();
  ConstantCache(const ConstantCache &) = delete;
  ConstantCache &operator=(const ConstantCache &) = delete;

  DenseMap<Value, std::optional<double>> values;

private:
  ConstantCache *outer;
};

/// The leaf `value` stands for, or a null value when it is not a leaf.
Value getLeaf(Value value);

/// True when `a` and `b` are the same leaf or the same constant.
bool sameAtom(Value a, Value b);

/// A product `coeff * prod(num) / prod(den)` flattened through mul, div, neg
/// and x^2; constant factors are folded into `coeff`.
struct Product {
  double coeff = 1.0;
  SmallVector<Value> num, den;
  /// Splits the factors into uniform (`scalar`) and element-wise ones.
  Product uniformPart() const;
  Product elementPart() const;
  bool empty() const { return num.empty() && den.empty(); }
};
Product flattenProduct(Value value);

/// A sum flattened through add, sub and neg: `sum(sign_i * term_i)`.
struct Term {
  double sign;
  Value value;
};
SmallVector<Term> flattenSum(Value value);

/// `a / b` as multisets of atoms (see `sameAtom`); failure when `b`'s
/// factors are not all in `a`.
FailureOr<Product> divideProducts(const Product &a, const Product &b);

/// True when both products have the same atoms and coefficients (relative
/// tolerance for f32 constants).
bool equalProducts(const Product &a, const Product &b);

/// Approximate equality of coefficients written as f32 constants.
bool nearlyEqual(double a, double b);

/// Recovers the decimal a low-precision constant was written as (0.9f is
/// 0.899999976...; the attribute should say 0.9).
double recoverDecimal(double f32Value);

/// `value` rounded to 15 significant digits, so that coefficients derived
/// from constants (1 - 0.9) read as written (0.1).
double roundDecimal(double value);

//===----------------------------------------------------------------------===//
// Emitting matched uniform values (ElementwiseMaterialize.cpp)
//===----------------------------------------------------------------------===//

/// Emits `value`, a uniform expression, as an f64 scalar at the builder's
/// insertion point; null when it contains something that cannot be emitted.
Value materializeF64(OpBuilder &builder, Location loc, Value value);
Value materializeF64(OpBuilder &builder, Location loc, const Product &product);

/// The scalar or 0-d tensor outside linalg bodies that the uniform `value`
/// reads, through linalg body arguments, element-wise linalg ops (0-d
/// generics, broadcasts, fills), splats and float casts; null when `value`
/// is computed inside a linalg body.
Value findOuterScalar(Value value);

/// Emits the source's own value of the uniform `value` as an f64 scalar:
/// its findOuterScalar when there is one (the value the graph computed, by
/// whatever ops), else materializeF64 of its expression; null when neither
/// works. canMaterializeSourceF64 checks without building.
Value materializeSourceF64(OpBuilder &builder, Location loc, Value value);
bool canMaterializeSourceF64(Value value);

/// Emits an i1 condition (a comparison of uniform values, or an outer i1);
/// null when it cannot.
Value materializeCondition(OpBuilder &builder, Location loc, Value cond);
bool canMaterializeCondition(Value cond);

/// True when materializeF64 succeeds on `value` / `product` (checked without
/// building anything, so analyses can reject what they could not emit).
bool canMaterializeF64(Value value);
bool canMaterializeF64(const Product &product);

} // namespace mlir::gs::matchers

#endif // GS_LIB_DIALECT_GS_TRANSFORMS_ELEMENTWISEVIEW_H
