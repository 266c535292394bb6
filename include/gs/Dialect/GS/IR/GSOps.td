//===- GSOps.td - GradientStabilizer operations ------------*- tablegen -*-===//

#ifndef GS_OPS_TD
#define GS_OPS_TD

include "gs/Dialect/GS/IR/GSAttrs.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Type constraints
//===----------------------------------------------------------------------===//

// Parameters, gradients and moments: statically shaped, f32 / f16 / bf16.
def GS_FloatTensor : StaticShapeTensorOf<[F32, F16, BF16]>;

// A tensor of one fixed shape and element type (GS state, scalars), so the
// assembly format can infer it.
class GS_FixedTensor<string eltPred, string eltType, string shape,
                     string desc>
    : Type<And<[
        CPred<"::llvm::isa<::mlir::RankedTensorType>($_self)">,
        CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).getShape() == "
              "::llvm::ArrayRef<int64_t>({" # shape # "})">,
        CPred<"::llvm::cast<::mlir::RankedTensorType>($_self)"
              ".getElementType()." # eltPred>]>,
      desc, "::mlir::RankedTensorType">,
      BuildableType<"::mlir::RankedTensorType::get(::llvm::ArrayRef<int64_t>({"
                    # shape # "}), $_builder.get" # eltType # "Type())">;

def GS_StatsTensor
    : GS_FixedTensor<"isF64()", "F64", "2", "tensor<2xf64> ([m, v])">;
def GS_CountsTensor : GS_FixedTensor<"isSignlessInteger(64)", "I64", "2",
                                     "tensor<2xi64> ([k, skipped])">;
def GS_StepTensor : GS_FixedTensor<"isSignlessInteger(64)", "I64", "",
                                   "tensor<i64> (step count)">;
def GS_ScalarF32Tensor
    : GS_FixedTensor<"isF32()", "F32", "", "tensor<f32>">;

def GS_GroupStatsTensor : 2DTensorOf<[F64]>;
def GS_GroupCountsTensor : 2DTensorOf<[I64]>;
def GS_GroupStepsTensor : 1DTensorOf<[I64]>;

class GS_Op<string mnemonic, list<Trait> traits = []>
    : Op<GS_Dialect, mnemonic, traits>;

//===----------------------------------------------------------------------===//
// gs.grad_norm
//===----------------------------------------------------------------------===//

