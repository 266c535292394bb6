"""Asks libgs_gpu_kernels (argv[1]) for the image of device 0 under the
stand-in CUDA driver (in argv[2]) set to each compute capability, one
process per capability (the runtime keeps a device's image for the
process). Prints "sm_XY: <the error>" per capability."""

import ctypes
import os
import subprocess
import sys

if len(sys.argv) == 4:  # a child: one capability
    lib = ctypes.CDLL(sys.argv[1])
    lib.gsGpuKernelImage.argtypes = [ctypes.c_int]
    lib.gsGpuKernelImage.restype = ctypes.c_char_p
    lib.gsGpuLastError.restype = ctypes.c_char_p
    image = lib.gsGpuKernelImage(0)
    print(f"sm_{sys.argv[3].replace('.', '')}: "
          f"{image.decode() if image else lib.gsGpuLastError().decode()}")
    sys.exit(0)

for capability in ("9.0", "8.6", "10.0", "8.9", "7.5", "7.0", "6.1"):
    env = dict(os.environ, LD_LIBRARY_PATH=sys.argv[2], GS_FAKE_CUDA_DEVICE=capability)
    out = subprocess.run([sys.executable, __file__, sys.argv[1], sys.argv[2], capability],
                         env=env, capture_output=True, text=True, check=True)
    sys.stdout.write(out.stdout)
print("PASSED")
