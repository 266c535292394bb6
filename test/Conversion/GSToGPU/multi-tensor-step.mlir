// RUN: gs-opt %s --convert-gs-to-gpu --split-input-file | FileCheck %s

// A multi-tensor step over run-time tables: three launches on one stream,
// each kernel taking the device addresses of the buffers it needs, N, the
// table's rows, and, when it reads the table, its columns (so the norms
// kernel serves every optimizer); norms and update get max-blocks blocks
// (the number of chunks is in device memory).

// CHECK-LABEL: func.func @adamw_bf16(
// CHECK-SAME:      %[[TABLE:[a-z0-9]+]]: memref<?x5xi64>, %[[CO:[a-z0-9]+]]: memref<?xi64>,
// CHECK-SAME:      %[[PARTIALS:[a-z0-9]+]]: memref<?xf64>, %[[RECORDS:[a-z0-9]+]]: memref<?xf32>,
// CHECK:         %[[T0:.*]] = gpu.wait async
// CHECK:         %[[N:.*]] = memref.dim %[[TABLE]], %{{.*}} : memref<?x5xi64>
// CHECK:         %[[W:.*]] = memref.dim %[[TABLE]], %{{.*}} : memref<?x5xi64>
// CHECK:         %[[PTABLE:.*]] = memref.extract_aligned_pointer_as_index %[[TABLE]]
// CHECK:         %[[ATABLE:.*]] = arith.index_cast %[[PTABLE]] : index to i64
// CHECK:         %[[T1:.*]] = gpu.launch_func async [%[[T0]]] @gs_multi_tensor_step::@norms blocks in (%c1024, %[[ONE:c1(_[0-9]+)?]], %[[ONE]]) threads in (%c256, %[[ONE]], %[[ONE]])
// CHECK-SAME:      args(%[[ATABLE]] : i64, %{{.*}} : i64, %{{.*}} : i64, %[[N]] : index, %[[W]] : index)
// CHECK:         %[[T2:.*]] = gpu.launch_func async [%[[T1]]] @gs_multi_tensor_step::@scalars blocks in (%c1{{(_[0-9]+)?}}, %[[ONE]], %[[ONE]])
// CHECK-SAME:      args(%{{.*}} : i64, %{{.*}} : i64, %{{.*}} : i64, %{{.*}} : i64, %{{.*}} : i64, %{{.*}} : i64, %{{.*}} : i64, %{{.*}} : i64, %{{.*}} : i64, %[[N]] : index)
// CHECK:         %[[T3:.*]] = gpu.launch_func async [%[[T2]]] @gs_multi_tensor_step::@update blocks in (%c1024{{(_[0-9]+)?}}, %[[ONE]], %[[ONE]])
// CHECK-SAME:      args(%{{.*}} : i64, %{{.*}} : i64, %{{.*}} : i64, %[[N]] : index, %[[W]] : index)
// CHECK:         gpu.wait [%[[T3]]]
// CHECK-NOT:     gpu.launch_func
// CHECK:         return

// No globals, no per-tensor switch: the buffers are views of the addresses.
// CHECK:       gpu.module @gs_multi_tensor_step {
// CHECK-NOT:     memref.global
// CHECK-NOT:     scf.index_switch

// Norms: the chunk table from its address, grid-stride over chunk_offsets[N]
// chunks, the tensor by binary search, its gradient viewed from the table,
// 16-byte loads shared by the block's threads, the fixed-order block sum.
// CHECK:         gpu.func @norms(%[[A_TABLE:.*]]: i64, %[[A_CO:.*]]: i64, %[[A_PARTIALS:.*]]: i64, %[[A_N:.*]]: index, %[[A_W:.*]]: index)
// CHECK-SAME:      workgroup(%[[SHARED:.*]] : memref<8xf64, #gpu.address_space<workgroup>>) kernel
// CHECK-SAME:      known_block_size = array<i32: 256, 1, 1>
// CHECK:           %[[VCO:.*]] = gs.view_address %[[A_CO]], %{{.*}} : memref<?xi64, #gpu.address_space<global>>
// CHECK:           %[[CHUNKS64:.*]] = memref.load %[[VCO]][%[[A_N]]]
// CHECK:           %[[CHUNKS:.*]] = arith.index_cast %[[CHUNKS64]]
// CHECK:           %[[VTABLE:.*]] = gs.view_address %[[A_TABLE]]
// CHECK:           memref.reinterpret_cast %[[VTABLE]] to offset: [0], sizes: [%[[A_N]], %[[A_W]]], strides: [%[[A_W]], 1]
// CHECK:           %[[VPARTIALS:.*]] = gs.view_address %[[A_PARTIALS]], %[[CHUNKS]] : memref<?xf64, #gpu.address_space<global>>
// CHECK:           %[[BLOCK:.*]] = gpu.block_id x
// CHECK:           %[[GRID:.*]] = gpu.grid_dim x
// CHECK:           scf.for %[[CHUNK:.*]] = %[[BLOCK]] to %[[CHUNKS]] step %[[GRID]] {
// CHECK:             scf.while
// CHECK:             %[[GRAD:.*]] = gs.view_address %{{.*}}, %{{.*}} : memref<?xbf16, #gpu.address_space<global>>
// CHECK:             memref.extract_aligned_pointer_as_index %[[GRAD]]
// CHECK:             %[[THREADS:.*]] = gpu.block_dim x
// CHECK:             scf.for %{{.*}} = %{{.*}} to %{{.*}} step %[[THREADS]] iter_args
// CHECK:               vector.load %[[GRAD]][%{{.*}}] {alignment = 16 : i64} : memref<?xbf16, #gpu.address_space<global>>, vector<8xbf16>
// CHECK:             scf.for %{{.*}} = %{{.*}} to %{{.*}} step %[[THREADS]] iter_args
// CHECK:               memref.load %[[GRAD]]
// CHECK-COUNT-5:     gpu.shuffle xor
// CHECK:             gpu.barrier
// CHECK:             memref.store %{{.*}}, %[[VPARTIALS]][%[[CHUNK]]] : memref<?xf64, #gpu.address_space<global>>
// CHECK:             gpu.barrier
// CHECK-NOT:       atomic

