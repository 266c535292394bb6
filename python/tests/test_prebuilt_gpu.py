"""The compiled backend's GPU path (resident.py, libgs_gpu_kernels) run
without a GPU: the same prebuilt kernels built for the GPU emulator
(libgs_gpu_kernels_emulated), driven by the same Python and runtime code
that drives them on CUDA devices, on CPU tensors. It must give the CPU
kernels' results, keep the GS state resident between steps and bring it up
to date whenever anyone reads it."""

import copy
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from gradient_stabilizer import GSWrapper, Lion
from gradient_stabilizer import _gpu_kernels as G
from gradient_stabilizer.compiled import CompiledBackend

BUILD_LIB = Path(os.environ.get("GS_BUILD_DIR",
                                Path(__file__).resolve().parents[2] / "build")) / "lib"
EMULATED = BUILD_LIB / "libgs_gpu_kernels_emulated.so"
SHIPPED = BUILD_LIB / "libgs_gpu_kernels.so"

pytestmark = pytest.mark.skipif(not EMULATED.is_file(),
                                reason="the build has no libgs_gpu_kernels_emulated.so")


@pytest.fixture(autouse=True)
def emulated_kernels(monkeypatch):
    monkeypatch.setenv("GS_GPU_KERNELS_LIB", str(EMULATED))
    monkeypatch.setattr(G, "_loaded", None)
    yield
    G._loaded = None


SHAPES = [(300, 70), (0,), (33, 17), (5,), ()]  # 2 chunks, an empty and a scalar


def make_params(dtype, seed=0):
    torch.manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s).to(dtype)) for s in SHAPES]


def train(gpu, make_optimizer, dtype=torch.float32, steps=5, on_nonfinite="skip",
          hook=None):
    params = make_params(dtype)
    opt = GSWrapper(make_optimizer(params), backend="compiled", on_nonfinite=on_nonfinite)
    if gpu:
        opt._compiled = CompiledBackend(gpu_kernels_on_cpu=True)
    g = torch.Generator().manual_seed(1)
    for k in range(steps):
        for i, p in enumerate(params):
            grad = torch.randn(p.shape, generator=g) * (1e4 if k == 2 else 1)
            if k == 3 and i == 0:
                grad.view(-1)[7] = float("nan")
            p.grad = grad.to(dtype)
        if hook:
            hook(opt, k)
        opt.step()
    return params, opt


OPTIMIZERS = {
    "sgd": lambda ps: torch.optim.SGD(ps, lr=0.05),
    "sgd_nesterov": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    "adam_amsgrad": lambda ps: torch.optim.Adam(ps, lr=1e-2, amsgrad=True),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
    "lion": lambda ps: Lion(ps, lr=1e-3),
}


def assert_same_run(a, b):
    (pa, oa), (pb, ob) = a, b
    for x, y in zip(pa, pb):
        assert torch.equal(x, y)
        # p.grad: the gradient the optimizer stepped with, on both paths.
        assert torch.equal(x.grad, y.grad)
    sa, sb = oa.state_dict(), ob.state_dict()
    for i, (x, y) in enumerate(zip(sa["gradient_stabilizer"]["state"].values(),
                                   sb["gradient_stabilizer"]["state"].values())):
        assert x["k"] == y["k"] and x["skipped"] == y["skipped"], i
        assert x["m"] == pytest.approx(y["m"], rel=1e-12), i
        assert x["v"] == pytest.approx(y["v"], rel=1e-12), i
    for x, y in zip(sa["optimizer"]["state"].values(), sb["optimizer"]["state"].values()):
        assert float(x["step"]) == float(y["step"])


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("policy", ["skip", "zero", "passthrough"])
def test_same_results_as_the_cpu_kernels(name, dtype, policy):
    if policy == "passthrough":  # a NaN would make every later step NaN
        return test_same_results_without_nan(name, dtype)
    assert_same_run(train(False, OPTIMIZERS[name], dtype, on_nonfinite=policy),
                    train(True, OPTIMIZERS[name], dtype, on_nonfinite=policy))


