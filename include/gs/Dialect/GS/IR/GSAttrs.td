//===- GSAttrs.td - GradientStabilizer attributes ----------*- tablegen -*-===//

#ifndef GS_ATTRS_TD
#define GS_ATTRS_TD

include "gs/Dialect/GS/IR/GSDialect.td"
include "gs/Dialect/GS/IR/GSEnums.td"
include "gs/Dialect/GS/IR/GSInterfaces.td"
include "mlir/IR/AttrTypeBase.td"

// Hyperparameters are f64 values and bools, printed as `name = value` and
// omitted when they hold their default.
class GS_F64Parameter<string default, string desc>
    : APFloatParameter<desc> {
  let defaultValue = "::llvm::APFloat(" # default # ")";
  let parser = "::mlir::gs::parseF64Parameter($_parser)";
  let printer = "::mlir::gs::printF64Parameter($_printer, $_self)";
}

class GS_BoolParameter<string default, string desc>
    : AttrOrTypeParameter<"bool", desc> {
  let defaultValue = default;
  let parser = "::mlir::gs::parseBoolParameter($_parser)";
  let printer = "$_printer << ($_self ? \"true\" : \"false\")";
}

class GS_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<GS_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def GS_NonFinitePolicyAttr
    : EnumAttr<GS_Dialect, GS_NonFinitePolicy, "nonfinite"> {
  let summary = "policy for a parameter whose gradient norm is NaN or Inf";
  let description = [{
    `skip` leaves the parameter and its optimizer state unchanged; `zero`
    steps the optimizer with a zero gradient; `passthrough` steps it with the
    raw gradient (the original library). In every case `skipped` counts the
    event and no NaN or Inf reaches `m` or `v`.
  }];
}

def GS_StepPhaseAttr : EnumAttr<GS_Dialect, GS_StepPhase, "phase"> {
  let summary = "the part of a multi-tensor step an op runs";
  // #gs.phase<norms>
  let assemblyFormat = "`<` $value `>`";
  let description = [{
    `norms` writes each chunk's sum of squares, `scalars` turns them into
    norms and runs the per-tensor GS and optimizer scalar math, `update`
    applies the element update; `all` runs the three in order. A runtime
    that splits a step runs `norms` and `update` on several workers (CPU
    threads) and may reduce the norms across processes in between.
  }];
}

def GS_StabilizerAttr : GS_Attr<"Stabilizer", "stabilizer"> {
  let summary = "GradientStabilizer hyperparameters";
  let description = [{
    The hyperparameters of the gradient transform. Every field is optional
    and defaults to the spec's value:

    ```mlir
    #gs.stabilizer<>                               // gamma1 = 0.6, gamma2 = 0.999
    #gs.stabilizer<gamma1 = 0.5, bias_correction = false,
                   on_nonfinite = zero>
    ```

    `gamma1` and `gamma2` must lie in [0, 1) and `eps` must be >= 0. With
    `gamma1^2 >= gamma2` the stabilized norm has no uniform bound; ops using
    such a configuration get a warning.
  }];
  let parameters = (ins
    GS_F64Parameter<"0.6", "EMA coefficient of the gradient norm">:$gamma1,
    GS_F64Parameter<"0.999",
                    "EMA coefficient of the squared gradient norm">:$gamma2,
    GS_F64Parameter<"1e-12", "added to sqrt(v_hat) in the magnitude">:$eps,
    GS_BoolParameter<"true", "Adam-style bias correction">:$bias_correction,
    DefaultValuedParameter<"::mlir::gs::NonFinitePolicy",
                           "::mlir::gs::NonFinitePolicy::Skip",
                           "non-finite gradient policy">:$on_nonfinite
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The spec's defaults: gamma1 = 0.6, gamma2 = 0.999, eps = 1e-12,
    /// bias correction on, non-finite gradients skipped.
    static StabilizerAttr getDefault(::mlir::MLIRContext *context);
    /// True when gamma1^2 < gamma2, i.e. the stabilized norm is bounded.
    bool hasUniformBound() const {
      double gamma1 = getGamma1().convertToDouble();
      return gamma1 * gamma1 < getGamma2().convertToDouble();
    }
    /// gamma1, gamma2 and eps as f64 constants.
    StabilizerHyperparameters
    buildHyperparameterConstants(::mlir::OpBuilder &builder,
                                 ::mlir::Location loc) const;
    /// Emits the f64 / i64 scalar math of one GS step (spec section 1) for
    /// a tensor with gradient norm `norm` and state `m, v, k, skipped`.
    /// `hyperparameters` are constants or run-time values; only
    /// `bias_correction` and `on_nonfinite` are taken from the attribute.
    /// Shared by every lowering so all targets agree bit for bit.
    StabilizerUpdate buildUpdate(::mlir::OpBuilder &builder,
                                 ::mlir::Location loc,
                                 const StabilizerHyperparameters &hyperparameters,
                                 ::mlir::Value norm, ::mlir::Value m,
                                 ::mlir::Value v, ::mlir::Value k,
                                 ::mlir::Value skipped) const;
    /// buildUpdate with the attribute's own gamma1, gamma2 and eps.
    StabilizerUpdate buildUpdate(::mlir::OpBuilder &builder,
                                 ::mlir::Location loc, ::mlir::Value norm,
                                 ::mlir::Value m, ::mlir::Value v,
                                 ::mlir::Value k, ::mlir::Value skipped) const {
      return buildUpdate(builder, loc,
                         buildHyperparameterConstants(builder, loc), norm, m,
                         v, k, skipped);
    }
  }];
}

