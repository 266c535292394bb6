// RUN: gs-opt %s -split-input-file -verify-diagnostics

// Every diagnostic of gs.multi_tensor_step and gs.view_address.

func.func @table_width(%table: memref<?x4xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
                       %stats: memref<?x2xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                       %partials: memref<?xf64>, %records: memref<?xf32>) {
  // expected-error @below {{expects a table of 5 columns (numel, param, grad and 2 (exp_avg, exp_avg_sq) moments of optimizer #gs.adamw<>), got 4}}
  gs.multi_tensor_step #gs.adamw<> table(%table : memref<?x4xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 1024 : i64}
  return
}

// -----

func.func @stats_shape(%table: memref<?x3xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
                       %stats: memref<?x3xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                       %partials: memref<?xf64>, %records: memref<?xf32>) {
  // expected-error @below {{expects stats of shape ?x2 (one [m, v] row per tensor), got 'memref<?x3xf64>'}}
  gs.multi_tensor_step #gs.sgd<> table(%table : memref<?x3xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x3xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 1024 : i64}
  return
}

// -----

func.func @counts_shape(%table: memref<?x3xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
                        %stats: memref<?x2xf64>, %counts: memref<?x1xi64>, %steps: memref<?xi64>,
                        %partials: memref<?xf64>, %records: memref<?xf32>) {
  // expected-error @below {{expects counts of shape ?x2 (one [k, skipped] row per tensor), got 'memref<?x1xi64>'}}
  gs.multi_tensor_step #gs.sgd<> table(%table : memref<?x3xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x1xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 1024 : i64}
  return
}

// -----

func.func @tensor_counts(%table: memref<3x3xi64>, %co: memref<4xi64>, %hyper: memref<?xf64>,
                         %stats: memref<2x2xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                         %partials: memref<?xf64>, %records: memref<?xf32>) {
  // expected-error @below {{stats describes 2 tensors but table describes 3}}
  gs.multi_tensor_step #gs.sgd<> table(%table : memref<3x3xi64>)
      chunk_offsets(%co : memref<4xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<2x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 1024 : i64}
  return
}

// -----

func.func @chunk_offsets_count(%table: memref<3x3xi64>, %co: memref<3xi64>, %hyper: memref<?xf64>,
                               %stats: memref<?x2xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                               %partials: memref<?xf64>, %records: memref<?xf32>) {
  // expected-error @below {{chunk_offsets describes 2 tensors but table describes 3}}
  gs.multi_tensor_step #gs.sgd<> table(%table : memref<3x3xi64>)
      chunk_offsets(%co : memref<3xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 1024 : i64}
  return
}

// -----

func.func @empty_chunk_offsets(%table: memref<?x3xi64>, %co: memref<0xi64>, %hyper: memref<?xf64>,
                               %stats: memref<?x2xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                               %partials: memref<?xf64>, %records: memref<?xf32>) {
  // expected-error @below {{expects chunk_offsets of N+1 entries, got 0}}
  gs.multi_tensor_step #gs.sgd<> table(%table : memref<?x3xi64>)
      chunk_offsets(%co : memref<0xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 1024 : i64}
  return
}

// -----

func.func @hyper_size(%table: memref<?x4xi64>, %co: memref<?xi64>, %hyper: memref<5xf64>,
                      %stats: memref<?x2xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                      %partials: memref<?xf64>, %records: memref<?xf32>) {
  // expected-error @below {{expects hyper of 7 entries (lr, weight_decay, gamma1, gamma2, eps, momentum, dampening), got 5}}
  gs.multi_tensor_step #gs.sgd<momentum = 0.9> table(%table : memref<?x4xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<5xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 1024 : i64}
  return
}

// -----

func.func @records_size(%table: memref<2x3xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
                        %stats: memref<?x2xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                        %partials: memref<?xf64>, %records: memref<16xf32>) {
  // expected-error @below {{expects records scratch of at least 32 f32 (16 per tensor), got 16}}
  gs.multi_tensor_step #gs.sgd<> table(%table : memref<2x3xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<16xf32>)
      {element_type = f32, chunk_size = 1024 : i64}
  return
}

// -----

func.func @workers_in_scalars(%table: memref<?x3xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
                              %stats: memref<?x2xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                              %partials: memref<?xf64>, %records: memref<?xf32>, %w: index) {
  // expected-error @below {{takes workers only in the norms and update phases, not in phase scalars}}
  gs.multi_tensor_step #gs.sgd<> table(%table : memref<?x3xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      workers(%w, %w) {element_type = f32, chunk_size = 1024 : i64, phase = #gs.phase<scalars>}
  return
}

// -----

func.func @element_type(%table: memref<?x3xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
                        %stats: memref<?x2xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                        %partials: memref<?xf64>, %records: memref<?xf32>) {
  // expected-error @+6 {{attribute 'element_type' failed to satisfy constraint: type attribute of 32-bit float or 16-bit float or bfloat16 type}}
  gs.multi_tensor_step #gs.sgd<> table(%table : memref<?x3xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f64, chunk_size = 1024 : i64}
  return
}

// -----

