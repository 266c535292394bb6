// MLIR 22's custom parsers of linalg.reduce, linalg.broadcast (`dimensions`)
// and linalg.transpose (`permutation`) dereference the null result of a
// failed attribute parse: `dimensions = <anything but a list of integers>`
// killed gs-opt, the C API and the Python package with SIGSEGV (found by
// gs-fuzz). The entry points refuse such input before parsing, naming the
// place; valid input of every form still parses.

// RUN: gs-opt %S/Inputs/linalg-dims-valid.mlir | FileCheck %s --check-prefix=VALID
// VALID: linalg.reduce
// VALID: linalg.broadcast
// VALID: linalg.transpose
// VALID: linalg.transpose

// RUN: %python -c "print('func.func @f(%%x: tensor<2xf32>, %%s: tensor<f32>) {\n  %%r = linalg.reduce ins(%%x : tensor<2xf32>) outs(%%s : tensor<f32>) dimensions = x0]\n  return\n}')" > %t.reduce.mlir
// RUN: not gs-opt %t.reduce.mlir 2>&1 | FileCheck %s --check-prefix=REDUCE
// REDUCE: reduce.mlir:2:69: error: linalg.reduce: `dimensions` must be a list of 64-bit integers such as [0, 1]; refused before parsing, as MLIR 22's parser crashes on anything else there
// REDUCE-NOT: Stack dump

// RUN: %python -c "print('func.func @f(%%v: tensor<8xf32>, %%m: tensor<4x8xf32>) {\n  %%b = linalg.broadcast ins(%%v : tensor<8xf32>) outs(%%m : tensor<4x8xf32>) dimensions = [99999999999999999999]\n  return\n}')" > %t.broadcast.mlir
// RUN: not gs-opt %t.broadcast.mlir 2>&1 | FileCheck %s --check-prefix=BROADCAST
// BROADCAST: error: linalg.broadcast: `dimensions` must be a list of 64-bit integers

// RUN: %python -c "print('func.func @f(%%x: tensor<4x8xf32>, %%t: tensor<8x4xf32>) {\n  %%p = linalg.transpose ins(%%x : tensor<4x8xf32>) outs(%%t : tensor<8x4xf32>) permutation = array<i64: 1, 0>\n  return\n}')" > %t.transpose.mlir
// RUN: not gs-opt %t.transpose.mlir 2>&1 | FileCheck %s --check-prefix=TRANSPOSE
// TRANSPOSE: error: linalg.transpose: `permutation` must be a list of 64-bit integers

// An unclosed list.
// RUN: %python -c "print('func.func @f(%%x: tensor<2xf32>, %%s: tensor<f32>) {\n  %%r = linalg.reduce ins(%%x : tensor<2xf32>) outs(%%s : tensor<f32>) dimensions = [0')" > %t.open.mlir
// RUN: not gs-opt %t.open.mlir 2>&1 | FileCheck %s --check-prefix=OPEN
// OPEN: error: linalg.reduce: `dimensions` must be a list
