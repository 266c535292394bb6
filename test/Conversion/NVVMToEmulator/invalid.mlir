// RUN: gs-opt %s --convert-nvvm-kernels-to-emulator --split-input-file --verify-diagnostics

module attributes {gpu.container_module} {
  gpu.module @kernels {
    llvm.func @clock(%out: !llvm.ptr) attributes {gpu.kernel, nvvm.kernel} {
      // expected-error @below {{'nvvm.read.ptx.sreg.clock' op has no model in the GPU emulator}}
      %c = nvvm.read.ptx.sreg.clock : i32
      llvm.store %c, %out : i32, !llvm.ptr
      llvm.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    // expected-error @below {{'llvm.func' op is a kernel-side declaration, which the GPU emulator cannot provide}}
    llvm.func @__nv_sqrt(f64) -> f64
  }
}

// -----

module attributes {gpu.container_module} {
  // expected-error @below {{'llvm.func' op calls 'mgpuModuleLoad', which the GPU emulator does not provide}}
  llvm.func @mgpuModuleLoad(!llvm.ptr, i64) -> !llvm.ptr
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    // expected-error @below {{'gpu.func' op in a gpu.module is not supported by the GPU emulator; lower the kernels to NVVM first}}
    gpu.func @k() kernel {
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  llvm.func @host(%n: i64) {
    // expected-error @below {{'gpu.launch_func' op launches 'kernels::k', which is not an NVVM kernel of this module}}
    gpu.launch_func @kernels::@k blocks in (%n, %n, %n) threads in (%n, %n, %n) : i64
    llvm.return
  }
  // Already serialized: nothing the emulator can run.
  gpu.binary @kernels [#gpu.object<#nvvm.target, "PTX">]
}

// -----

module attributes {gpu.container_module} {
  llvm.func @host(%n: i64, %x: i32) {
    // expected-error @below {{'gpu.launch_func' op passes arguments of other types than kernel 'kernels::k' takes}}
    gpu.launch_func @kernels::@k blocks in (%n, %n, %n) threads in (%n, %n, %n) : i64 args(%x : i32)
    llvm.return
  }
  gpu.module @kernels {
    llvm.func @k(%a: f32) attributes {gpu.kernel, nvvm.kernel} {
      llvm.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  func.func @host(%n: index) {
    // expected-error @below {{'gpu.launch_func' op still returns an async token; run gpu-to-llvm before the GPU emulator conversion}}
    %t = gpu.launch_func async @kernels::@k blocks in (%n, %n, %n) threads in (%n, %n, %n)
    return
  }
  gpu.module @kernels {
    llvm.func @k() attributes {gpu.kernel, nvvm.kernel} {
      llvm.return
    }
  }
}
