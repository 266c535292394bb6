"""Prints MLIR nested `depth` levels deep in one of several ways:
deep_nesting.py KIND DEPTH."""

import sys

kind, depth = sys.argv[1], int(sys.argv[2])
if kind == "regions":
    print("module {" * depth + "}" * depth)
elif kind == "scf":
    print("func.func @f(%c: i1, %m: memref<f32>, %x: f32) {")
    print("scf.if %c {\nmemref.store %x, %m[] : memref<f32>\n" * depth + "}\n" * depth)
    print("return\n}")
elif kind == "attribute":
    print("func.func private @f() attributes {a = " + "[" * depth + "]" * depth + "}")
elif kind == "negation":
    print("#map = affine_map<(d0) -> (" + "-" * depth + "d0)>")
    print("func.func private @f() attributes {a = #map}")
elif kind == "sum":
    print("#map = affine_map<(d0) -> (" + "d0 + " * depth + "d0)>")
    print("func.func private @f() attributes {a = #map}")
elif kind == "aliases":
    print("#a0 = [1]")
    for i in range(1, depth):
        print(f"#a{i} = [#a{i - 1}]")
    print(f"func.func private @f() attributes {{a = #a{depth - 1}}}")
elif kind == "locations":
    print('#l0 = loc("a":1:1)')
    for i in range(1, depth):
        print(f"#l{i} = loc(callsite(#l{i - 1} at #l{i - 1}))")
    print(f"func.func private @f() loc(#l{depth - 1})")
else:
    sys.exit(f"unknown kind {kind}")
