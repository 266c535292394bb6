// A generic AdamW step on bf16 tensors with a loss scale: every buffer is a
// function argument of dynamic size, nothing to bufferize.
func.func @step(%table: memref<?x5xi64>, %co: memref<?xi64>,
                %hyper: memref<8xf64>, %stats: memref<?x2xf64>,
                %counts: memref<?x2xi64>, %steps: memref<?xi64>,
                %partials: memref<?xf64>, %records: memref<?xf32>,
                %inv: memref<f32>, %found: memref<f32>) {
  gs.multi_tensor_step #gs.adamw<> config #gs.stabilizer<on_nonfinite = zero>
      table(%table : memref<?x5xi64>) chunk_offsets(%co : memref<?xi64>)
      hyper(%hyper : memref<8xf64>)
      stats(%stats : memref<?x2xf64>) counts(%counts : memref<?x2xi64>)
      steps(%steps : memref<?xi64>)
      scratch(%partials, %records : memref<?xf64>, memref<?xf32>)
      inv_scale(%inv : memref<f32>) found_inf(%found : memref<f32>)
      {element_type = bf16, chunk_size = 16384 : i64}
  return
}
