"""The CUDA path of the compiled backend. Without a GPU: a step compiles
(kernels as PTX, host code JIT-compiled) and running it raises an error with
CUDA's message instead of crashing. With a GPU: GSWrapper on CUDA tensors
agrees with the CPU compiled backend."""

import pytest
import torch

from gradient_stabilizer import GSWrapper
from gradient_stabilizer import _compiler as C


def _gpu_toolchain():
    try:
        C.capi()
        C.cuda_runtime()
    except C.CompilerError as error:
        return str(error)
    return None


pytestmark = pytest.mark.skipif(_gpu_toolchain() is not None,
                                reason=f"no C API / GPU runtime: {_gpu_toolchain()}")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_gpu_step_without_gpu_reports_the_driver_error():
    sig = C.StepSignature(shapes=((1000,), (8, 8)), dtypes=("f32", "bf16"),
                          optimizer="#gs.adamw<>", num_moments=2, target="sm_90")
    step = C.CompiledStep(sig)
    assert step.compiler == "jit"
    # Dummy device addresses: without a driver no kernel runs, so nothing
    # dereferences them.
    fake = 1 << 20
    for _ in range(2):  # the error is reported again; the process is fine
        with pytest.raises(RuntimeError, match="CUDA"):
            step([fake] * 2, [fake] * 2, [fake] * 4, fake, fake, fake, 1e-3, 0.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_matches_cpu(dtype):
    def run(device):
        torch.manual_seed(0)
        params = [torch.nn.Parameter(torch.randn(s, dtype=dtype, device=device))
                  for s in [(1000,), (37, 5), ()]]
        opt = GSWrapper(torch.optim.AdamW(params, lr=1e-2, weight_decay=0.1),
                        backend="compiled")
        gen = torch.Generator().manual_seed(1)
        for _ in range(5):
            for p in params:
                p.grad = torch.randn(p.shape, generator=gen).to(dtype).to(device)
            opt.step()
        torch.cuda.synchronize()
        return [p.detach().float().cpu() for p in params], opt
    cpu, _ = run("cpu")
    gpu, opt = run("cuda")
    tol = 1e-5 if dtype == torch.float32 else 1e-2
    for a, b in zip(cpu, gpu):
        torch.testing.assert_close(b, a, rtol=tol, atol=tol)
    assert all(s["k"] == 5 for s in opt.scaler.state.values())
