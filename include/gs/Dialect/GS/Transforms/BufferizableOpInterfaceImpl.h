//===- BufferizableOpInterfaceImpl.h - gs bufferization ---------*- C++ -*-===//

#ifndef GS_DIALECT_GS_TRANSFORMS_BUFFERIZABLEOPINTERFACEIMPL_H
#define GS_DIALECT_GS_TRANSFORMS_BUFFERIZABLEOPINTERFACEIMPL_H

namespace mlir {
class DialectRegistry;

namespace gs {
/// Attaches the upstream BufferizableOpInterface to gs.group_step: results
/// in place on the params, moments and state (grads read only); the
/// bufferized step is a gs.multi_tensor_step per element type over a table
/// of the buffers' addresses.
void registerBufferizableOpInterfaceExternalModels(DialectRegistry &registry);
} // namespace gs
} // namespace mlir

#endif // GS_DIALECT_GS_TRANSFORMS_BUFFERIZABLEOPINTERFACEIMPL_H
