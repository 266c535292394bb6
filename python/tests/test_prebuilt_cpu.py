"""The compiled backend on CPU tensors runs the prebuilt generic kernels:
nothing is compiled, no LLVM/MLIR library is loaded, every hyperparameter
is a run-time value, and the thread count never changes a result."""

import subprocess
import sys
import textwrap

import pytest
import torch

from gradient_stabilizer import GSWrapper
from gradient_stabilizer import _cpu_kernels as K


def model(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(),
                               torch.nn.Linear(16, 3)).to(dtype)


def train(backend, make_optimizer, steps=6, dtype=torch.float32, hook=None, seed=0):
    net = model(seed, dtype)
    opt = GSWrapper(make_optimizer(net.parameters()), backend=backend)
    data = torch.randn(8, 6, generator=torch.Generator().manual_seed(1)).to(dtype)
    for k in range(steps):
        opt.zero_grad()
        net(data * (k + 1)).float().sum().backward()
        if hook:
            hook(opt, k)
        opt.step()
    return net, opt


def test_no_compiler_is_loaded():
    script = textwrap.dedent("""
        import torch
        from gradient_stabilizer import GSWrapper
        net = torch.nn.Linear(8, 4)
        opt = GSWrapper(torch.optim.AdamW(net.parameters()), backend="compiled")
        for _ in range(3):
            opt.zero_grad()
            net(torch.randn(2, 8)).sum().backward()
            opt.step()
        maps = open("/proc/self/maps").read()
        print("libMLIR" in maps, "libLLVM" in maps, "libgs_cpu_kernels" in maps,
              len(opt._compiled._steps))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["False", "False", "True", "0"], out


def test_hyperparameters_change_every_step():
    """OneCycleLR moves lr and betas every step; each step matches eager."""
    def hook(opt, k):
        group = opt.param_groups[0]
        group["betas"] = (0.85 + 0.01 * k, 0.99 - 0.001 * k)
        group["eps"] = 1e-8 * (k + 1)
        group["weight_decay"] = 0.01 * k
        group["lr"] = 1e-3 * (k + 1)

    make = lambda params: torch.optim.AdamW(params)
    compiled, _ = train("compiled", make, hook=hook)
    eager, _ = train("eager", make, hook=hook)
    for a, b in zip(compiled.parameters(), eager.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_momentum_turned_on_mid_training():
    def hook(opt, k):
        group = opt.param_groups[0]
        group["momentum"], group["dampening"] = (0.9, 0.1) if k >= 3 else (0.0, 0.0)

    make = lambda params: torch.optim.SGD(params, lr=0.05)
    compiled, _ = train("compiled", make, hook=hook)
    eager, _ = train("eager", make, hook=hook)
    for a, b in zip(compiled.parameters(), eager.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_parameters_with_gradients_change():
    """Frozen and unfrozen layers: the tables follow, nothing recompiles."""
    def hook(opt, k):
        if k % 2:
            for p in opt.param_groups[0]["params"][:2]:
                p.grad = None

    make = lambda params: torch.optim.Adam(params, lr=1e-2)
    compiled, opt = train("compiled", make, hook=hook)
    eager, _ = train("eager", make, hook=hook)
    for a, b in zip(compiled.parameters(), eager.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert len(opt._compiled._steps) == 0


def test_empty_parameter_is_skipped_cleanly():
    net = model()
    empty = torch.nn.Parameter(torch.zeros(0, 3))
    opt = GSWrapper(torch.optim.AdamW(list(net.parameters()) + [empty]),
                    backend="compiled")
    net(torch.randn(4, 6)).sum().backward()
    empty.grad = torch.zeros(0, 3)
    before = [p.detach().clone() for p in net.parameters()]
    opt.step()
    assert all(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_thread_count_never_changes_bits(dtype):
    saved = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            net, opt = train("compiled", lambda p: torch.optim.AdamW(p, lr=1e-2),
                             dtype=dtype)
            results.append([p.detach().clone() for p in net.parameters()]
                           + [torch.tensor(opt.scaler.state_of(p)["m"])
                              for p in net.parameters()])
    finally:
        torch.set_num_threads(saved)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert torch.equal(a.view(torch.uint8) if a.dim() else a,
                               b.view(torch.uint8) if b.dim() else b)


def test_window_size_never_changes_bits(monkeypatch):
    """gsCpuRunStep runs norms, scalars and update window by window
    (GS_CPU_WINDOW_BYTES of gradients per thread; 0: the whole table at
    once): neither the window size nor the thread count changes a bit, also
    when one tensor of a window is skipped for a non-finite gradient."""
    def run(window, threads):
        monkeypatch.setenv("GS_CPU_WINDOW_BYTES", window)
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(64, 600), torch.nn.Linear(600, 40),
                                  torch.nn.Linear(40, 3))
        opt = GSWrapper(torch.optim.AdamW(net.parameters(), lr=1e-2), backend="compiled")
        data = torch.randn(8, 64, generator=torch.Generator().manual_seed(1))
        saved = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            for k in range(4):
                opt.zero_grad()
                net(data * (k + 1)).sum().backward()
                if k == 2:
                    net[1].weight.grad[0, 0] = float("nan")
                opt.step()
        finally:
            torch.set_num_threads(saved)
        return ([p.detach().clone() for p in net.parameters()]
                + [torch.tensor([opt.scaler.state_of(p)[key] for key in ("m", "v", "k")])
                   for p in net.parameters()])

    reference = run("0", 1)
    for window, threads in (("1", 1), ("4096", 2), ("200000", 1), ("200000", 2), ("", 1),
                            ("", 2)):
        for a, b in zip(reference, run(window, threads)):
            assert torch.equal(a, b), (window, threads)


def test_malformed_window_size_is_refused(monkeypatch):
    """A malformed GS_CPU_WINDOW_BYTES is an error naming it, before
    anything is written."""
    net = model()
    opt = GSWrapper(torch.optim.AdamW(net.parameters(), lr=1e-2), backend="compiled")
    net(torch.ones(2, 6)).sum().backward()
    before = [p.detach().clone() for p in net.parameters()]
    for bad in ("-1", "1MiB", "99999999999999999999"):
        monkeypatch.setenv("GS_CPU_WINDOW_BYTES", bad)
        with pytest.raises(K.KernelError, match=f"GS_CPU_WINDOW_BYTES must be an "
                           f"integer in .0, 2\\^40., got '{bad}'"):
            opt.step()
        assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before))
        assert all(opt.scaler.state_of(p)["k"] == 0 for p in net.parameters())


def test_kernel_names_cover_every_configuration():
    lib = K.cpu_kernels()
    for structure in K.STRUCTURES:
        for dtype in K.DTYPES:
            for policy in K.POLICIES:
                for bc in (True, False):
                    for inv, found in ((False, False), (True, True), (False, True)):
                        ks = K.kernel_set(structure, dtype, policy, bc, inv, found)
                        assert all(lib.has_kernel(n)
                                   for n in (ks.norms, ks.scalars, ks.update)), ks
    with pytest.raises(ValueError, match="dtype must be one of"):
        K.kernel_set("adamw", "f64")
    with pytest.raises(ValueError, match="needs a found_inf"):
        K.kernel_set("adamw", "f32", inv_scale=True)