def test_same_results_without_nan(name="adamw", dtype=torch.float16):
    def steps(gpu):
        return train(gpu, OPTIMIZERS[name], dtype, steps=3, on_nonfinite="passthrough")
    assert_same_run(steps(False), steps(True))


def test_state_is_resident_and_synced_on_read():
    params, opt = train(True, OPTIMIZERS["adamw"], steps=2)
    backend = opt._compiled
    # Two steps ran on the device; the dicts are brought up to date on read.
    assert opt.scaler._residents
    state = opt.scaler.state
    assert not opt.scaler._residents
    assert state[params[0]]["k"] == 2
    # An edit between steps is what the next step starts from.
    opt.scaler.reset()
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    assert opt.scaler.state[params[0]]["k"] == 1
    # The wrapped optimizer's own state_dict sees the device's step counts.
    opt.step()
    steps = [float(s["step"]) for s in opt.optimizer.state_dict()["state"].values()]
    assert steps[0] == 4.0
    assert len(backend._buckets) == 1


def test_hyperparameter_schedule_and_reallocated_grads():
    def hook(opt, k):
        group = opt.param_groups[0]
        group["betas"] = (0.85 + 0.01 * k, 0.99 - 0.001 * k)
        group["lr"] = 1e-3 * (k + 1)
    cpu = train(False, OPTIMIZERS["adamw"], hook=hook)
    gpu = train(True, OPTIMIZERS["adamw"], hook=hook)
    assert_same_run(cpu, gpu)


def test_parameters_with_gradients_change():
    """A bucket of other tensors flushes the old one's state first."""
    def hook(opt, k):
        if k in (1, 2):
            opt.optimizer.param_groups[0]["params"][2].grad = None
    assert_same_run(train(False, OPTIMIZERS["adamw"], hook=hook),
                    train(True, OPTIMIZERS["adamw"], hook=hook))


def test_checkpoint_round_trip_mid_training():
    params, opt = train(True, OPTIMIZERS["adamw"], steps=3)
    # (torch's load_state_dict keeps the saved tensors: a copy, as from disk)
    saved = copy.deepcopy(opt.state_dict())
    params2, opt2 = train(True, OPTIMIZERS["adamw"], steps=1)
    opt2.load_state_dict(saved)
    with torch.no_grad():
        for p, q in zip(params2, params):
            p.copy_(q)
    for ps in (params, params2):
        for p in ps:
            p.grad = torch.full_like(p, 0.5)
    opt.step()
    opt2.step()
    for p, q in zip(params, params2):
        assert torch.equal(p, q)
    assert opt.scaler.state[params[0]] == opt2.scaler.state[params2[0]]


def test_grad_scaler_and_mixed_dtypes():
    """A loss-scaled step over two dtypes skips whole on a NaN in either."""
    def run(gpu):
        torch.manual_seed(0)
        params = [torch.nn.Parameter(torch.randn(40, 30)),
                  torch.nn.Parameter(torch.randn(50).bfloat16())]
        opt = GSWrapper(torch.optim.AdamW(params, lr=1e-2), backend="compiled")
        if gpu:
            opt._compiled = CompiledBackend(gpu_kernels_on_cpu=True)
        scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
        for k in range(4):
            for p in params:
                p.grad = (torch.randn(p.shape) * 1024.0).to(p.dtype)
            if k == 2:
                params[1].grad[3] = float("inf")
            scaler.scale(torch.ones(()))  # (as scaler.scale(loss) would)
            scaler.step(opt)
            scaler.update()
        return params, opt
    assert_same_run(run(False), run(True))


