"""Writes the MLIR module of the prebuilt step kernels and the C++ table that
names them (run by the build, see lib/Runtime/CMakeLists.txt). The same set
serves the CPU (lowered by gs-to-llvm, one build per instruction set) and
NVIDIA GPUs (lowered by gs-to-nvvm into one PTX module, `kernel-library`).

A multi-tensor step runs as three kernels (gs.multi_tensor_step phases), and
each depends on fewer structural choices than the whole step, so the set
stays small while covering every combination:

* norms:   the element type                              (3 kernels)
* scalars: optimizer structure, non-finite policy, bias
           correction, loss scaling: none, inv_scale and
           found_inf (AMP), found_inf alone              (8*3*2*3 = 144)
* update:  optimizer structure, element type, whether
           non-finite gradients are zeroed, whether the
           stabilized gradients are stored back          (8*3*2*2 = 96)

Numeric hyperparameters (lr, betas, eps, momentum, gamma1, ...) are run-time
values, so these kernels serve every model and every setting.

    python3 generate_step_kernels.py cpu OUT.mlir SUFFIX [OUT.inc]
    python3 generate_step_kernels.py gpu OUT.mlir [OUT.inc]

SUFFIX names one CPU instruction-set build (the runtime picks one at load
time). On the GPU the blocks of a launch share the chunks, so the kernels
take no worker operands. OUT.inc lists the kernels for the runtime.
"""

from __future__ import annotations

import sys

# Optimizer structures: name, attribute (its numbers are ignored by the
# generic step; only the structural flags count), moments, run-time
# hyperparameters besides lr and weight_decay.
OPTIMIZERS = [
    ("sgd", "#gs.sgd<>", 0, 0),
    ("sgd_momentum", "#gs.sgd<momentum = 0.9>", 1, 2),
    ("sgd_nesterov", "#gs.sgd<momentum = 0.9, nesterov = true>", 1, 2),
    ("adam", "#gs.adam<>", 2, 3),
    ("adam_amsgrad", "#gs.adam<amsgrad = true>", 3, 3),
    ("adamw", "#gs.adamw<>", 2, 3),
    ("adamw_amsgrad", "#gs.adamw<amsgrad = true>", 3, 3),
    ("lion", "#gs.lion<>", 1, 2),
]
DTYPES = {"f32": 4, "f16": 2, "bf16": 2}  # element bytes
POLICIES = ["skip", "zero", "passthrough"]
CHUNK_SIZE = 16384  # MultiTensorStepOp::kDefaultChunkSize

OPERANDS = ("%table: memref<?x?xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>, "
            "%stats: memref<?x2xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>, "
            "%partials: memref<?xf64>, %records: memref<?xf32>")
USES = ("table(%table : memref<?x?xi64>) chunk_offsets(%co : memref<?xi64>) "
        "hyper(%hyper : memref<?xf64>) stats(%stats : memref<?x2xf64>) "
        "counts(%counts : memref<?x2xi64>) steps(%steps : memref<?xi64>) "
        "scratch(%partials, %records : memref<?xf64>, memref<?xf32>)")


# Loss-scaling variants of the scalars kernel: name and mode (0: none, 1:
# inv_scale and found_inf, 2: found_inf alone).
SCALING = [("noamp", 0), ("amp", 1), ("foundinf", 2)]


def kernel(name: str, attr: str, config: str, dtype: str, phase: str,
           amp: int = 0, workers: bool = True, store: bool = False) -> str:
    args = OPERANDS
    uses = USES
    if amp == 1:
        args += ", %inv_scale: memref<f32>"
        uses += " inv_scale(%inv_scale : memref<f32>)"
    if amp:
        args += ", %found_inf: memref<f32>"
        uses += " found_inf(%found_inf : memref<f32>)"
    if workers:
        args += ", %worker: index, %num_workers: index"
        uses += " workers(%worker, %num_workers)"
    return (f"func.func @{name}({args}) attributes {{llvm.emit_c_interface}} {{\n"
            f"  gs.multi_tensor_step {attr} config {config} {uses}\n"
            f"      {{element_type = {dtype}, chunk_size = {CHUNK_SIZE} : i64, "
            f"phase = #gs.phase<{phase}>{', store_gradients' if store else ''}}}\n"
            f"  return\n}}\n")


def kernels(suffix: str, workers: bool):
    """(kind, name, moments, hyperparameters, element bytes, amp, mlir) of
    every kernel; `suffix` is appended to the symbols (one set per ISA);
    `workers`: the norms and update kernels split their chunks between CPU
    threads."""
    default = "#gs.stabilizer<>"
    for dtype, size in DTYPES.items():
        name = f"gs_norms_{dtype}"
        yield ("norms", name, -1, -1, size, 0,
               kernel(name + suffix, "#gs.sgd<>", default, dtype, "norms",
                      workers=workers))
    for opt, attr, moments, hyper in OPTIMIZERS:
        for policy in POLICIES:
            for bc in (True, False):
                for scaling, amp in SCALING:
                    name = (f"gs_scalars_{opt}_{policy}_{'bc' if bc else 'nobc'}"
                            f"_{scaling}")
                    config = (f"#gs.stabilizer<bias_correction = "
                              f"{'true' if bc else 'false'}, on_nonfinite = {policy}>")
                    yield ("scalars", name, moments, hyper, 0, amp,
                           kernel(name + suffix, attr, config, "f32", "scalars",
                                  amp=amp, workers=False))
        for dtype, size in DTYPES.items():
            for zero in (False, True):
                for store in (False, True):
                    name = (f"gs_update_{opt}_{dtype}_{'zero' if zero else 'keep'}"
                            f"{'_store' if store else ''}")
                    config = (f"#gs.stabilizer<on_nonfinite = "
                              f"{'zero' if zero else 'skip'}>")
                    yield ("update", name, moments, hyper, size, 0,
                           kernel(name + suffix, attr, config, dtype, "update",
                                  workers=workers, store=store))


def main() -> int:
    target, mlir_path, *rest = sys.argv[1:]
    if target == "cpu":
        suffix, table = rest[0], rest[1:]
        entries = list(kernels(suffix, workers=True))
    elif target == "gpu":
        table = rest
        entries = list(kernels("", workers=False))
    else:
        sys.exit(f"unknown target {target!r}: cpu or gpu")
    with open(mlir_path, "w") as out:
        out.write("// Generated by lib/Runtime/generate_step_kernels.py.\n")
        for entry in entries:
            out.write(entry[-1])
    if table:
        with open(table[0], "w") as out:
            out.write("// Generated by lib/Runtime/generate_step_kernels.py: one\n"
                      "// GS_KERNEL(kind, name, moments, hyperparameters,\n"
                      "// element bytes, amp) per prebuilt kernel.\n")
            for kind, name, moments, hyper, size, amp, _ in entries:
                out.write(f"GS_KERNEL({kind}, {name}, {moments}, {hyper}, {size}, {amp})\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
