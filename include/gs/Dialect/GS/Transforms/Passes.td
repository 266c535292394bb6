//===- Passes.td - gs dialect transformations --------------*- tablegen -*-===//

#ifndef GS_DIALECT_GS_TRANSFORMS_PASSES_TD
#define GS_DIALECT_GS_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def GSInjectStabilization
    : Pass<"gs-inject-stabilization", "::mlir::ModuleOp"> {
  let summary = "Raise optimizer updates in upstream IR to gs ops and "
                "stabilize their gradients";
  let description = [{
    Finds the optimizer updates that graph compilers (torch-mlir, IREE,
    XLA-style pipelines) emit as `func` + `linalg` + `arith` / `math` on
    tensors, raises each to `gs.grad_norm` + `gs.stabilize` +
    `gs.optimizer_step`, and makes the GradientStabilizer state explicit.

    An update is found from a function result: the new value of a parameter
    (a function argument), written element-wise, one op per operation or fused
    into `linalg.generic`s. Recognized: SGD (weight decay, momentum,
    dampening, Nesterov), Adam and AdamW (L2 or decoupled weight decay,
    amsgrad, torch's `lerp` / `addcmul` forms, bias corrections from a step
    counter or as values), and Lion. Operand order of `addf` / `mulf`, constants as
    scalars, splats, `linalg.fill` or broadcasts, and `lr` / `weight_decay`
    as constants, scalar or 0-d tensor arguments are all accepted. A
    per-tensor or global clip-by-norm in front of the update is replaced by
    the stabilizer (`clip=replace`) or kept (`clip=keep`).

    Optimizer hyperparameters (betas, momentum, eps, ...) must be
    compile-time constants: they become the `gs` optimizer attribute. `lr`
    and `weight_decay` stay run-time values.

    GS state becomes function arguments and results, appended after the
    existing ones, one group per rewritten update in the order of the
    updated parameters' results: `stats: tensor<2xf64>`,
    `counts: tensor<2xi64>` and, for SGD with momentum only (the source has
    no step counter, and the first step sets the buffer to the gradient),
    `step: tensor<i64>`. Each carries `gs.state` (`"stats"`, `"counts"`,
    `"step"`) and `gs.param` (the index of the parameter argument). Adam's
    step counter is taken from the source IR: the bias correction's
    exponent `t + 1` (or an argument `t`, the count after the step) maps to
    the gs step count `t` (count before the step). Bias corrections that are
    not `1 - beta^t` of such a counter (precomputed arguments or 0-d
    operands, optax's `safe_increment` counter, run-time betas) are passed
    to the step as they are (`bias_corrections`): the source's own values,
    read where the function computes them. Under `on-nonfinite=skip` a
    returned counter they are computed from (`t + 1`, optax's
    `safe_increment`) keeps its old value on a skipped step.

    Anything not recognized is left untouched; with `explain` each candidate
    result that was not rewritten gets a remark saying why.

    ```mlir
    func.func @sgd(%p: tensor<64xf32>, %g: tensor<64xf32>) -> tensor<64xf32> {
      %lr = arith.constant dense<0.01> : tensor<64xf32>
      %e = tensor.empty() : tensor<64xf32>
      %u = linalg.mul ins(%lr, %g : tensor<64xf32>, tensor<64xf32>)
                      outs(%e : tensor<64xf32>) -> tensor<64xf32>
      %r = linalg.sub ins(%p, %u : tensor<64xf32>, tensor<64xf32>)
                      outs(%e : tensor<64xf32>) -> tensor<64xf32>
      return %r : tensor<64xf32>
    }
    ```
    becomes a function taking and returning `stats`, `counts` after the
    update, computing `gs.grad_norm`, `gs.stabilize` and
    `gs.optimizer_step #gs.sgd<>` on `%g` (`gs-form-group-steps` then raises
    the chain to a `gs.group_step`).
  }];
  let options = [
    ListOption<"gradNames", "grad-names", "std::string",
               "Stabilize only gradients whose argument has one of these "
               "names (a `gs.name` string attribute or a name location)">,
    Option<"gradAttr", "grad-attr", "std::string", /*default=*/"\"\"",
           "Stabilize only gradients whose argument carries this attribute">,
    Option<"clip", "clip", "std::string", /*default=*/"\"replace\"",
           "An existing clip-by-norm: `replace` it by the stabilizer or "
           "`keep` it in front of the stabilizer">,
    Option<"gamma1", "gamma1", "double", /*default=*/"0.6",
           "EMA coefficient of the gradient norm">,
    Option<"gamma2", "gamma2", "double", /*default=*/"0.999",
           "EMA coefficient of the squared gradient norm">,
    Option<"eps", "eps", "double", /*default=*/"1e-12",
           "Added to sqrt(v_hat)">,
    Option<"biasCorrection", "bias-correction", "bool", /*default=*/"true",
           "Bias-correct the norm EMAs">,
    Option<"onNonfinite", "on-nonfinite", "std::string",
           /*default=*/"\"skip\"",
           "Policy for non-finite gradients: skip, zero or passthrough">,
    Option<"explain", "explain", "bool", /*default=*/"false",
           "Emit a remark at every candidate update that is not rewritten">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::gs::GSDialect",
    "::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect"
  ];
}

def GSStabilizeGradients
    : Pass<"gs-stabilize-gradients", "::mlir::ModuleOp"> {
  let summary = "Stabilize the gradients of any optimizer update in upstream "
                "IR (gradient-level injection)";
  let description = [{
    Gradient-level GradientStabilizer for optimizers no recognizer knows
    (Adagrad, RMSprop, Adamax, Adafactor-style, ...) and updates the
    recognizers do not take: the foreign update stays as it is and only its
    gradient is replaced by `gs.stabilize(g, gs.grad_norm(g))`.

    Which values are gradients:
    - `grad-names`: function arguments with one of these names. An
      argument's name is its `gs.name` string attribute, else its name
      location (`loc("name")`, what torch-mlir and IREE importers keep).
    - `grad-attr`: function arguments carrying this (unit or any) attribute.
    - neither given (automatic): for every returned parameter update
      `p_new = p*c - f(g, ...)` (a function argument `p` of the result's
      type in a positive term of its own, whose new value no other result
      reads), the one tensor of `p`'s shape it combines element-wise with `p`
      that is not itself carried state; an argument or the result of an op
      that is not element-wise. Ambiguous cases (SGD with momentum and Lion,
      where the gradient and the buffer enter symmetrically) get an
      `explain` remark and need `grad-names` / `grad-attr`.

    Every use of the gradient by the parameter's update and by its state
    updates (results whose value the update reads, whose old value it
    reads, or that read the gradient) is rewired to the stabilized
    gradient; uses elsewhere keep the raw gradient. A clip-by-norm applied
    to the gradient (torch's `g * min(1, c/(norm+1e-6))`, TF's
    `g * c / max(norm, c)` and `g * c * min(1/norm, 1/c)`, optax's
    `select(norm < c, g, g / norm * c)`; `c` may be a run-time value) is
    removed (`clip=replace`) or applied before the stabilizer
    (`clip=keep`).

    Per stabilized gradient the function gets two arguments and results,
    appended after the existing ones in the order of the parameters'
    results: `stats: tensor<2xf64>` and `counts: tensor<2xi64>`, both with
    `gs.state` and `gs.param` (the parameter's argument index), as
    `gs-inject-stabilization` adds them. Under `on-nonfinite=skip` every
    state result of the parameter (its new value, the foreign moments, a
    foreign step counter: a scalar or 0-d result computed from one argument
    of its type) is selected back to its old value when the step is
    skipped; a counter shared by several parameters advances when at least
    one of them stepped.

    Analysis runs on every function before anything is rewritten: a
    `grad-names` / `grad-attr` gradient that is absent, not a gradient, or
    whose uses cannot be rewired is an error naming it and the module is
    left unchanged; in automatic mode what cannot be handled gets a remark
    under `explain`. Gradients that already feed `gs.grad_norm` /
    `gs.stabilize` (from `gs-inject-stabilization`) are left alone, so the
    two passes compose.
  }];
  let options = [
    ListOption<"gradNames", "grad-names", "std::string",
               "Stabilize the function arguments with these names (a "
               "`gs.name` string attribute or a name location)">,
    Option<"gradAttr", "grad-attr", "std::string", /*default=*/"\"\"",
           "Stabilize the function arguments carrying this attribute">,
    Option<"clip", "clip", "std::string", /*default=*/"\"replace\"",
           "An existing clip-by-norm: `replace` it by the stabilizer or "
           "`keep` it in front of the stabilizer">,
    Option<"gamma1", "gamma1", "double", /*default=*/"0.6",
           "EMA coefficient of the gradient norm">,
    Option<"gamma2", "gamma2", "double", /*default=*/"0.999",
           "EMA coefficient of the squared gradient norm">,
    Option<"eps", "eps", "double", /*default=*/"1e-12",
           "Added to sqrt(v_hat)">,
    Option<"biasCorrection", "bias-correction", "bool", /*default=*/"true",
           "Bias-correct the norm EMAs">,
    Option<"onNonfinite", "on-nonfinite", "std::string",
           /*default=*/"\"skip\"",
           "Policy for non-finite gradients: skip, zero or passthrough">,
    Option<"explain", "explain", "bool", /*default=*/"false",
           "Emit a remark at every update that is not stabilized">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::gs::GSDialect",
    "::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect"
  ];
}

def GSFormGroupSteps : Pass<"gs-form-group-steps", "::mlir::func::FuncOp"> {
  let summary = "Raise per-tensor gs chains to gs.group_step";
  let description = [{
    Raises each `gs.grad_norm` -> `gs.stabilize` -> `gs.optimizer_step`
    chain of one tensor (the norm and the stabilized gradient used only by
    the chain, the new GS state not read before the step, the step gated
    by `step_ok` under `skip`) to one `gs.group_step` of that tensor, with
    its state reshaped to a group of one. An optimization of the gs
    abstraction, not a canonicalization: a host pipeline's `canonicalize`
    never raises the level of the IR. `gs-inject` runs it after injection,
    before `gs-fuse-updates` merges the groups.
  }];
  let dependentDialects = ["::mlir::tensor::TensorDialect"];
}

def GSFuseUpdates : Pass<"gs-fuse-updates", "::mlir::func::FuncOp"> {
  let summary = "Merge the gs.group_steps of one step into fused groups";
  let description = [{
    Horizontal fusion: `gs.group_step`s in one block that share the
    optimizer attribute, the stabilizer configuration, the `lr`,
    `weight_decay` and `bias_corrections` values and `inv_scale` /
    `found_inf` become one `gs.group_step`, so one kernel launch updates
    all of their tensors.
    Their `stats`, `counts` and `steps` rows are packed with
    `tensor.insert_slice` and unpacked with `tensor.extract_slice`.

    By default only tensors of one element type are grouped (one kernel per
    element type); `mixed-types` groups f32, f16 and bf16 tensors together.

    ```mlir
    %a:5 = gs.group_step #gs.sgd<momentum = 0.9> params(%p0 : tensor<8xf32>) ...
    %b:5 = gs.group_step #gs.sgd<momentum = 0.9> params(%p1 : tensor<4xf32>) ...
    ```
    becomes one `gs.group_step` over `%p0, %p1` with `tensor<2x2xf64>`
    stats.
  }];
  let options = [
    Option<"mixedTypes", "mixed-types", "bool", /*default=*/"false",
           "Group tensors of different element types together">,
  ];
  let dependentDialects = ["::mlir::tensor::TensorDialect"];
}

#endif // GS_DIALECT_GS_TRANSFORMS_PASSES_TD
