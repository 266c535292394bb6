"""The CUDA path of the compiled backend. Without a GPU: a step compiles
(kernels as PTX, host code JIT-compiled) and running it raises an error with
CUDA's message instead of crashing, and the same compile path with the GPU
emulator as its runtime agrees with the CPU step. With a GPU: GSWrapper on
CUDA tensors agrees with the CPU compiled backend."""

import pytest
import torch

from gradient_stabilizer import GSWrapper
from gradient_stabilizer import _compiler as C


def _missing(runtime):
    """Why the C API or `runtime` cannot load, or None."""
    try:
        C.capi()
        runtime()
    except C.CompilerError as error:
        return str(error)
    return None


pytestmark = pytest.mark.skipif(_missing(C.cuda_runtime) is not None,
                                reason=f"no C API / GPU runtime: {_missing(C.cuda_runtime)}")


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


@pytest.mark.skipif(_missing(C.gpu_emulator) is not None,
                    reason=f"no GPU emulator: {_missing(C.gpu_emulator)}")
@pytest.mark.parametrize("dtype", ["f32", "bf16"])
def test_gpu_kernels_under_the_emulator_match_the_cpu_step(dtype):
    """The CUDA compile path (gs-to-nvvm's kernels, host code JIT-compiled
    through the C API, errors through the runtime adapter) with the emulator
    as its runtime, on host buffers, against the CPU lowering."""
    import numpy as np
    shapes = ((1000,), (37, 5), ())
    np_dtype = np.float32 if dtype == "f32" else np.uint16
    rng = np.random.default_rng(0)

    def buffers():
        def values(shape):
            x = rng.standard_normal(shape).astype(np.float32)
            return x if dtype == "f32" else np.array(x.view(np.uint32) >> 16, np.uint16)
        return [values(s) for s in shapes]

    params, grads = buffers(), buffers()
    results = []
    for target in ("cpu", "gpu-emulator"):
        sig = C.StepSignature(shapes=shapes, dtypes=(dtype,) * 3,
                              optimizer="#gs.adamw<>", num_moments=2, target=target,
                              kernel_options="chunk-size=64 max-blocks=3"
                              if target != "cpu" else "")
        step = C.CompiledStep(sig)
        p = [x.copy() for x in params]
        m = [np.zeros(s, np_dtype) for s in shapes for _ in range(2)]
        stats, counts = np.zeros((3, 2)), np.zeros((3, 2), np.int64)
        steps = np.zeros(3, np.int64)
        for _ in range(3):
            step([C.address(x) for x in p], [C.address(g) for g in grads],
                 [C.address(x) for x in m], C.address(stats), C.address(counts),
                 C.address(steps), 1e-2, 0.1)
        results.append((p, m, stats, counts, steps))
    (p_cpu, m_cpu, s_cpu, c_cpu, k_cpu), (p_gpu, m_gpu, s_gpu, c_gpu, k_gpu) = results

    def f64(x):
        x = np.asarray(x)
        if dtype == "f32":
            return x.astype(np.float64)
        return (x.astype(np.uint32) << 16).reshape(-1).view(np.float32).astype(np.float64)
    tol = 1e-5 if dtype == "f32" else 1e-2
    for a, b in zip(p_cpu + m_cpu, p_gpu + m_gpu):
        np.testing.assert_allclose(f64(b), f64(a), rtol=tol, atol=tol)
    np.testing.assert_allclose(s_gpu, s_cpu, rtol=1e-12)
    assert (c_gpu == c_cpu).all() and (k_gpu == k_cpu).all() and (k_gpu == 3).all()


def test_kernel_options_are_for_gpu_targets():
    with pytest.raises(ValueError, match="kernel_options"):
        C.StepSignature(shapes=((4,),), dtypes=("f32",), optimizer="#gs.sgd<>",
                        num_moments=0, kernel_options="chunk-size=64")
