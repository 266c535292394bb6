//===- Passes.td - gs conversion passes --------------------*- tablegen -*-===//

#ifndef GS_CONVERSION_PASSES_TD
#define GS_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertGSToLoops : Pass<"convert-gs-to-loops"> {
  let summary = "Lower gs ops to vectorized loops on tensors";
  let description = [{
    Rewrites every gs op into `scf.for` loops over `vector.transfer_read` /
    `vector.transfer_write` of the (flattened) tensors, `arith` / `math` for
    the element-wise and scalar math, and `tensor.extract` / `tensor.insert`
    for the GS and optimizer state. The result is ordinary upstream IR on
    tensors that one-shot bufferization turns into in-place updates of the
    caller's buffers.

    `gs.group_step` becomes, per tensor, two passes over memory: one reads
    the gradient and accumulates its squared norm in f64 vectors (no overflow
    or underflow for any finite f32 / f16 / bf16 input), the other reads
    parameter, gradient and moments and writes parameter and moments. The GS
    scalar math runs between them. No temporary proportional to a tensor's
    size is created. The element update comes from the optimizer attribute's
    `OptimizerAttrInterface`.

    ```mlir
    %n = gs.grad_norm %g : tensor<1000xf32>
    ```
    becomes a loop reading `vector<16xf32>` chunks, widening them to f64 and
    accumulating their squares, with a masked tail, then `vector.reduction`
    and `math.sqrt`.
  }];
  let options = [
    Option<"vectorWidth", "vector-width", "unsigned", /*default=*/"8",
           "Elements per vector in the element-wise update (the norm uses "
           "twice as many for independent accumulators)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect", "::mlir::tensor::TensorDialect",
    "::mlir::vector::VectorDialect"
  ];
}