def GS_GradNormOp : GS_Op<"grad_norm", [Pure]> {
  let summary = "L2 norm of a gradient tensor, in f64";
  let description = [{
    Computes `||grad||_2` as an f64. Lowerings accumulate it so that it
    neither overflows nor underflows for any finite input (every element at
    the largest f32, or at 1e-30); the relative error is at most 1e-6. A NaN
    or Inf element gives a NaN or Inf norm.

    The op is pure: two norms of the same gradient are one after CSE.

    ```mlir
    %n = gs.grad_norm %g : tensor<1024x768xbf16>
    ```
  }];
  let arguments = (ins GS_FloatTensor:$grad);
  let results = (outs F64:$norm);
  let assemblyFormat = "$grad attr-dict `:` type($grad)";
  let hasFolder = 1;
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// gs.stabilize
//===----------------------------------------------------------------------===//

def GS_StabilizeOp : GS_Op<"stabilize", [
    Pure, AllTypesMatch<["grad", "stabilized"]>]> {
  let summary = "GradientStabilizer transform of one gradient tensor";
  let description = [{
    Rescales `grad` to the stabilized magnitude, keeping its direction, and
    returns the new GS state. `norm` is `||grad||_2` (from `gs.grad_norm`).
    With `n = norm`:

    - `n` NaN or Inf: `skipped += 1`, `m, v, k` unchanged; `stabilized` is
      `grad` (`skip`, `passthrough`) or zero (`zero`); `step_ok` is false
      under `skip`, telling the optimizer not to step.
    - `n == 0`: `skipped += 1`, `stabilized = grad`, state otherwise
      unchanged.
    - otherwise `k += 1`, `m = gamma1*m + (1-gamma1)*n`,
      `v = gamma2*v + (1-gamma2)*n*n`, `c = mh / (sqrt(vh) + eps)` with the
      bias-corrected `mh, vh`, and `stabilized = grad * (c/n)`.

    Scalar arithmetic is f64; the product is done in f32, the factor `c/n`
    rounded once to f32 (or, where `c/n` exceeds f32's range, as it does for
    entirely subnormal gradients, split into an exact power of two and the
    rest); the result is rounded to `grad`'s element type.

    ```mlir
    %n = gs.grad_norm %g : tensor<64xf32>
    %gt, %stats1, %counts1, %ok = gs.stabilize #gs.stabilizer<gamma1 = 0.5>
        %g, %n, %stats, %counts : tensor<64xf32>
    ```
  }];
  let arguments = (ins GS_FloatTensor:$grad, F64:$norm,
                       GS_StatsTensor:$stats, GS_CountsTensor:$counts,
                       OptionalAttr<GS_StabilizerAttr>:$config);
  let results = (outs GS_FloatTensor:$stabilized, GS_StatsTensor:$new_stats,
                      GS_CountsTensor:$new_counts, I1:$step_ok);
  let assemblyFormat = [{
    (qualified($config)^)? $grad `,` $norm `,` $stats `,` $counts attr-dict
    `:` type($grad)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The configuration, with the spec's defaults when none is given.
    StabilizerAttr getStabilizer();
  }];
}

//===----------------------------------------------------------------------===//
// gs.optimizer_step
//===----------------------------------------------------------------------===//

def GS_OptimizerStepOp : GS_Op<"optimizer_step", [
    Pure, AttrSizedOperandSegments,
    AllTypesMatch<["param", "grad", "new_param"]>,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "one optimizer step of one parameter tensor";
  let description = [{
    Applies the update of `optimizer` (an attribute implementing
    `OptimizerAttrInterface`: `#gs.sgd`, `#gs.adam`, `#gs.adamw`, `#gs.lion`)
    to `param` with gradient `grad`. `moments` are the optimizer's state
    tensors in the order the attribute names them, each of the parameter's
    type. `step` is the optimizer's step count (PyTorch's `state['step']`)
    before this step; the new count is `step + 1`. `lr` and `weight_decay`
    are run-time values, so schedulers need no recompilation.

    When `enabled` is given and false (see `gs.stabilize`'s `step_ok`),
    everything is returned unchanged and the step count does not advance.

    `bias_corrections` (optional, f64, only for optimizers with bias
    correction: Adam's `1 - beta1^t` and `1 - beta2^t`) are used as given
    instead of being computed from `step`: graph compilers compute them in
    the graph (or take them from the host) and hand them over as values.
    The step count still advances as above.

    Element arithmetic is f32; f16 / bf16 values are widened and the results
    rounded back.

    ```mlir
    %p1, %m1:2, %t1 = gs.optimizer_step #gs.adamw<>
        param(%p : tensor<64xf32>) grad(%g)
        moments(%exp_avg, %exp_avg_sq : tensor<64xf32>, tensor<64xf32>)
        step(%t) lr(%lr) weight_decay(%wd)
    ```
  }];
  let arguments = (ins GS_OptimizerAttrInterface:$optimizer,
                       GS_FloatTensor:$param, GS_FloatTensor:$grad,
                       Variadic<GS_FloatTensor>:$moments,
                       GS_StepTensor:$step, F64:$lr, F64:$weight_decay,
                       Variadic<F64>:$bias_corrections,
                       Optional<I1>:$enabled);
  let results = (outs GS_FloatTensor:$new_param,
                      Variadic<GS_FloatTensor>:$new_moments,
                      GS_StepTensor:$new_step);
  let assemblyFormat = [{
    qualified($optimizer) `param` `(` $param `:` type($param) `)` `grad` `(` $grad `)`
    (`moments` `(` $moments^ `:` type($moments) `)`)?
    `step` `(` $step `)` `lr` `(` $lr `)` `weight_decay` `(` $weight_decay `)`
    (`bias_corrections` `(` $bias_corrections^ `)`)?
    (`enabled` `(` $enabled^ `)`)? attr-dict
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// gs.group_step
//===----------------------------------------------------------------------===//

def GS_GroupStepOp : GS_Op<"group_step", [
    Pure, AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<InferTypeOpInterface>]> {
  let summary = "fused stabilize-then-optimize step of a parameter group";
  let description = [{
    One training step for N parameter tensors that share an optimizer, its
    hyperparameters and `lr` / `weight_decay` (a PyTorch param group): for
    each tensor, the gradient norm, the GS transform (`gs.stabilize`) and the
    optimizer update (`gs.optimizer_step`), fused. This is the op the CPU and
    GPU kernels are generated from.

    Operands, with M the optimizer's number of moments:

    | operand | type | contents |
    |---|---|---|
    | `params` | N tensors | parameters |
    | `grads` | N tensors, each its parameter's type | gradients |
    | `moments` | N*M tensors, each its parameter's type | parameter-major: the M moments of param 0, then of param 1, ... |
    | `stats` | `tensor<Nx2xf64>` | row i: `[m, v]` of param i |
    | `counts` | `tensor<Nx2xi64>` | row i: `[k, skipped]` of param i |
    | `steps` | `tensor<Nxi64>` | optimizer step count of param i |
    | `lr`, `weight_decay` | f64 | run-time hyperparameters |
    | `bias_corrections` (optional) | f64 each | Adam's `1 - beta1^t`, `1 - beta2^t` as values |
    | `inv_scale` (optional) | `tensor<f32>` | reciprocal of the loss scale |
    | `found_inf` (optional) | `tensor<f32>` | nonzero: skip the whole step |

    Results: the new params, then the new moments (same order), then the new
    stats, counts and steps.

    `bias_corrections`, given only for optimizers with bias correction
    (`#gs.adam`, `#gs.adamw`: `bias_correction1`, `bias_correction2`), are
    the bias corrections every tensor of the group steps with, used as
    given instead of `1 - beta^t` of each tensor's step count: how
    torch.compile, IREE and optax hand an update over (the graph computes
    them, or the host does). The step counts still advance as without them.

    Mixed precision (spec section 4): gradients are used as
    `grad * inv_scale`. The whole step is skipped (everything returned
    unchanged, no counter advances) when `found_inf` is nonzero or, when
    `inv_scale` is given, when any gradient holds a NaN or Inf, as
    `torch.amp.GradScaler` does. Without `inv_scale` a non-finite gradient
    affects only its own parameter, as `on_nonfinite` says.

    ```mlir
    %r:7 = gs.group_step #gs.adamw<>
        params(%p0, %p1 : tensor<64xf32>, tensor<8x8xbf16>)
        grads(%g0, %g1 : tensor<64xf32>, tensor<8x8xbf16>)
        moments(%a0, %b0, %a1, %b1 : tensor<64xf32>, tensor<64xf32>,
                                     tensor<8x8xbf16>, tensor<8x8xbf16>)
        stats(%stats : tensor<2x2xf64>) counts(%counts : tensor<2x2xi64>)
        steps(%steps : tensor<2xi64>) lr(%lr) weight_decay(%wd)
    ```
  }];
  let arguments = (ins GS_OptimizerAttrInterface:$optimizer,
                       OptionalAttr<GS_StabilizerAttr>:$config,
                       Variadic<GS_FloatTensor>:$params,
                       Variadic<GS_FloatTensor>:$grads,
                       Variadic<GS_FloatTensor>:$moments,
                       GS_GroupStatsTensor:$stats,
                       GS_GroupCountsTensor:$counts,
                       GS_GroupStepsTensor:$steps,
                       F64:$lr, F64:$weight_decay,
                       Variadic<F64>:$bias_corrections,
                       Optional<GS_ScalarF32Tensor>:$inv_scale,
                       Optional<GS_ScalarF32Tensor>:$found_inf);
  let results = (outs Variadic<GS_FloatTensor>:$new_tensors,
                      GS_GroupStatsTensor:$new_stats,
                      GS_GroupCountsTensor:$new_counts,
                      GS_GroupStepsTensor:$new_steps);
  let assemblyFormat = [{
    qualified($optimizer) (`config` qualified($config)^)?
    `params` `(` $params `:` type($params) `)`
    `grads` `(` $grads `:` type($grads) `)`
    (`moments` `(` $moments^ `:` type($moments) `)`)?
    `stats` `(` $stats `:` type($stats) `)`
    `counts` `(` $counts `:` type($counts) `)`
    `steps` `(` $steps `:` type($steps) `)`
    `lr` `(` $lr `)` `weight_decay` `(` $weight_decay `)`
    (`bias_corrections` `(` $bias_corrections^ `)`)?
    (`inv_scale` `(` $inv_scale^ `)`)? (`found_inf` `(` $found_inf^ `)`)?
    attr-dict
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The configuration, with the spec's defaults when none is given.
    StabilizerAttr getStabilizer();
    /// Number of parameter tensors in the group.
    unsigned getNumParams() { return getParams().size(); }
    /// The new parameters (the first N results).
    ::mlir::ResultRange getNewParams() {
      return getNewTensors().take_front(getNumParams());
    }
    /// The new moments, parameter-major (the results after the params).
    ::mlir::ResultRange getNewMoments() {
      return getNewTensors().drop_front(getNumParams());
    }
    /// The moments of parameter `i`.
    ::mlir::OperandRange getMomentsOf(unsigned i);
  }];
}

//===----------------------------------------------------------------------===//
// gs.multi_tensor_step
//===----------------------------------------------------------------------===//

def GS_MultiTensorStepOp : GS_Op<"multi_tensor_step", [
    AttrSizedOperandSegments,
    MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "generic stabilize-then-optimize step over a run-time tensor table";
  let description = [{
    The step of `gs.group_step` for any number of tensors of one element
    type, with everything that varies from model to model given at run time:
    one compiled kernel serves every model, so kernels can be built ahead of
    time. It works on buffers (memrefs) and updates them in place.

    Only what changes the generated code is an attribute: the optimizer kind
    and its structural flags (`amsgrad`, `nesterov`, momentum on or off; the
    attribute's numeric hyperparameters are ignored), the stabilizer's
    `bias_correction` and `on_nonfinite` (its `gamma1`, `gamma2` and `eps`
    are ignored), `element_type`, `chunk_size`, whether `inv_scale` /
    `found_inf` are given, and whether the bias corrections are given
    (`bias_corrections`).

    Operands, with N tensors, M the optimizer's moments and H its run-time
    hyperparameters (`getHyperparameterNames`):

    | operand | type | contents |
    |---|---|---|
    | `table` | `memref<Nx(3+M)xi64>` | row t: `[numel, param, grad, moment 0, ...]`, the addresses of contiguous buffers of `element_type` (with `element_types`, one more column: the row's type index) |
    | `chunk_offsets` | `memref<(N+1)xi64>` | prefix sums of `ceil(numel / chunk_size)`: tensor t owns chunks `[co[t], co[t+1])` |
    | `hyper` | `memref<(5+H+B)xf64>` | `[lr, weight_decay, gamma1, gamma2, eps, hyperparameters..., bias corrections...]` |
    | `stats`, `counts`, `steps` | `memref<Nx2xf64>`, `memref<Nx2xi64>`, `memref<Nxi64>` | GS state and step counts, as in `gs.group_step` |
    | `partials` | `memref<?xf64>`, at least `co[N]` | scratch: one sum of squares per chunk |
    | `records` | `memref<?xf32>`, at least `N * 16` | scratch: what `scalars` leaves for `update` per tensor |
    | `inv_scale`, `found_inf` | `memref<f32>`, optional | as in `gs.group_step` |
    | `worker`, `num_workers` | `index`, optional | this worker's share of the chunks of `norms` / `update` |

    The scratch belongs to the caller, so two steps can run at once on
    different scratch. Results are bitwise the same for any number of
    workers or GPU blocks: a chunk is always summed in the same order, and a
    tensor's chunks are added in chunk order.

    `phase` selects the part that runs (`#gs.phase`): `all` (the default)
    runs `norms`, `scalars` and `update` in order on one worker; a runtime
    runs the phases separately to spread `norms` and `update` over
    `num_workers` workers, worker `w` taking chunks `w, w + num_workers, ...`.

    With `store_gradients`, `update` also writes each stepped tensor's
    stabilized gradient (the one its optimizer stepped with: unscaled, zeros
    under `on_nonfinite = zero` for a non-finite one) back into its gradient
    buffer, for frameworks that keep the gradient after the step (PyTorch's
    `p.grad`): one more store stream instead of another pass. A tensor the
    step skips keeps its gradient as it was.

    With `bias_corrections` (only for optimizers with bias correction),
    `hyper` ends with the B bias corrections (`getBiasCorrectionNames`,
    Adam's `1 - beta1^t`, `1 - beta2^t`) every tensor steps with, instead of
    `1 - beta^t` of its step count (`gs.group_step`'s `bias_corrections`);
    without it B is 0.

    With `element_types` (two or three distinct types, the first equal to
    `element_type`), rows may differ in element type: the table has one
    more column, its last, holding each row's index into `element_types`,
    and the norms and update phases pick the chunk body of that type per
    chunk (one branch per chunk, uniform across a GPU block). Scalars and
    the loss-scale decision stay one phase over the whole table. An index
    outside the list is a caller error: that row's chunks are not stepped.

    The static `gs.group_step` becomes this op when it is bufferized (its
    `BufferizableOpInterface`): one step over a table of its buffers'
    addresses, with `element_types` when the group mixes element types.

    ```mlir
    gs.multi_tensor_step #gs.adamw<> config #gs.stabilizer<on_nonfinite = zero>
        table(%table : memref<?x5xi64>) chunk_offsets(%co : memref<?xi64>)
        hyper(%hyper : memref<?xf64>)
        stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
        steps(%steps : memref<?xi64>)
        scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
        {element_type = f32, chunk_size = 16384 : i64}
    ```
  }];
  let arguments = (ins GS_OptimizerAttrInterface:$optimizer,
                       OptionalAttr<GS_StabilizerAttr>:$config,
                       TypeAttrOf<AnyTypeOf<[F32, F16, BF16]>>:$element_type,
                       ConfinedAttr<I64Attr, [IntPositive]>:$chunk_size,
                       DefaultValuedAttr<GS_StepPhaseAttr,
                                         "::mlir::gs::StepPhase::All">:$phase,
                       UnitAttr:$store_gradients,
                       UnitAttr:$bias_corrections,
                       OptionalAttr<TypeArrayAttr>:$element_types,
                       MemRefRankOf<[I64], [2]>:$table,
                       MemRefRankOf<[I64], [1]>:$chunk_offsets,
                       MemRefRankOf<[F64], [1]>:$hyper,
                       MemRefRankOf<[F64], [2]>:$stats,
                       MemRefRankOf<[I64], [2]>:$counts,
                       MemRefRankOf<[I64], [1]>:$steps,
                       MemRefRankOf<[F64], [1]>:$partials,
                       MemRefRankOf<[F32], [1]>:$records,
                       Optional<MemRefRankOf<[F32], [0]>>:$inv_scale,
                       Optional<MemRefRankOf<[F32], [0]>>:$found_inf,
                       Optional<Index>:$worker,
                       Optional<Index>:$num_workers);
  let assemblyFormat = [{
    qualified($optimizer) (`config` qualified($config)^)?
    `table` `(` $table `:` type($table) `)`
    `chunk_offsets` `(` $chunk_offsets `:` type($chunk_offsets) `)`
    `hyper` `(` $hyper `:` type($hyper) `)`
    `stats` `(` $stats `:` type($stats) `)`
    `counts` `(` $counts `:` type($counts) `)`
    `steps` `(` $steps `:` type($steps) `)`
    `scratch` `(` $partials `,` $records `:` type($partials) `,` type($records) `)`
    (`inv_scale` `(` $inv_scale^ `:` type($inv_scale) `)`)?
    (`found_inf` `(` $found_inf^ `:` type($found_inf) `)`)?
    (`workers` `(` $worker^ `,` $num_workers `)`)?
    attr-dict
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The configuration, with the spec's defaults when none is given.
    StabilizerAttr getStabilizer();
    /// Columns of `table`: numel, param, grad, the moments and, with
    /// `element_types`, each row's element type index.
    int64_t getTableWidth() {
      return 3 + getOptimizer().getNumMoments() + (getElementTypes() ? 1 : 0);
    }
    /// The column of each row's index into `element_types`.
    int64_t getElementTypeColumn() {
      return 3 + getOptimizer().getNumMoments();
    }
    /// The element types the table's rows may have: `element_types`, or
    /// `element_type` alone.
    SmallVector<Type> getRowElementTypes();
    /// f32 words of `records` per tensor: [enabled, prefactor, factor,
    /// zero_grad, optimizer step scalars...].
    static constexpr int64_t kRecordWords = 16;
    /// The chunk size gs.group_step's bufferization and the prebuilt
    /// kernels use: 64 KiB of f32, enough to amortize a chunk's bookkeeping
    /// and small enough to balance work over threads and blocks.
    static constexpr int64_t kDefaultChunkSize = 16384;
    /// Entries of `hyper`: lr, weight_decay, gamma1, gamma2, eps, the
    /// optimizer's hyperparameters and, with `bias_corrections`, its bias
    /// corrections.
    int64_t getHyperSize() {
      OptimizerAttrInterface optimizer = getOptimizer();
      return 5 + optimizer.getNumHyperparameters() +
             (getBiasCorrections() ? optimizer.getNumBiasCorrections() : 0);
    }
  }];
}

//===----------------------------------------------------------------------===//
// gs.view_address
//===----------------------------------------------------------------------===//

def GS_ViewAddressOp : GS_Op<"view_address", [Pure]> {
  let summary = "a 1-D buffer view of a run-time address";
  let description = [{
    Views the `length` contiguous elements at byte address `address` (an
    `i64`, e.g. an entry of a `gs.multi_tensor_step` table) as a
    `memref<?xT>` with an identity layout, in the result's memory space.
    Nothing is read or copied; the caller guarantees that the memory is
    live, holds `length` elements of `T` and is aligned to `T`.

    It lowers to `llvm.inttoptr` and a memref descriptor through the gs
    dialect's `ConvertToLLVMPatternInterface`, so `convert-to-llvm`,
    `finalize-memref-to-llvm` pipelines and `convert-gpu-to-nvvm` all
    handle it.

    ```mlir
    %g = gs.view_address %address, %numel : memref<?xbf16>
    ```
  }];
  let arguments = (ins I64:$address, Index:$length);
  let results = (outs MemRefRankOf<[AnyType], [1]>:$view);
  let assemblyFormat = "$address `,` $length attr-dict `:` type($view)";
  let hasVerifier = 1;
}

#endif // GS_OPS_TD
