//===- gs-opt.cpp - The gs optimizer driver -------------------------------===//
//
// mlir-opt for the gs dialect: parses, verifies and transforms IR with the gs
// passes and pipelines and the upstream ones they are built from.
//
//===----------------------------------------------------------------------===//

#include "gs/InitGS.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::gs::registerGSDialects(registry);
  mlir::gs::registerGSPasses();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "GradientStabilizer optimizer driver\n", registry));
}