def GSToLinalg : Pass<"gs-to-linalg"> {
  let summary = "Lower gs.grad_norm and gs.stabilize to linalg on tensors";
  let description = [{
    For host compilers that keep their own linalg pipeline after
    gradient-level injection (`gs-stabilize-gradients`): `gs.grad_norm`
    becomes one `linalg.generic` reduction (each element widened to f64 and
    squared, summed into a 0-d f64 tensor) and `math.sqrt`; `gs.stabilize`
    becomes the GS scalar math in f64 (`tensor.extract` / `tensor.insert` on
    the state) and one element-wise `linalg.generic` that multiplies the
    gradient by the f32 factor pair (the same numerics as
    `convert-gs-to-loops`). Upstream element-wise fusion
    (`linalg-fuse-elementwise-ops`) then folds that generic into the foreign
    update that reads the stabilized gradient: one read of the gradient for
    the norm and one fused update pass.

    Other gs ops are left alone. Gradients are f32, f16 or bf16 (the f64
    sum of their squares neither overflows nor underflows).

    ```mlir
    %n = gs.grad_norm %g : tensor<64xf32>
    ```
    becomes
    ```mlir
    %s = linalg.generic {iterator_types = ["reduction"]} ins(%g) outs(%zero)
    %n = math.sqrt (tensor.extract %s[])
    ```
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect", "::mlir::tensor::TensorDialect"
  ];
}

def ConvertGSToLLVM : Pass<"convert-gs-to-llvm"> {
  let summary = "Lower gs.view_address to the LLVM dialect";
  let description = [{
    Lowers the gs ops that remain after `convert-gs-to-loops` and
    `convert-gs-to-gpu` (`gs.view_address`) to LLVM: the address becomes a
    pointer (`llvm.inttoptr`) and a memref descriptor of offset 0, the given
    size and stride 1. Users of the view keep their memref types, bridged by
    `builtin.unrealized_conversion_cast` until their own conversion (run it
    before `finalize-memref-to-llvm`). The same pattern is registered
    through the gs dialect's `ConvertToLLVMPatternInterface`, so
    `convert-to-llvm` and `convert-gpu-to-nvvm` lower the op without this
    pass.

    ```mlir
    %v = gs.view_address %address, %n : memref<?xf32>
    ```
    becomes
    ```mlir
    %p = llvm.inttoptr %address : i64 to !llvm.ptr
    // a memref descriptor {%p, %p, 0, [%n], [1]}
    ```
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def LowerModuleToLLVM : Pass<"gs-lower-to-llvm", "::mlir::ModuleOp"> {
  let summary = "Lower func, cf, memref, arith, math, index, ub and gs ops "
                "to LLVM in one dialect conversion";
  let description = [{
    Applies the upstream conversion patterns of `finalize-memref-to-llvm`,
    `convert-math-to-llvm`, `convert-arith-to-llvm`, `convert-index-to-llvm`,
    `convert-func-to-llvm`, `convert-cf-to-llvm` and `convert-ub-to-llvm`,
    with `convert-gs-to-llvm`'s, as one partial conversion with one LLVM
    type converter (configured from the module's data layout, like the
    upstream passes). The result is what that sequence of passes produces;
    ops of other dialects are left as they are, bridged by
    `builtin.unrealized_conversion_cast`. Run `gs-split-entry-blocks` before
    it on functions with many arguments and `reconcile-unrealized-casts`
    after it.

    Why one conversion: every upstream conversion pass walks and legalizes
    the whole module, so seven of them cost seven walks of a module that
    grows with the tensor count. For a function that steps 1,000 tensors
    and returns them (about 100,000 operations once its 3,003 returned
    buffers are copied), the seven passes with the reconciliation and
    canonicalization after them took 1.6 s; this pass with the same two,
    0.8 s. It converts without pattern rollback (upstream's patterns for
    these dialects never fail after rewriting), which saves about a fifth
    of the conversion's time.

    Upstream's `convert-to-llvm` is the same idea, but it builds its type
    converter with default options, so it cannot produce the bare-pointer
    calling convention that `use-bare-ptr-call-conv` selects here.

    ```mlir
    func.func @scale(%x: memref<8xf32>, %i: index, %s: f32) {
      %v = memref.load %x[%i] : memref<8xf32>
      %w = arith.mulf %v, %s : f32
      memref.store %w, %x[%i] : memref<8xf32>
      return
    }
    ```
    becomes an `llvm.func @scale` whose loads, multiplication and store are
    `llvm` ops; with `use-bare-ptr-call-conv`, `%x` is a single `!llvm.ptr`
    argument instead of the five fields of a memref descriptor.
  }];
  let options = [
    Option<"useBarePtrCallConv", "use-bare-ptr-call-conv", "bool",
           /*default=*/"false",
           "Pass statically shaped memrefs of function signatures as bare "
           "pointers (as convert-func-to-llvm's option of the same name)">,
  ];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def SplitEntryBlocks : Pass<"gs-split-entry-blocks", "::mlir::func::FuncOp"> {
  let summary = "Move the body of a function with many arguments out of its "
                "entry block, so converting its signature stays linear";
  let description = [{
    Moves every operation of the entry block of a `func.func` with at least
    `min-arguments` arguments into a new block that the entry block branches
    to; the entry block keeps only the arguments and the `cf.br`. Nothing
    else changes: LLVM merges the two blocks again.

    Why: when `convert-func-to-llvm` (or `gpu-to-llvm`) converts a
    signature, upstream dialect conversion replaces each converted argument
    by a value materialized at the start of the entry block, and for every
    use in that same block asks whether the use comes after the
    materialization (`Operation::isBeforeInBlock`). Each materialization
    invalidates the block's cached operation order, so every argument
    renumbers the whole block: quadratic in the arguments times the entry
    block's operations. A static `gs.group_step` of 1,000 AdamW tensors
    bufferizes into a function of 4,003 memref arguments whose entry block
    builds the step's table, and the conversion took 2.5 s of the
    pipeline's 4.3 s. With the uses in another block, each one is decided
    without the order.

    ```mlir
    func.func @step(%a: memref<8xf32>, ...) {
      %p = memref.extract_aligned_pointer_as_index %a : ...
      ...
    }
    ```
    becomes
    ```mlir
    func.func @step(%a: memref<8xf32>, ...) {
      cf.br ^bb1
    ^bb1:
      %p = memref.extract_aligned_pointer_as_index %a : ...
      ...
    }
    ```
  }];
  let options = [
    Option<"minArguments", "min-arguments", "unsigned", /*default=*/"64",
           "Split only functions with at least this many arguments (small "
           "functions gain nothing and keep their shape)">,
  ];
  let dependentDialects = ["::mlir::cf::ControlFlowDialect"];
}

def DeallocateBuffers : Pass<"gs-deallocate-buffers", "::mlir::ModuleOp"> {
  let summary = "Upstream's buffer deallocation pipeline, or only the "
                "copies of returned buffers when nothing is on the heap";
  let description = [{
    Runs upstream's `buffer-deallocation-pipeline` (ownership-based
    deallocation, its simplification and lowering) when the module has
    ownership to track: an operation that allocates on the heap (other than
    under `bufferization.manual_deallocation`, as a bufferized
    `gs.group_step` allocates its large tables), a call that returns
    buffers, a function other than `func.func` that returns them, or
    an operation that makes a buffer with unknown effects. Otherwise
    nothing in the module can own a buffer, and the pipeline's only effect
    would be the one its function-boundary ABI asks for: every buffer a
    function returns is owned by the caller, so a returned buffer the
    function did not allocate (an argument, a view of one, a global) is
    returned as a `bufferization.clone`. This pass inserts exactly those
    clones and runs nothing else.

    Why: a bufferized static `gs.group_step` leaves nothing on the heap for
    anyone else to free (its tables are stack allocations, or heap ones it
    frees itself), and for a function that returns its
    1,000 updated tensors the pipeline built one `bufferization.dealloc` of
    7,007 memrefs, 4,003 of them arguments under a constant false
    condition, whose canonicalization and simplification took 5 s of the
    CPU pipeline; the result is the same 3,003 clones.

    ```mlir
    func.func @step(%p: memref<8xf32>) -> memref<8xf32> {
      ...  // updates %p in place
      return %p : memref<8xf32>
    }
    ```
    becomes
    ```mlir
    func.func @step(%p: memref<8xf32>) -> memref<8xf32> {
      ...
      %0 = bufferization.clone %p : memref<8xf32> to memref<8xf32>
      return %0 : memref<8xf32>
    }
    ```
  }];
  let options = [
    Option<"privateFunctionDynamicOwnership",
           "private-function-dynamic-ownership", "bool", /*default=*/"false",
           "Passed to ownership-based-buffer-deallocation when it runs: "
           "private functions take and return ownership indicators instead "
           "of returning owned buffers (then their results are not cloned "
           "either)">,
  ];
  // The dialects of the upstream pipeline come from the pass itself
  // (getDependentDialects asks the pipeline it would run), except cf:
  // ownership-based-buffer-deallocation checks a manual deallocation with a
  // cf.assert without declaring the dialect.
  let dependentDialects = ["::mlir::bufferization::BufferizationDialect",
                           "::mlir::cf::ControlFlowDialect"];
}

def ConvertGSToGPU : Pass<"convert-gs-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Lower gs.multi_tensor_step (and so bufferized "
                "gs.group_step) to fused GPU kernels";
  let description = [{
    Replaces every `gs.multi_tensor_step` by kernel launches on one stream.
    Its three kernels read the table, chunk offsets, hyperparameters and
    scratch of the op at run time, so one set serves any number of tensors,
    and steps whose kernels come out the same share one `gpu.module`:

    1. `norms`: the squared norms of all gradients. Every tensor's elements
       are cut into chunks of the op's `chunk_size` (a huge tensor gets many
       chunks, a tiny one a single chunk), visited grid-stride; each block
       reduces its chunk in registers (f64, 128-bit loads) and shared memory
       and stores one partial sum per chunk.
    2. `scalars` (one block): the partial sums of each tensor added in a
       fixed order, the group-wide `found_inf` decision, the GS scalar math
       in f64 and the optimizer's step scalars, the new GS state and step
       counts, and one record per tensor for the update.
    3. `update`: the fused stabilize-then-optimize element update over the
       same chunks, 128-bit loads and stores where the buffers are 16-byte
       aligned, element-wise otherwise.

    Nothing is reduced with atomics, so the results are bitwise the same
    from run to run and for any grid size. Each kernel takes the device
    addresses (`i64`) of the buffers it uses and N, the table's rows: at
    most 10 parameters, whatever N. `norms` and `update` get `max-blocks`
    blocks (the number of chunks is in device memory; blocks without a chunk
    return at once), `scalars` one; `phase = norms | scalars | update`
    launches that kernel alone. With `element_types`, a chunk's body is
    chosen by its row's element type (a branch uniform over the block).

    The state, `inv_scale` and `found_inf` must be device memory: arguments
    of the enclosing function or `gpu.alloc` results, with an identity
    layout. The table, chunk offsets, hyperparameters and scratch may also
    be `memref.alloca` / `memref.alloc` of the function, filled by the host:
    they get `gpu.alloc` twins on the step's stream, the inputs copied in
    with `gpu.memcpy` before the launches, all freed after them (and a host
    heap table freed once copied). Every address a host table holds must
    then be that of a device buffer (a function argument or `gpu.alloc`),
    which the pass checks. `workers(...)` are rejected.

    A static `gs.group_step` must be bufferized first: its
    `BufferizableOpInterface` turns it into such a step over host-built
    tables of its buffers (one step for any number of tensors and element
    types), and this pass moves the tables to the device. The `gs-to-nvvm`
    and `gs-to-gpu-emulator` pipelines bufferize, then run this pass.
    Before 2026-11-30 the pass lowered tensor-level `gs.group_step` itself
    into kernels with one parameter per buffer; `chunk-size` and
    `kernel-param-limit` belonged to that lowering and are still accepted,
    without effect, so that existing command lines keep working.

    ```mlir
    gs.multi_tensor_step #gs.adamw<> table(%table : memref<?x5xi64>) ...
    ```
    becomes `memref.extract_aligned_pointer_as_index` of each buffer and
    three launches such as
    `gpu.launch_func async [%t] @gs_multi_tensor_step::@norms blocks in
    (%c1024, %c1, %c1) threads in (%c256, %c1, %c1) args(%table : i64,
    %offsets : i64, %partials : i64, %n : index)`.
  }];
  let options = [
    Option<"chunkSize", "chunk-size", "unsigned", /*default=*/"16384",
           "No effect (static groups use gs.multi_tensor_step's chunk "
           "size); a positive multiple of 8, kept for existing command "
           "lines">,
    Option<"blockSize", "block-size", "unsigned", /*default=*/"256",
           "Threads per block (a multiple of 32, at most 1024)">,
    Option<"maxBlocks", "max-blocks", "unsigned", /*default=*/"1024",
           "Most blocks of the norm and update launches; they loop over "
           "the chunks grid-stride">,
    Option<"kernelParamLimit", "kernel-param-limit", "unsigned",
           /*default=*/"4096",
           "No effect (the kernels take at most 10 parameters); kept for "
           "existing command lines">,
    Option<"kernelLibrary", "kernel-library", "std::string", /*default=*/"",
           "Put the kernels of every gs.multi_tensor_step into one "
           "gpu.module of this name, each named after the function that "
           "holds the step (`<function>` for a single phase, "
           "`<function>_<kind>` for a whole step), and build only the "
           "kernels of each step's phase: an ahead-of-time kernel library "
           "whose runtime looks kernels up by name">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::gpu::GPUDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"
  ];
}

def ConvertKernelMathToIntrinsics
    : Pass<"convert-kernel-math-to-intrinsics", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Lower math ops in GPU kernels to LLVM intrinsics";
  let description = [{
    Rewrites `math.sqrt` and `math.absf` (f32 / f64, scalars and vectors) in
    a `gpu.module` into `llvm.call_intrinsic` of `llvm.sqrt.*` and
    `llvm.fabs.*`. `convert-gpu-to-nvvm` would otherwise turn them into calls
    to libdevice (`__nv_sqrt`), which only the CUDA toolkit provides; the
    intrinsics become native, correctly rounded PTX (`sqrt.rn.f64`,
    `abs.f64`) with or without a toolkit. Run it before
    `convert-gpu-to-nvvm`.

    ```mlir
    %s = math.sqrt %x : f64
    ```
    becomes
    ```mlir
    %s = llvm.call_intrinsic "llvm.sqrt.f64"(%x) : (f64) -> f64
    ```
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def ConvertNVVMKernelsToEmulator
    : Pass<"convert-nvvm-kernels-to-emulator", "::mlir::ModuleOp"> {
  let summary = "Run NVVM kernels on the host through the GPU emulator";
  let description = [{
    Makes code lowered for NVIDIA GPUs run on the CPU, to test kernels on
    machines without a GPU. Run it where `gpu-module-to-binary` would run:
    after the kernels are NVVM (`convert-gpu-to-nvvm`) and the host is LLVM
    (`gpu-to-llvm`).

    - Every `gpu.module` is dissolved into the host module: its globals and
      kernels are renamed `__gs_emu_<module>_<symbol>`, their address spaces
      (global, shared) become the host's, and the NVVM special registers,
      `nvvm.shfl.sync` and `nvvm.barrier0` become calls to the emulator
      (`libgs_gpu_emulator`, include/gs-c/GpuEmulator.h).
    - Every `gpu.launch_func` becomes a call to `gsEmuLaunch` with an entry
      function that unpacks the kernel's parameters, CUDA-style (an array of
      pointers to the argument values).
    - The `mgpu*` stream, event and memory functions that `gpu-to-llvm`
      calls become their `gsEmu*` counterparts.

    The emulator runs each block's threads as fibers that switch at
    barriers and shuffles, so the kernels' exact LLVM IR runs, synchronizes
    and reduces as on the GPU; what it cannot check is the PTX code
    generation and the timing. An NVVM op the emulator has no model of is a
    diagnostic.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // GS_CONVERSION_PASSES_TD
