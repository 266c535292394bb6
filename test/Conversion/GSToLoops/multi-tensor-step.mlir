// RUN: gs-opt %s --convert-gs-to-loops --canonicalize --cse -split-input-file | FileCheck %s

// gs.multi_tensor_step becomes one loop nest per phase, whatever the number
// of tensors: a worker's chunks, each chunk's tensor found by binary search
// over the run-time chunk offsets, its buffers viewed from the table.

// CHECK-LABEL: func @adamw_f32
// CHECK-SAME: (%[[TABLE:[a-z0-9]+]]: memref<?x5xi64>, %[[CO:[a-z0-9]+]]: memref<?xi64>, %[[HYPER:[a-z0-9]+]]: memref<?xf64>, %[[STATS:[a-z0-9]+]]: memref<?x2xf64>, %[[COUNTS:[a-z0-9]+]]: memref<?x2xi64>, %[[STEPS:[a-z0-9]+]]: memref<?xi64>, %[[PARTIALS:[a-z0-9]+]]: memref<?xf64>, %[[RECORDS:[a-z0-9]+]]: memref<?xf32>)
// Phase 1: every chunk's sum of squares, f64, 16 lanes plus the scalar tail.
// CHECK: %[[N:.*]] = memref.dim %[[TABLE]], %c0
// CHECK: scf.for %[[CHUNK:.*]] = %c0 to %{{.*}} step %c1 {
// CHECK:   scf.while
// CHECK:   %[[G:.*]] = gs.view_address %{{.*}}, %{{.*}} : memref<?xf32>
// CHECK:   scf.for {{.*}} iter_args(%{{.*}} = %{{.*}}) -> (vector<16xf64>)
// CHECK:     vector.load %[[G]][%{{.*}}] : memref<?xf32>, vector<16xf32>
// CHECK:     arith.extf %{{.*}} : vector<16xf32> to vector<16xf64>
// CHECK:   scf.for {{.*}} -> (f64)
// CHECK:   vector.reduction <add>, %{{.*}} : vector<16xf64> into f64
// CHECK:   memref.store %{{.*}}, %[[PARTIALS]][%[[CHUNK]]] : memref<?xf64>
// Phase 2: per tensor, its partials in chunk order, the GS and optimizer
// scalars from the run-time hyperparameters, the new state and the record.
// CHECK: scf.for %[[T:.*]] = %c0 to %[[N]] step %c1 {
// CHECK:   scf.for {{.*}} -> (f64)
// CHECK:     memref.load %[[PARTIALS]]
// CHECK:   math.sqrt %{{.*}} : f64
// CHECK:   memref.store %{{.*}}, %[[STATS]][%[[T]], %c0] : memref<?x2xf64>
// CHECK:   memref.store %{{.*}}, %[[STEPS]][%[[T]]] : memref<?xi64>
// CHECK:   memref.store %{{.*}}, %[[RECORDS]][%{{.*}}] : memref<?xf32>
// Phase 3: the fused update of enabled tensors' chunks, 8 f32 lanes.
// CHECK: scf.for %{{.*}} = %c0 to %{{.*}} step %c1 {
// CHECK:   scf.if %{{.*}} {
// CHECK-COUNT-4: gs.view_address %{{.*}}, %{{.*}} : memref<?xf32>
// CHECK:     scf.for
// CHECK-COUNT-4: vector.load %{{.*}} : memref<?xf32>, vector<8xf32>
// CHECK:       math.sqrt %{{.*}} : vector<8xf32>
// CHECK-COUNT-3: vector.store %{{.*}} : memref<?xf32>, vector<8xf32>
// The elements after the last whole vector, one at a time.
// CHECK:     scf.for
// CHECK-COUNT-4: memref.load %{{.*}} : memref<?xf32>
// CHECK-COUNT-3: memref.store %{{.*}} : memref<?xf32>
// CHECK-NOT: scf.for
// CHECK: return
func.func @adamw_f32(%table: memref<?x5xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
                     %stats: memref<?x2xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                     %partials: memref<?xf64>, %records: memref<?xf32>) {
  gs.multi_tensor_step #gs.adamw<> table(%table : memref<?x5xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 1024 : i64}
  return
}

// -----

// A worker's share: chunks w, w + W, ... of the norms phase only; bf16
// widened to f64.

