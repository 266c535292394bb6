// The generic multi-tensor kernels assemble for sm_90 with ptxas, with no
// spills to local memory.
// REQUIRES: ptxas
// RUN: gs-opt %S/Inputs/adamw-multi-tensor.mlir --gs-to-nvvm="chip=sm_90" \
// RUN:   | %python %S/Inputs/extract_ptx.py > %t.ptx
// RUN: %ptxas -arch=sm_90 -v %t.ptx -o %t.cubin 2>&1 | FileCheck %s

// CHECK-NOT:  error
// CHECK:      Compiling entry function 'update' for 'sm_90'
// CHECK-NEXT: Function properties for update
// CHECK-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK:      Compiling entry function 'scalars' for 'sm_90'
// CHECK-NEXT: Function properties for scalars
// CHECK-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK:      Compiling entry function 'norms' for 'sm_90'
// CHECK-NEXT: Function properties for norms
// CHECK-NEXT: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
