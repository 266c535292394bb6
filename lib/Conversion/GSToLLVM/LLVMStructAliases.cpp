//===- LLVMStructAliases.cpp - Print large LLVM structs once --------------===//
//
// A function that returns many memrefs returns one literal LLVM struct of
// their descriptors, and every llvm.insertvalue / llvm.extractvalue on it
// prints that type in full: a static 1,000-tensor group whose function
// returns its 3,003 updated buffers printed a 171 KB type 3,003 times,
// 520 MB of text and most of gs-opt's time. The LLVM dialect gives aliases
// to identified structs only; any dialect's OpAsmDialectInterface may name
// a type, so the gs dialect names large literal structs, and the printer
// writes each one once at the top of the module (`!llvm_struct = ...`).
// The output stays plain MLIR: aliases are core syntax that any parser
// reads back, with or without the gs dialect.
//
//===----------------------------------------------------------------------===//

#include "gs/Conversion/GSToLLVM/GSToLLVM.h"
#include "gs/Dialect/GS/IR/GSDialect.h"

#include "mlir/Dialect/LLVMIR/LLVMTypes.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;

namespace {
/// Literal structs of at least this many fields print as aliases; smaller
/// ones (a memref descriptor has 3 to 5) stay inline, as upstream prints
/// them.
constexpr size_t kMinAliasedFields = 16;

/// The gs dialect's only OpAsmDialectInterface (a dialect holds one per
/// interface kind): aliases the gs dialect wants for its own attributes
/// would go here too.
struct LargeLLVMStructAliases : OpAsmDialectInterface {
  using OpAsmDialectInterface::OpAsmDialectInterface;

  AliasResult getAlias(Type type, raw_ostream &os) const override {
    auto structType = dyn_cast<LLVM::LLVMStructType>(type);
    if (!structType || structType.isIdentified() ||
        structType.getBody().size() < kMinAliasedFields)
      return AliasResult::NoAlias;
    os << "llvm_struct";
    return AliasResult::OverridableAlias;
  }
};
} // namespace

void mlir::gs::registerLLVMStructAliases(DialectRegistry &registry) {
  registry.addExtension(+[](MLIRContext *, GSDialect *dialect) {
    dialect->addInterfaces<LargeLLVMStructAliases>();
  });
}