// Scalars: one block; with a loss scale a first pass over the norms decides
// the step-wide skip; then each warp takes tiles of 32 tensors, sums their
// partials again one tensor at a time, and lane k runs the GS math of the
// tile's tensor k and writes its record.
// CHECK:         gpu.func @scalars(%{{.*}}: i64, %[[S_HYPER:.*]]: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %[[S_N:.*]]: index)
// CHECK-SAME:      workgroup(%[[FLAG:.*]] : memref<1xi32, #gpu.address_space<workgroup>>) kernel
// CHECK:           gs.view_address %[[S_HYPER]], %c8 : memref<?xf64, #gpu.address_space<global>>
// CHECK:           scf.for %{{.*}} = %{{.*}} to %[[S_N]] step %c8
// CHECK:             math.sqrt
// CHECK:             memref.store %{{.*}}, %[[FLAG]]
// CHECK:           gpu.barrier
// CHECK:           scf.for %[[FIRST:.*]] = %{{.*}} to %[[S_N]] step %c256
// CHECK:             %[[TILE:.*]] = arith.minui
// CHECK:             %[[NORM:.*]] = scf.for %{{.*}} = %c0 to %[[TILE]] step %c1{{.*}} iter_args
// CHECK:               gpu.shuffle xor
// CHECK:               math.sqrt
// CHECK:               arith.select
// CHECK:             %[[LANE_IN:.*]] = arith.cmpi ult, %{{.*}}, %[[TILE]]
// CHECK:             scf.if %[[LANE_IN]] {
// CHECK:               %[[T:.*]] = arith.addi %[[FIRST]], %{{.*}} : index
// CHECK:               memref.store %{{.*}}, %{{.*}}[%[[T]], %{{.*}}] : memref<?x2xf64, #gpu.address_space<global>>

