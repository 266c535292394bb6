// The whole GPU pipeline: host code with three launches on one stream, the
// kernels as PTX (no CUDA toolkit needed) with 128-bit global accesses, no
// local-memory spills and no libdevice calls.
// RUN: gs-opt %S/Inputs/adamw-group.mlir --gs-to-nvvm="chip=sm_90" \
// RUN:   | FileCheck %s
// RUN: gs-opt %S/Inputs/adamw-group.mlir --gs-to-nvvm="chip=sm_90" \
// RUN:   | mlir-translate --mlir-to-llvmir | FileCheck %s --check-prefix=LLVM
// RUN: gs-opt %S/Inputs/adamw-group.mlir --gs-to-nvvm="chip=sm_80" \
// RUN:   | %python %S/Inputs/extract_ptx.py | FileCheck %s --check-prefix=PTX

// The group's tables (addresses, chunk offsets, hyperparameters) are built
// on the host and copied to device twins on the step's stream; scratch is
// allocated there too; all are freed after the launches.
// CHECK-LABEL: llvm.func @step(
// CHECK:         %[[STREAM:.*]] = llvm.call @mgpuStreamCreate()
// CHECK-COUNT-3: llvm.call @mgpuMemcpy({{.*}}, %[[STREAM]])
// CHECK:         llvm.call @mgpuMemAlloc({{.*}}, %[[STREAM]],
// CHECK:         gpu.launch_func <%[[STREAM]] : !llvm.ptr> @gs_multi_tensor_step::@norms
// CHECK:         gpu.launch_func <%[[STREAM]] : !llvm.ptr> @gs_multi_tensor_step::@scalars
// CHECK-NEXT:    gpu.launch_func <%[[STREAM]] : !llvm.ptr> @gs_multi_tensor_step::@update
// CHECK-COUNT-5: llvm.call @mgpuMemFree({{.*}}, %[[STREAM]])
// CHECK-NEXT:    llvm.call @mgpuStreamSynchronize(%[[STREAM]])
// CHECK-NEXT:    llvm.call @mgpuStreamDestroy(%[[STREAM]])
// CHECK-NOT:     gpu.launch_func
// CHECK:       gpu.binary @gs_multi_tensor_step
// CHECK-SAME:    chip = "sm_90"
// CHECK-SAME:    .target sm_90
// CHECK-NOT:     __nv_
// CHECK-NOT:     ld.local
// CHECK-NOT:     st.local

// The runtime entry points the host calls (all in lib/Runtime).
// LLVM-DAG: declare ptr @mgpuModuleLoadJIT(ptr, i32)
// LLVM-DAG: declare void @mgpuModuleUnload(ptr)
// LLVM-DAG: declare ptr @mgpuModuleGetFunction(ptr, ptr)
// LLVM-DAG: declare void @mgpuLaunchKernel(ptr, i64, i64, i64, i64, i64, i64, i32, ptr, ptr, ptr, i64)
// LLVM-DAG: declare ptr @mgpuStreamCreate()
// LLVM-DAG: declare ptr @mgpuMemAlloc(i64, ptr, i8)
// LLVM-DAG: declare void @mgpuMemcpy(ptr, ptr, i64, ptr)
// LLVM-DAG: declare void @mgpuMemFree(ptr, ptr)
// LLVM-DAG: declare void @mgpuStreamSynchronize(ptr)
// LLVM-DAG: declare void @mgpuStreamDestroy(ptr)

// PTX: .target sm_80
// PTX-LABEL: .entry norms(
// PTX-DAG: ld.global.v4.b32
// PTX-DAG: shfl.sync.bfly.b32
// PTX-DAG: bar.sync
// PTX-LABEL: .entry scalars(
// PTX: sqrt.rn.f64
// PTX-LABEL: .entry update(
// PTX-COUNT-8: ld.global.v4.b32
// PTX: st.global.v4.b32
// PTX-NOT: ld.local
// PTX-NOT: st.local
// PTX-NOT: atom.
