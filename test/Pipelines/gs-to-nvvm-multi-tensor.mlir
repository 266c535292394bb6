// gs.multi_tensor_step through the GPU pipelines: memref arguments of
// dynamic size need no bufferization. The kernels' gs.view_address ops
// become global-memory pointers in convert-gpu-to-nvvm (through the gs
// dialect's ConvertToLLVMPatternInterface); every kernel takes the same few
// parameters whatever the number of tensors.
// RUN: gs-opt %S/Inputs/adamw-multi-tensor.mlir --gs-to-nvvm="chip=sm_90" \
// RUN:   | FileCheck %s
// RUN: gs-opt %S/Inputs/adamw-multi-tensor.mlir --gs-to-nvvm="chip=sm_90" \
// RUN:   | %python %S/Inputs/extract_ptx.py | FileCheck %s --check-prefix=PTX
// RUN: gs-opt %S/Inputs/adamw-multi-tensor.mlir --gs-to-gpu-emulator \
// RUN:   | FileCheck %s --check-prefix=EMU

// CHECK-LABEL: llvm.func @step(
// CHECK-SAME:      %{{[a-z0-9]+}}: !llvm.ptr, %[[TABLE:[a-z0-9]+]]: !llvm.ptr, %{{[a-z0-9]+}}: i64, %[[N:[a-z0-9]+]]: i64,
// CHECK:         %[[STREAM:.*]] = llvm.call @mgpuStreamCreate()
// CHECK:         %[[ADDRESS:.*]] = llvm.ptrtoint %[[TABLE]] : !llvm.ptr to i64
// CHECK:         gpu.launch_func <%[[STREAM]] : !llvm.ptr> @gs_multi_tensor_step::@norms blocks in ({{.*}}) threads in ({{.*}}) : i64 args(%[[ADDRESS]] : i64, %{{.*}} : i64, %{{.*}} : i64, %[[N]] : i64, %{{.*}} : i64)
// CHECK:         gpu.launch_func <%[[STREAM]] : !llvm.ptr> @gs_multi_tensor_step::@scalars
// CHECK-NEXT:    gpu.launch_func <%[[STREAM]] : !llvm.ptr> @gs_multi_tensor_step::@update
// CHECK-NEXT:    llvm.call @mgpuStreamSynchronize(%[[STREAM]])
// CHECK-NEXT:    llvm.call @mgpuStreamDestroy(%[[STREAM]])
// CHECK:       gpu.binary @gs_multi_tensor_step
// CHECK-NOT:     gs.view_address
// CHECK-NOT:     __nv_

// 16-byte global loads and stores, no local memory.
// PTX:       .visible .entry norms(
// PTX-NEXT:    .param .u64 norms_param_0,
// PTX-NEXT:    .param .u64 norms_param_1,
// PTX-NEXT:    .param .u64 norms_param_2,
// PTX-NEXT:    .param .u64 norms_param_3,
// PTX-NEXT:    .param .u64 norms_param_4
// PTX-NEXT:  )
// PTX:         ld.global.v4.b32
// PTX:       .visible .entry scalars(
// PTX-COUNT-10: .param .u64
// PTX-NEXT:  )
// PTX:       .visible .entry update(
// PTX:         ld.global.v4.b32
// PTX:         st.global.v4.b32
// PTX-NOT:     ld.local
// PTX-NOT:     st.local

// EMU-NOT:   gpu.
// EMU-LABEL: llvm.func @step(
// EMU:         llvm.call @gsEmuLaunch(
// EMU:         llvm.call @gsEmuLaunch(
// EMU:         llvm.call @gsEmuLaunch(
// EMU-NOT:     gsEmuLaunch
// EMU:       llvm.func @__gs_emu_gs_multi_tensor_step_norms(
// EMU-NOT:   gs.view_address