func.func @chunk_size(%table: memref<?x3xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
                      %stats: memref<?x2xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                      %partials: memref<?xf64>, %records: memref<?xf32>) {
  // expected-error @+6 {{attribute 'chunk_size' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  gs.multi_tensor_step #gs.sgd<> table(%table : memref<?x3xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 0 : i64}
  return
}

// -----

func.func @view_static(%a: i64, %n: index) {
  // expected-error @below {{expects a result of dynamic size (the length operand), got 'memref<4xf32>'}}
  %v = gs.view_address %a, %n : memref<4xf32>
  return
}

// -----

func.func @view_layout(%a: i64, %n: index) {
  // expected-error @below {{expects a result with an identity layout, got 'memref<?xf32, strided<[2]>>'}}
  %v = gs.view_address %a, %n : memref<?xf32, strided<[2]>>
  return
}

// -----

func.func @view_element(%a: i64, %n: index) {
  // expected-error @below {{expects a byte-sized integer or float element type, got 'i1'}}
  %v = gs.view_address %a, %n : memref<?xi1>
  return
}

// -----

func.func @store_in_norms(%table: memref<?x5xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
                          %stats: memref<?x2xf64>, %counts: memref<?x2xi64>,
                          %steps: memref<?xi64>, %partials: memref<?xf64>,
                          %records: memref<?xf32>) {
  // expected-error @below {{stores gradients in the update phase; phase norms writes none}}
  gs.multi_tensor_step #gs.adamw<> table(%table : memref<?x5xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 1024 : i64, phase = #gs.phase<norms>,
       store_gradients}
  return
}

// -----

func.func @element_types_one(%table: memref<?x6xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
    %stats: memref<?x2xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>,
    %partials: memref<?xf64>, %records: memref<?xf32>) {
  // expected-error @below {{expects element_types of at least two types (a table of one type needs only element_type)}}
  gs.multi_tensor_step #gs.adamw<> table(%table : memref<?x6xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, element_types = [f32], chunk_size = 1024 : i64}
  return
}

// -----

func.func @element_types_first(%table: memref<?x6xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
    %stats: memref<?x2xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>,
    %partials: memref<?xf64>, %records: memref<?xf32>) {
  // expected-error @below {{expects element_types to start with element_type ('f32'), got 'bf16'}}
  gs.multi_tensor_step #gs.adamw<> table(%table : memref<?x6xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, element_types = [bf16, f32], chunk_size = 1024 : i64}
  return
}

// -----

func.func @element_types_twice(%table: memref<?x6xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
    %stats: memref<?x2xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>,
    %partials: memref<?xf64>, %records: memref<?xf32>) {
  // expected-error @below {{lists element type 'f32' twice in element_types}}
  gs.multi_tensor_step #gs.adamw<> table(%table : memref<?x6xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, element_types = [f32, bf16, f32], chunk_size = 1024 : i64}
  return
}

// -----

func.func @element_types_kind(%table: memref<?x6xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
    %stats: memref<?x2xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>,
    %partials: memref<?xf64>, %records: memref<?xf32>) {
  // expected-error @below {{expects element_types of f32, f16 and bf16, got f64}}
  gs.multi_tensor_step #gs.adamw<> table(%table : memref<?x6xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, element_types = [f32, f64], chunk_size = 1024 : i64}
  return
}

// -----

func.func @element_types_width(%table: memref<?x5xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
    %stats: memref<?x2xf64>, %counts: memref<?x2xi64>, %steps: memref<?xi64>,
    %partials: memref<?xf64>, %records: memref<?xf32>) {
  // expected-error @below {{expects a table of 6 columns (numel, param, grad and 2 (exp_avg, exp_avg_sq) moments of optimizer #gs.adamw<>, the element type index), got 5}}
  gs.multi_tensor_step #gs.adamw<> table(%table : memref<?x5xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, element_types = [f32, bf16], chunk_size = 1024 : i64}
  return
}

// -----

func.func @bias_corrections_sgd(%table: memref<?x4xi64>, %co: memref<?xi64>, %hyper: memref<?xf64>,
                                %stats: memref<?x2xf64>, %counts: memref<?x2xi64>,
                                %steps: memref<?xi64>, %partials: memref<?xf64>,
                                %records: memref<?xf32>) {
  // expected-error @below {{takes bias_corrections only for optimizers with bias correction; optimizer #gs.sgd<momentum = 0.9> has none}}
  gs.multi_tensor_step #gs.sgd<momentum = 0.9> table(%table : memref<?x4xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<?xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 1024 : i64, bias_corrections}
  return
}

// -----

func.func @bias_corrections_hyper_size(%table: memref<?x5xi64>, %co: memref<?xi64>,
                                       %hyper: memref<8xf64>, %stats: memref<?x2xf64>,
                                       %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                                       %partials: memref<?xf64>, %records: memref<?xf32>) {
  // expected-error @below {{expects hyper of 10 entries (lr, weight_decay, gamma1, gamma2, eps, beta1, beta2, eps, bias_correction1, bias_correction2), got 8}}
  gs.multi_tensor_step #gs.adam<> table(%table : memref<?x5xi64>)
      chunk_offsets(%co : memref<?xi64>) hyper(%hyper : memref<8xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      {element_type = f32, chunk_size = 1024 : i64, bias_corrections}
  return
}