// CHECK-LABEL: func @norms_worker
// CHECK-SAME: %[[W:[a-z0-9]+]]: index, %[[NW:[a-z0-9]+]]: index)
// CHECK: scf.for %{{.*}} = %[[W]] to %{{.*}} step %[[NW]] {
// CHECK:   gs.view_address %{{.*}}, %{{.*}} : memref<?xbf16>
// CHECK:   arith.extf %{{.*}} : vector<16xbf16> to vector<16xf64>
// CHECK-NOT: memref.store %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] : memref<?x2xf64>
// CHECK: return
func.func @norms_worker(%table: memref<?x4xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
                        %stats: memref<?x2xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                        %partials: memref<?xf64>, %records: memref<?xf32>,
                        %w: index, %nw: index) {
  gs.multi_tensor_step #gs.lion<> table(%table : memref<?x4xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      workers(%w, %nw)
      {element_type = bf16, chunk_size = 1024 : i64, phase = #gs.phase<norms>}
  return
}

// -----

// With a loss scale, a first pass over the norms decides the group-wide skip.

// CHECK-LABEL: func @scalars_inv_scale
// CHECK: memref.load %{{.*}}[] : memref<f32>
// CHECK: arith.extf %{{.*}} : f32 to f64
// CHECK: memref.load %{{.*}}[] : memref<f32>
// CHECK: arith.cmpf une
// CHECK: scf.for {{.*}} -> (i1)
// CHECK: scf.for
// CHECK-NOT: vector.load
// CHECK: return
func.func @scalars_inv_scale(%table: memref<?x3xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
                             %stats: memref<?x2xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                             %partials: memref<?xf64>, %records: memref<?xf32>,
                             %inv: memref<f32>, %found: memref<f32>) {
  gs.multi_tensor_step #gs.sgd<> table(%table : memref<?x3xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      inv_scale(%inv : memref<f32>) found_inf(%found : memref<f32>)
      {element_type = f16, chunk_size = 64 : i64, phase = #gs.phase<scalars>}
  return
}

// -----

// store_gradients: the update also writes the stabilized gradient (the
// value the optimizer steps with) into the gradient's view.

// CHECK-LABEL: func.func @store_gradients(
// CHECK:         scf.for
// CHECK:           scf.if
// CHECK:             %[[PARAM:.*]] = gs.view_address
// CHECK:             %[[GRAD:.*]] = gs.view_address
// CHECK:             scf.for
// CHECK:               %[[G:.*]] = arith.mulf %{{.*}}, %{{.*}} : vector<8xf32>
// CHECK:               %[[STABILIZED:.*]] = arith.mulf %[[G]], %{{.*}} : vector<8xf32>
// CHECK:               vector.store %{{.*}}, %[[PARAM]]
// CHECK-NEXT:          vector.store %[[STABILIZED]], %[[GRAD]]
func.func @store_gradients(%table: memref<?x3xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
                           %stats: memref<?x2xf64>, %counts: memref<?x2xi64>,
                           %steps: memref<?xi64>, %partials: memref<?xf64>,
                           %records: memref<?xf32>) {
  gs.multi_tensor_step #gs.sgd<> table(%table : memref<?x3xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 1024 : i64, phase = #gs.phase<update>,
       store_gradients}
  return
}

// -----

// element_types: a chunk's body is chosen by its row's type index (the
// table's last column), one case per element type; the norms loop is still
// one loop over all chunks.

// CHECK-LABEL: func.func @mixed_norms(
// CHECK-SAME:    %[[TABLE:.*]]: memref<?x4xi64>
// CHECK:         scf.for
// CHECK:           %[[INDEX:.*]] = memref.load %[[TABLE]][%{{.*}}, %c3]
// CHECK:           %[[CASE:.*]] = arith.index_cast %[[INDEX]]
// CHECK:           scf.index_switch %[[CASE]]
// CHECK-NEXT:      case 0 {
// CHECK:             vector.load {{.*}} : memref<?xf32>, vector<16xf32>
// CHECK:           case 1 {
// CHECK:             vector.load {{.*}} : memref<?xbf16>, vector<16xbf16>
// CHECK:           default {
// CHECK-NEXT:      }
// CHECK-NOT:     scf.index_switch
func.func @mixed_norms(%table: memref<?x4xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
                       %stats: memref<?x2xf64>, %counts: memref<?x2xi64>,
                       %steps: memref<?xi64>, %partials: memref<?xf64>,
                       %records: memref<?xf32>) {
  gs.multi_tensor_step #gs.sgd<> table(%table : memref<?x4xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, element_types = [f32, bf16], chunk_size = 1024 : i64,
       phase = #gs.phase<norms>}
  return
}

// -----

// With bias_corrections the scalars phase reads Adam's bias corrections
// from hyper[8] and hyper[9] (after lr, weight_decay, gamma1, gamma2, eps,
// beta1, beta2, eps): lr / bc1 and sqrt(bc2), no power of beta (the
// stabilizer's own bias correction is off here, so no power at all).

// CHECK-LABEL: func @adam_given_bias_corrections
// CHECK-SAME: %[[HYPER:[a-z0-9]+]]: memref<?xf64>
// CHECK-DAG: %[[LR:.*]] = memref.load %[[HYPER]][%c0] : memref<?xf64>
// CHECK-DAG: %[[BC1:.*]] = memref.load %[[HYPER]][%c8] : memref<?xf64>
// CHECK-DAG: %[[BC2:.*]] = memref.load %[[HYPER]][%c9] : memref<?xf64>
// CHECK-NOT: scf.while
// CHECK: arith.divf %[[LR]], %[[BC1]] : f64
// CHECK: math.sqrt %[[BC2]] : f64
// CHECK-NOT: scf.while
// CHECK: return
// The same step computing them from the step count raises beta to it.
// CHECK-LABEL: func @adam_computed_bias_corrections
// CHECK: scf.while
// CHECK: return
func.func @adam_given_bias_corrections(%table: memref<?x5xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
                                       %stats: memref<?x2xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                                       %partials: memref<?xf64>, %records: memref<?xf32>) {
  gs.multi_tensor_step #gs.adam<> config #gs.stabilizer<bias_correction = false>
      table(%table : memref<?x5xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 1024 : i64, phase = #gs.phase<scalars>,
       bias_corrections}
  return
}
func.func @adam_computed_bias_corrections(%table: memref<?x5xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
                                          %stats: memref<?x2xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                                          %partials: memref<?xf64>, %records: memref<?xf32>) {
  gs.multi_tensor_step #gs.adam<> config #gs.stabilizer<bias_correction = false>
      table(%table : memref<?x5xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 1024 : i64, phase = #gs.phase<scalars>}
  return
}