// Update: the record of the chunk's tensor, then its buffers if enabled.
// CHECK:         gpu.func @update(%{{.*}}: i64, %{{.*}}: i64, %{{.*}}: i64, %{{.*}}: index, %{{.*}}: index) kernel
// CHECK:           scf.for
// CHECK:             scf.while
// CHECK:             scf.if
// CHECK-COUNT-4:       gs.view_address {{.*}} : memref<?xbf16, #gpu.address_space<global>>
// CHECK:               vector.store %{{.*}} {alignment = 16 : i64} : memref<?xbf16, #gpu.address_space<global>>, vector<8xbf16>
// CHECK:               memref.store %{{.*}} : memref<?xbf16, #gpu.address_space<global>>
// CHECK-NOT:     gpu.func
// CHECK:       }
func.func @adamw_bf16(%table: memref<?x5xi64>, %co: memref<?xi64>,
                      %partials: memref<?xf64>, %records: memref<?xf32>,
                      %hyper: memref<8xf64>, %stats: memref<?x2xf64>,
                      %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                      %inv: memref<f32>, %found: memref<f32>) {
  gs.multi_tensor_step #gs.adamw<> config #gs.stabilizer<on_nonfinite = zero>
      table(%table : memref<?x5xi64>) chunk_offsets(%co : memref<?xi64>)
      hyper(%hyper : memref<8xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      inv_scale(%inv : memref<f32>) found_inf(%found : memref<f32>)
      {element_type = bf16, chunk_size = 4096 : i64}
  return
}

// -----

// Kernels depend on the step's structure only: a step with other static
// shapes and other numbers in its optimizer attribute launches the same
// kernels; another element type gets its own. A single phase is a single
// launch, and only its kernel is built. A chunk of 6 f32 is not a whole
// number of 16-byte vectors, so that step's kernel never takes the vector
// path.

// CHECK-LABEL: func.func @shared_kernels(
// CHECK:         gpu.launch_func async [%{{.*}}] @gs_multi_tensor_step::@norms
// CHECK:         gpu.launch_func async [%{{.*}}] @gs_multi_tensor_step::@scalars
// CHECK:         gpu.launch_func async [%{{.*}}] @gs_multi_tensor_step::@update
// CHECK:         gpu.launch_func async [%{{.*}}] @gs_multi_tensor_step::@norms
// CHECK:         gpu.launch_func async [%{{.*}}] @gs_multi_tensor_step::@scalars
// CHECK:         gpu.launch_func async [%{{.*}}] @gs_multi_tensor_step::@update
// CHECK:         %[[T:.*]] = gpu.wait async
// CHECK-NEXT:    arith.constant
// CHECK:         %[[U:.*]] = gpu.launch_func async [%[[T]]] @[[F16:gs_multi_tensor_step_[0-9]+]]::@update
// CHECK-NEXT:    gpu.wait [%[[U]]]
// CHECK:         %[[T:.*]] = gpu.launch_func async [%{{.*}}] @[[SMALL:gs_multi_tensor_step_[0-9]+]]::@update
// CHECK-NEXT:    gpu.wait [%[[T]]]
// CHECK:       gpu.module @gs_multi_tensor_step {
// CHECK:       gpu.module @[[F16]] {
// CHECK:           vector.load {{.*}} vector<8xf16>
// CHECK:       gpu.module @[[SMALL]] {
// CHECK-NOT:     gpu.func @norms
// CHECK:         gpu.func @update
// CHECK:           %[[NO:.*]] = arith.constant false
// CHECK:           arith.select %[[NO]]
// CHECK-NOT:   gpu.module
func.func @shared_kernels(%table: memref<?x4xi64>, %co: memref<?xi64>,
                          %hyper: memref<7xf64>, %stats: memref<?x2xf64>,
                          %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                          %partials: memref<?xf64>, %records: memref<?xf32>,
                          %table3: memref<3x4xi64>, %co3: memref<4xi64>,
                          %stats3: memref<3x2xf64>, %counts3: memref<3x2xi64>,
                          %steps3: memref<3xi64>, %records3: memref<48xf32>) {
  gs.multi_tensor_step #gs.sgd<momentum = 0.9>
      table(%table : memref<?x4xi64>) chunk_offsets(%co : memref<?xi64>)
      hyper(%hyper : memref<7xf64>) stats(%stats : memref<?x2xf64>)
      counts(%counts : memref<?x2xi64>) steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 1024 : i64}
  gs.multi_tensor_step #gs.sgd<momentum = 0.5, dampening = 0.1>
      table(%table3 : memref<3x4xi64>) chunk_offsets(%co3 : memref<4xi64>)
      hyper(%hyper : memref<7xf64>) stats(%stats3 : memref<3x2xf64>)
      counts(%counts3 : memref<3x2xi64>) steps(%steps3 : memref<3xi64>)
      scratch(%partials, %records3 : memref<?xf64>, memref<48xf32>)
      {element_type = f32, chunk_size = 1024 : i64}
  gs.multi_tensor_step #gs.sgd<momentum = 0.9>
      table(%table : memref<?x4xi64>) chunk_offsets(%co : memref<?xi64>)
      hyper(%hyper : memref<7xf64>) stats(%stats : memref<?x2xf64>)
      counts(%counts : memref<?x2xi64>) steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f16, chunk_size = 1024 : i64, phase = #gs.phase<update>}
  gs.multi_tensor_step #gs.sgd<momentum = 0.9>
      table(%table : memref<?x4xi64>) chunk_offsets(%co : memref<?xi64>)
      hyper(%hyper : memref<7xf64>) stats(%stats : memref<?x2xf64>)
      counts(%counts : memref<?x2xi64>) steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 6 : i64, phase = #gs.phase<update>}
  return
}

// -----

// Given bias corrections: the scalars kernel views hyper with its two extra
// entries and reads them (hyper[8], hyper[9]) instead of raising the betas
// to the step count.
// CHECK-LABEL: func.func @adam_bias_corrections(
// CHECK:         gpu.func @scalars(
// CHECK:           %[[H:.*]] = gs.view_address %{{.*}}, %c10 : memref<?xf64, #gpu.address_space<global>>
// CHECK:           memref.load %[[H]][%c7] : memref<?xf64, #gpu.address_space<global>>
// CHECK:           memref.load %[[H]][%c8{{(_[0-9]+)?}}] : memref<?xf64, #gpu.address_space<global>>
// CHECK:           memref.load %[[H]][%c9] : memref<?xf64, #gpu.address_space<global>>
// CHECK:         gpu.func @update(
func.func @adam_bias_corrections(%table: memref<?x5xi64>, %co: memref<?xi64>,
                                 %partials: memref<?xf64>, %records: memref<?xf32>,
                                 %hyper: memref<10xf64>, %stats: memref<?x2xf64>,
                                 %counts: memref<?x2xi64>, %steps: memref<?xi64>) {
  gs.multi_tensor_step #gs.adam<>
      table(%table : memref<?x5xi64>) chunk_offsets(%co : memref<?xi64>)
      hyper(%hyper : memref<10xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 4096 : i64, bias_corrections}
  return
}
