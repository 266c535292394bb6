//===- GSEnums.td - GradientStabilizer enums ---------------*- tablegen -*-===//

#ifndef GS_ENUMS_TD
#define GS_ENUMS_TD

include "mlir/IR/EnumAttr.td"

def GS_NonFinitePolicy : I32EnumAttr<"NonFinitePolicy",
    "non-finite gradient policy", [
  I32EnumAttrCase<"Skip", 0, "skip">,
  I32EnumAttrCase<"Zero", 1, "zero">,
  I32EnumAttrCase<"Passthrough", 2, "passthrough">
]> {
  let cppNamespace = "::mlir::gs";
  let genSpecializedAttr = 0;
}

def GS_StepPhase : I32EnumAttr<"StepPhase",
    "part of a multi-tensor step that one op runs", [
  I32EnumAttrCase<"All", 0, "all">,
  I32EnumAttrCase<"Norms", 1, "norms">,
  I32EnumAttrCase<"Scalars", 2, "scalars">,
  I32EnumAttrCase<"Update", 3, "update">
]> {
  let cppNamespace = "::mlir::gs";
  let genSpecializedAttr = 0;
}

#endif // GS_ENUMS_TD
