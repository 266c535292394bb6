// RUN: gs-opt %s --convert-nvvm-kernels-to-emulator --split-input-file | FileCheck %s

// A kernel with every modelled NVVM op, its global and shared variables, and
// a host that launches it as gpu-to-llvm leaves it.

// CHECK-LABEL: module {
// CHECK-NOT: gpu.
// CHECK: llvm.func @host(%[[BUF:.*]]: !llvm.ptr, %[[X:.*]]: f32, %[[N:.*]]: i64)
// CHECK-DAG: %[[ONE:.*]] = llvm.mlir.constant(1 : i64) : i64
// CHECK-DAG: %[[PARAMS:.*]] = llvm.alloca %[[ONE]] x !llvm.array<2 x ptr>
// CHECK-DAG: %[[SLOT0:.*]] = llvm.alloca %[[ONE]] x !llvm.ptr
// CHECK-DAG: %[[SLOT1:.*]] = llvm.alloca %[[ONE]] x f32
// CHECK: %[[STREAM:.*]] = llvm.call @gsEmuStreamCreate()
// CHECK: llvm.store %[[BUF]], %[[SLOT0]]
// CHECK: %[[P0:.*]] = llvm.getelementptr %[[PARAMS]][0, 0]
// CHECK: llvm.store %[[SLOT0]], %[[P0]]
// CHECK: llvm.store %[[X]], %[[SLOT1]]
// CHECK: %[[P1:.*]] = llvm.getelementptr %[[PARAMS]][0, 1]
// CHECK: llvm.store %[[SLOT1]], %[[P1]]
// CHECK: %[[SMEM:.*]] = llvm.mlir.constant(0 : i32) : i32
// CHECK: %[[ENTRY:.*]] = llvm.mlir.addressof @__gs_emu_kernels_scale_entry
// CHECK: llvm.call @gsEmuLaunch(%[[ENTRY]], %[[N]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[SMEM]], %[[PARAMS]])
// CHECK: llvm.call @gsEmuStreamSynchronize(%[[STREAM]])
// CHECK: llvm.call @gsEmuStreamDestroy(%[[STREAM]])

// CHECK: llvm.func @gsEmuStreamCreate() -> !llvm.ptr
// CHECK: llvm.mlir.global private @__gs_emu_kernels_table(dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>) {addr_space = 0 : i32} : !llvm.array<2 x f32>
// CHECK: llvm.mlir.global internal @__gs_emu_kernels_shared() {addr_space = 0 : i32} : !llvm.array<32 x f32>

// CHECK: llvm.func @__gs_emu_kernels_scale(%[[OUT:.*]]: !llvm.ptr, %[[S:.*]]: f32) {
// CHECK-NOT: nvvm
// CHECK: %[[TID:.*]] = llvm.call @gsEmuSpecialRegister(%{{.*}}) : (i32) -> i32
// CHECK: %[[TABLE:.*]] = llvm.mlir.addressof @__gs_emu_kernels_table : !llvm.ptr
// CHECK: %[[SHARED:.*]] = llvm.mlir.addressof @__gs_emu_kernels_shared : !llvm.ptr
// CHECK: llvm.call @gsEmuBarrier(%{{.*}}) : (i32) -> ()
// CHECK: %[[BITS:.*]] = llvm.bitcast %{{.*}} : f32 to i32
// CHECK: %[[PACKED:.*]] = llvm.call @gsEmuShuffle(%{{.*}}, %{{.*}}, %{{.*}}, %[[BITS]], %{{.*}}, %{{.*}}) : (i32, i32, i32, i32, i32, i32) -> i64
// CHECK: %[[LOW:.*]] = llvm.trunc %[[PACKED]] : i64 to i32
// CHECK: %[[VALUE:.*]] = llvm.bitcast %[[LOW]] : i32 to f32
// CHECK: %[[HIGH:.*]] = llvm.lshr %[[PACKED]], %{{.*}} : i64
// CHECK: %[[VALID:.*]] = llvm.trunc %[[HIGH]] : i64 to i1
// CHECK: llvm.insertvalue %[[VALUE]], %{{.*}}[0]
// CHECK: llvm.insertvalue %[[VALID]], %{{.*}}[1]

