// The GPU pipeline with the emulator in place of gpu-module-to-binary: the
// same three launches, now calls into libgs_gpu_emulator; the kernels'
// LLVM IR (from convert-gpu-to-nvvm) moved into the host module with their
// shuffles and barriers as emulator calls; nothing of the gpu dialect left,
// so plain mlir-translate and a CPU compiler take it.
// RUN: gs-opt %S/Inputs/adamw-group.mlir --gs-to-gpu-emulator | FileCheck %s
// RUN: gs-opt %S/Inputs/adamw-group.mlir --gs-to-gpu-emulator \
// RUN:   | mlir-translate --mlir-to-llvmir | FileCheck %s --check-prefix=LLVM

// CHECK-NOT: gpu.
// CHECK-LABEL: llvm.func @step(
// CHECK-DAG:     %[[NORMS:.*]] = llvm.mlir.addressof @__gs_emu_gs_multi_tensor_step_norms_entry
// CHECK-DAG:     %[[SCALARS:.*]] = llvm.mlir.addressof @__gs_emu_gs_multi_tensor_step_scalars_entry
// CHECK-DAG:     %[[UPDATE:.*]] = llvm.mlir.addressof @__gs_emu_gs_multi_tensor_step_update_entry
// CHECK:         %[[STREAM:.*]] = llvm.call @gsEmuStreamCreate()
// CHECK:         llvm.call @gsEmuMemcpy(
// CHECK:         llvm.call @gsEmuLaunch(%[[NORMS]],
// CHECK:         llvm.call @gsEmuLaunch(%[[SCALARS]],
// CHECK:         llvm.call @gsEmuLaunch(%[[UPDATE]],
// CHECK:         llvm.call @gsEmuMemFree(
// CHECK:         llvm.call @gsEmuStreamSynchronize(%[[STREAM]])
// CHECK:         llvm.call @gsEmuStreamDestroy(%[[STREAM]])
// CHECK-NOT:     gsEmuLaunch
// CHECK:       llvm.func @__gs_emu_gs_multi_tensor_step_norms(
// CHECK-COUNT-10: llvm.call @gsEmuShuffle
// CHECK:         llvm.call @gsEmuBarrier
// CHECK:       llvm.func @__gs_emu_gs_multi_tensor_step_scalars(
// CHECK:       llvm.func @__gs_emu_gs_multi_tensor_step_update(
// CHECK-NOT:   nvvm.

// LLVM: define {{.*}} @step(
// LLVM-COUNT-3: call void @gsEmuLaunch(
// LLVM: define void @__gs_emu_gs_multi_tensor_step_update(
// LLVM: load <4 x float>, ptr %{{.*}}, align 16
// LLVM-NOT: addrspace
