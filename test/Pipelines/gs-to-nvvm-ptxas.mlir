// The generated PTX assembles for sm_90 with ptxas, and format=bin embeds a
// cubin built by it, without spills to local memory.
// REQUIRES: ptxas
// RUN: gs-opt %S/Inputs/adamw-group.mlir --gs-to-nvvm="chip=sm_90" \
// RUN:   | %python %S/Inputs/extract_ptx.py > %t.ptx
// RUN: %ptxas -arch=sm_90 -v %t.ptx -o %t.cubin 2>&1 | FileCheck %s --check-prefix=PTXAS
// RUN: gs-opt %S/Inputs/adamw-group.mlir \
// RUN:   --gs-to-nvvm="chip=sm_90 format=bin toolkit=%cuda_toolkit" \
// RUN:   | FileCheck %s --check-prefix=BIN

// PTXAS-NOT: error
// PTXAS:      Compiling entry function 'update' for 'sm_90'
// PTXAS-NEXT: Function properties for update
// PTXAS-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// PTXAS:      Compiling entry function 'scalars' for 'sm_90'
// PTXAS-NEXT: Function properties for scalars
// PTXAS-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// PTXAS:      Compiling entry function 'norms' for 'sm_90'
// PTXAS-NEXT: Function properties for norms
// PTXAS-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads

// BIN: llvm.func @step(
// BIN: gpu.binary @gs_multi_tensor_step {{.*}}#nvvm.target<O = 3, chip = "sm_90">, properties = {{.*}}, bin = "