def test_runtime_rejects_bad_tables_before_launching():
    lib = G.gpu_kernels()
    assert lib.emulated
    table = torch.tensor([[10, 0, 64]], dtype=torch.int64)
    offsets = torch.tensor([0, 1], dtype=torch.int64)
    scratch = torch.zeros(64, dtype=torch.float64)
    args = lib.args(1, 3, table.data_ptr(), offsets.data_ptr(), table.data_ptr(),
                    offsets.data_ptr(), scratch.data_ptr(), 5, scratch.data_ptr(),
                    scratch.data_ptr(), scratch.data_ptr(), scratch.data_ptr(), 64,
                    scratch.data_ptr(), 64)
    with pytest.raises(G.KernelError, match="tensor 0: column 1 .param. is a null address"):
        lib.run_step(G.KernelSet("gs_norms_f32", "gs_scalars_sgd_skip_bc_noamp",
                                 "gs_update_sgd_f32_keep", 0, ()), args)
    with pytest.raises(G.KernelError, match="no prebuilt GPU kernel named 'gs_norms_f64'"):
        lib.run_kernel("gs_norms_f64", args)
    with pytest.raises(G.KernelError, match="one device, 0; got 3"):
        table[0, 1] = scratch.data_ptr()
        lib.run_kernel("gs_norms_f32", args, device=3)


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no libgs_gpu_kernels.so")
def test_shipped_library_loads_without_gpu_or_compiler():
    """The CUDA build loads anywhere; with no driver it says so, and it
    maps no LLVM or MLIR library."""
    script = textwrap.dedent(f"""
        from gradient_stabilizer import _gpu_kernels as G
        lib = G.GpuKernels({str(SHIPPED)!r})
        assert lib.has_kernel("gs_update_adamw_bf16_keep")
        try:
            print("image", lib.image(0))
        except G.KernelError as error:
            print("error", error)
        maps = open("/proc/self/maps").read()
        print("libLLVM" in maps or "libMLIR" in maps)
    """)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, env=env).stdout.splitlines()
    assert out[-1] == "False"
    assert out[0].startswith(("image", "error")), out


def test_grid_size_from_environment_changes_no_bit(monkeypatch):
    """GS_GPU_MAX_BLOCKS (read at each launch) caps the grid: every cap gives
    the default grid's bits; a malformed value is refused before anything
    runs."""
    def run():
        G._loaded = None
        params, opt = train(True, OPTIMIZERS["adam_amsgrad"], torch.bfloat16, steps=3)
        return params, opt
    default = run()
    for blocks in ("1", "2", "5", "1000"):
        monkeypatch.setenv("GS_GPU_MAX_BLOCKS", blocks)
        assert_same_run(default, run())
    params = make_params(torch.float32)
    opt = GSWrapper(torch.optim.AdamW(params), backend="compiled")
    opt._compiled = CompiledBackend(gpu_kernels_on_cpu=True)
    for p in params:
        p.grad = torch.ones_like(p)
    before = [p.detach().clone() for p in params]
    for bad in ("0", "-3", "8x", "99999999999"):
        monkeypatch.setenv("GS_GPU_MAX_BLOCKS", bad)
        with pytest.raises(G.KernelError, match=f"GS_GPU_MAX_BLOCKS must be an integer "
                           f"in .1, 2\\^31 - 1., got '{bad}'"):
            opt.step()
        assert all(torch.equal(p, q) for p, q in zip(params, before))


def test_ten_thousand_tensors_in_one_bucket():
    """No tensor-count cap: 10,000 small tensors step as one bucket (one
    table, one set of launches) on the GPU kernels and give the CPU kernels'
    bits."""
    torch.manual_seed(0)
    shapes = [(1 + i % 7,) for i in range(10000)]
    runs = []
    for gpu in (False, True):
        params = [torch.nn.Parameter(torch.randn(s, generator=torch.Generator().manual_seed(i)))
                  for i, s in enumerate(shapes)]
        opt = GSWrapper(torch.optim.AdamW(params, lr=1e-3), backend="compiled")
        if gpu:
            opt._compiled = CompiledBackend(gpu_kernels_on_cpu=True)
        g = torch.Generator().manual_seed(1)
        for _ in range(2):
            for p in params:
                p.grad = torch.randn(p.shape, generator=g)
            opt.step()
        assert len(opt._compiled._buckets) == 1
        runs.append(params)
    for cpu, gpu in zip(*runs):
        assert torch.equal(cpu, gpu)