// The entry unpacks the parameters as CUDA passes them.
// The entry checks the launch against nvvm.maxntid (at most 32 x 1 x 1
// threads: the last argument, exact, is 0) before it runs the kernel.
// CHECK: llvm.func @__gs_emu_kernels_scale_entry(%[[ARGS:.*]]: !llvm.ptr) {
// CHECK: %[[X:.*]] = llvm.mlir.constant(32 : i32) : i32
// CHECK: %[[EXACT:.*]] = llvm.mlir.constant(0 : i32) : i32
// CHECK: %[[OK:.*]] = llvm.call @gsEmuCheckBlockSize(%[[X]], %{{.*}}, %{{.*}}, %[[EXACT]])
// CHECK: %[[HOLDS:.*]] = llvm.icmp "ne" %[[OK]]
// CHECK: llvm.cond_br %[[HOLDS]], ^[[BODY:.*]], ^[[REFUSE:[^ ]*]]
// CHECK: ^[[BODY]]:
// Its gpu.module's shared variable (32 x f32) is poisoned once per block.
// CHECK: %[[SHARED:.*]] = llvm.mlir.addressof @__gs_emu_kernels_shared : !llvm.ptr
// CHECK: %[[BYTES:.*]] = llvm.mlir.constant(128 : i64) : i64
// CHECK: llvm.call @gsEmuSharedMemory(%[[SHARED]], %[[BYTES]])
// CHECK: %[[A0:.*]] = llvm.getelementptr %[[ARGS]][0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[V0P:.*]] = llvm.load %[[A0]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[V0:.*]] = llvm.load %[[V0P]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[A1:.*]] = llvm.getelementptr %[[ARGS]][1] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[V1P:.*]] = llvm.load %[[A1]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[V1:.*]] = llvm.load %[[V1P]] : !llvm.ptr -> f32
// CHECK: llvm.call @__gs_emu_kernels_scale(%[[V0]], %[[V1]])
// CHECK-NEXT: llvm.return
// CHECK: ^[[REFUSE]]:
// CHECK-NEXT: llvm.return
module attributes {gpu.container_module} {
  llvm.func @host(%buf: !llvm.ptr, %x: f32, %n: i64) {
    %one = llvm.mlir.constant(1 : i64) : i64
    %threads = llvm.mlir.constant(32 : i64) : i64
    %stream = llvm.call @mgpuStreamCreate() : () -> !llvm.ptr
    gpu.launch_func <%stream : !llvm.ptr> @kernels::@scale
        blocks in (%n, %one, %one) threads in (%threads, %one, %one) : i64
        args(%buf : !llvm.ptr, %x : f32)
    llvm.call @mgpuStreamSynchronize(%stream) : (!llvm.ptr) -> ()
    llvm.call @mgpuStreamDestroy(%stream) : (!llvm.ptr) -> ()
    llvm.return
  }
  llvm.func @mgpuStreamCreate() -> !llvm.ptr
  llvm.func @mgpuStreamSynchronize(!llvm.ptr)
  llvm.func @mgpuStreamDestroy(!llvm.ptr)
  gpu.module @kernels {
    llvm.mlir.global private @table(dense<[1.0, 2.0]> : tensor<2xf32>) {addr_space = 1 : i32} : !llvm.array<2 x f32>
    llvm.mlir.global internal @shared() {addr_space = 3 : i32} : !llvm.array<32 x f32>
    llvm.func @scale(%out: !llvm.ptr, %s: f32) attributes {gpu.kernel, nvvm.kernel, nvvm.maxntid = array<i32: 32, 1, 1>} {
      %tid = nvvm.read.ptx.sreg.tid.x : i32
      %table = llvm.mlir.addressof @table : !llvm.ptr<1>
      %shared = llvm.mlir.addressof @shared : !llvm.ptr<3>
      %t = llvm.getelementptr %table[0, 1] : (!llvm.ptr<1>) -> !llvm.ptr<1>, !llvm.array<2 x f32>
      %v = llvm.load %t : !llvm.ptr<1> -> f32
      %slot = llvm.getelementptr %shared[0, %tid] : (!llvm.ptr<3>, i32) -> !llvm.ptr<3>, !llvm.array<32 x f32>
      %prod = llvm.fmul %v, %s : f32
      llvm.store %prod, %slot : f32, !llvm.ptr<3>
      nvvm.barrier0
      %generic = llvm.addrspacecast %slot : !llvm.ptr<3> to !llvm.ptr
      %w = llvm.load %generic : !llvm.ptr -> f32
      %mask = llvm.mlir.constant(-1 : i32) : i32
      %offset = llvm.mlir.constant(1 : i32) : i32
      %clamp = llvm.mlir.constant(31 : i32) : i32
      %r = nvvm.shfl.sync bfly %mask, %w, %offset, %clamp {return_value_and_is_valid} : f32 -> !llvm.struct<(f32, i1)>
      %value = llvm.extractvalue %r[0] : !llvm.struct<(f32, i1)>
      %out_slot = llvm.getelementptr %out[%tid] : (!llvm.ptr, i32) -> !llvm.ptr, f32
      llvm.store %value, %out_slot : f32, !llvm.ptr
      llvm.return
    }
  }
}

// -----

// gpu.known_block_size (the size the kernel's code assumes) makes the check
// exact, also next to nvvm.maxntid; a kernel with neither is not checked.

// CHECK-LABEL: llvm.func @__gs_emu_kernels_exact_entry(
// CHECK: %[[X:.*]] = llvm.mlir.constant(64 : i32) : i32
// CHECK: %[[Y:.*]] = llvm.mlir.constant(2 : i32) : i32
// CHECK: %[[Z:.*]] = llvm.mlir.constant(1 : i32) : i32
// CHECK: %[[EXACT:.*]] = llvm.mlir.constant(1 : i32) : i32
// CHECK: llvm.call @gsEmuCheckBlockSize(%[[X]], %[[Y]], %[[Z]], %[[EXACT]])
// CHECK-LABEL: llvm.func @__gs_emu_kernels_free_entry(
// CHECK-NOT: gsEmuCheckBlockSize
// CHECK: llvm.call @__gs_emu_kernels_free(
module attributes {gpu.container_module} {
  llvm.func @host(%buf: !llvm.ptr) {
    %one = llvm.mlir.constant(1 : i64) : i64
    %x = llvm.mlir.constant(64 : i64) : i64
    %y = llvm.mlir.constant(2 : i64) : i64
    gpu.launch_func @kernels::@exact blocks in (%one, %one, %one)
        threads in (%x, %y, %one) : i64 args(%buf : !llvm.ptr)
    gpu.launch_func @kernels::@free blocks in (%one, %one, %one)
        threads in (%x, %one, %one) : i64 args(%buf : !llvm.ptr)
    llvm.return
  }
  gpu.module @kernels {
    llvm.func @exact(%out: !llvm.ptr) attributes {gpu.kernel, nvvm.kernel, nvvm.maxntid = array<i32: 128, 1, 1>, gpu.known_block_size = array<i32: 64, 2, 1>} {
      llvm.return
    }
    llvm.func @free(%out: !llvm.ptr) attributes {gpu.kernel, nvvm.kernel} {
      llvm.return
    }
  }
}
