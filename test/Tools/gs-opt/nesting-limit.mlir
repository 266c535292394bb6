// MLIR's parser, printer and passes recurse once per level of nesting.
// gs-opt runs them on a 256 MiB stack and refuses input nested deeper than
// 4096 levels with an error naming the place; 5,000 nested regions used to
// overflow the 8 MiB stack of the main thread (SIGSEGV).

// 4000 levels need more than 8 MiB of stack.
// RUN: %python %S/Inputs/deep_nesting.py regions 4000 > %t.regions-4000.mlir
// RUN: gs-opt %t.regions-4000.mlir --canonicalize -o /dev/null
// RUN: %python %S/Inputs/deep_nesting.py scf 4000 > %t.scf-4000.mlir
// RUN: gs-opt %t.scf-4000.mlir --gs-to-llvm -o /dev/null

// RUN: %python %S/Inputs/deep_nesting.py regions 5000 > %t.regions.mlir
// RUN: not gs-opt %t.regions.mlir 2>&1 | FileCheck %s --check-prefix=REGIONS
// REGIONS: regions.mlir:1:32776: error: input nested deeper than 4096 levels (brackets, expression operators and alias references counted): refused, as processing it could overflow the stack

// RUN: %python %S/Inputs/deep_nesting.py scf 100000 > %t.scf.mlir
// RUN: not gs-opt %t.scf.mlir --gs-to-llvm 2>&1 | FileCheck %s --check-prefix=SCF
// SCF: scf.mlir:8191:20: error: input nested deeper than 4096 levels

// Recursion without regions: attributes, affine expressions (a chain of
// operators recurses as deeply as brackets), alias and location chains.
// RUN: %python %S/Inputs/deep_nesting.py attribute 100000 > %t.attribute.mlir
// RUN: not gs-opt %t.attribute.mlir 2>&1 | FileCheck %s --check-prefix=ATTRIBUTE
// ATTRIBUTE: attribute.mlir:1:{{[0-9]+}}: error: input nested deeper than 4096 levels
// RUN: %python %S/Inputs/deep_nesting.py negation 100000 > %t.negation.mlir
// RUN: not gs-opt %t.negation.mlir 2>&1 | FileCheck %s --check-prefix=NEGATION
// NEGATION: negation.mlir:1:{{[0-9]+}}: error: input nested deeper than 4096 levels
// RUN: %python %S/Inputs/deep_nesting.py sum 100000 > %t.sum.mlir
// RUN: not gs-opt %t.sum.mlir 2>&1 | FileCheck %s --check-prefix=SUM
// SUM: sum.mlir:1:{{[0-9]+}}: error: input nested deeper than 4096 levels
// RUN: %python %S/Inputs/deep_nesting.py aliases 100000 > %t.aliases.mlir
// RUN: not gs-opt %t.aliases.mlir 2>&1 | FileCheck %s --check-prefix=ALIASES
// ALIASES: aliases.mlir:4097:11: error: input nested deeper than 4096 levels
// RUN: %python %S/Inputs/deep_nesting.py locations 100000 > %t.locations.mlir
// RUN: not gs-opt %t.locations.mlir --mlir-print-debuginfo 2>&1 | FileCheck %s --check-prefix=LOCATIONS
// LOCATIONS: locations.mlir:2049:23: error: input nested deeper than 4096 levels

// Below the limit these all run.
// RUN: %python %S/Inputs/deep_nesting.py aliases 4000 > %t.aliases-4000.mlir
// RUN: gs-opt %t.aliases-4000.mlir -o /dev/null
// RUN: %python %S/Inputs/deep_nesting.py sum 4000 > %t.sum-4000.mlir
// RUN: gs-opt %t.sum-4000.mlir -o /dev/null