class GS_OptimizerAttr<string name, string attrMnemonic>
    : GS_Attr<name, attrMnemonic, [
        DeclareAttrInterfaceMethods<GS_OptimizerAttrInterface>]> {
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

def GS_SGDAttr : GS_OptimizerAttr<"SGD", "sgd"> {
  let summary = "SGD with optional momentum, dampening and Nesterov";
  let description = [{
    `torch.optim.SGD`: `d = g + wd*p`; with momentum `b = d` on the first
    step, else `b = momentum*b + (1-dampening)*d`; `d = d + momentum*b` with
    Nesterov, else `d = b`; `p = p - lr*d`.

    Moments: `momentum_buffer` when `momentum != 0`, else none.

    ```mlir
    #gs.sgd<momentum = 0.9, nesterov = true>
    ```
  }];
  let parameters = (ins
    GS_F64Parameter<"0.0", "momentum factor">:$momentum,
    GS_F64Parameter<"0.0", "dampening of the momentum">:$dampening,
    GS_BoolParameter<"false", "Nesterov momentum">:$nesterov
  );
}

class GS_AdamAttrBase<string name, string attrMnemonic>
    : GS_OptimizerAttr<name, attrMnemonic> {
  let parameters = (ins
    GS_F64Parameter<"0.9", "EMA coefficient of the gradient">:$beta1,
    GS_F64Parameter<"0.999", "EMA coefficient of the squared gradient">:$beta2,
    GS_F64Parameter<"1e-8", "added to the denominator">:$eps,
    GS_BoolParameter<"false", "keep the maximum of the second moment">:$amsgrad
  );
}

def GS_AdamAttr : GS_AdamAttrBase<"Adam", "adam"> {
  let summary = "Adam with L2 weight decay";
  let description = [{
    `torch.optim.Adam`: `d = g + wd*p`; `m1 = beta1*m1 + (1-beta1)*d`;
    `m2 = beta2*m2 + (1-beta2)*d*d`;
    `p = p - (lr/(1-beta1^t)) * m1 / (sqrt(m2)/sqrt(1-beta2^t) + eps)`.

    Moments: `exp_avg`, `exp_avg_sq`, and `max_exp_avg_sq` with `amsgrad`.

    ```mlir
    #gs.adam<beta2 = 0.95, amsgrad = true>
    ```
  }];
}

def GS_AdamWAttr : GS_AdamAttrBase<"AdamW", "adamw"> {
  let summary = "Adam with decoupled weight decay";
  let description = [{
    `torch.optim.AdamW`: as `#gs.adam`, but `p = p*(1 - lr*wd)` first and
    `d = g`.

    Moments: `exp_avg`, `exp_avg_sq`, and `max_exp_avg_sq` with `amsgrad`.

    ```mlir
    #gs.adamw<>
    ```
  }];
}

def GS_LionAttr : GS_OptimizerAttr<"Lion", "lion"> {
  let summary = "Lion (EvoLved Sign Momentum)";
  let description = [{
    `u = sign(beta1*m1 + (1-beta1)*g)`; `p = p*(1-lr*wd) - lr*u`;
    `m1 = beta2*m1 + (1-beta2)*g`.

    Moments: `exp_avg`.

    ```mlir
    #gs.lion<beta1 = 0.95, beta2 = 0.98>
    ```
  }];
  let parameters = (ins
    GS_F64Parameter<"0.9", "interpolation of the update direction">:$beta1,
    GS_F64Parameter<"0.99", "EMA coefficient of the momentum">:$beta2
  );
}

#endif // GS_ATTRS_TD
