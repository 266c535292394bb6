"""Rules every backend follows (docs/python.md, "What a step leaves behind"):
`p.grad` after `step()` is the gradient the optimizer stepped with; a
parameter listed twice is refused; bad hyperparameters raise ValueError
naming them; empty parameters are skipped cleanly; a step that fails
changes nothing. Each is checked on the eager and the compiled (CPU)
backends, and against the float64 reference where numbers are involved."""

import math
import warnings

import pytest
import torch
from torch.amp import GradScaler

from gradient_stabilizer import GradientStabilizer, GSWrapper, Lion
from gradient_stabilizer import reference as R

BACKENDS = ["eager", "compiled"]
OPTIMIZERS = {
    "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, dampening=0.2),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=1e-2),
    "lion": lambda ps: Lion(ps, lr=1e-3),
}


def net_of(dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(),
                               torch.nn.Linear(7, 3)).to(dtype)


def set_grads(net, step, bad=None):
    gen = torch.Generator().manual_seed(10 + step)
    for i, p in enumerate(net.parameters()):
        p.grad = (torch.randn(p.shape, generator=gen) * 10 ** (i - 1)).to(p.dtype)
    if bad is not None:
        next(net.parameters()).grad[0, 0] = bad


def grads_after_steps(backend, opt_name, dtype, policy, bad_at=2, steps=4):
    net = net_of(dtype)
    opt = GSWrapper(OPTIMIZERS[opt_name](net.parameters()), on_nonfinite=policy,
                    backend=backend)
    result = []
    for k in range(steps):
        set_grads(net, k, float("nan") if k == bad_at else None)
        opt.step()
        result.append([p.grad.clone() for p in net.parameters()]
                      + [p.detach().clone() for p in net.parameters()])
    return result


def same(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(
        torch.nan_to_num(a.float(), nan=7.0), torch.nan_to_num(b.float(), nan=7.0)) and \
        torch.equal(a.isnan(), b.isnan())


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("policy", ["skip", "zero", "passthrough"])
def test_grad_after_step_is_the_stepped_gradient_on_every_backend(opt_name, dtype, policy):
    eager = grads_after_steps("eager", opt_name, dtype, policy)
    compiled = grads_after_steps("compiled", opt_name, dtype, policy)
    for step, (a_list, b_list) in enumerate(zip(eager, compiled)):
        half = len(a_list) // 2
        for a, b in zip(a_list[:half], b_list[:half]):  # gradients: the same bits
            assert same(a, b), (step, a, b)
        # Parameters: to rounding (torch's bf16 optimizers round every op,
        # the kernels once).
        tol = dict(rtol=1e-5, atol=1e-6) if dtype == torch.float32 else dict(rtol=1e-2,
                                                                              atol=1e-3)
        for a, b in zip(a_list[half:], b_list[half:]):
            torch.testing.assert_close(b, a, equal_nan=True, **tol)


def test_grad_after_step_is_what_the_standalone_stabilizer_leaves():
    """The wrapper's p.grad equals the standalone stabilizer's output on the
    same gradients, and its norm is the stabilized magnitude of the
    reference (spec section 1)."""
    for backend in BACKENDS:
        net, twin = net_of(), net_of()
        opt = GSWrapper(torch.optim.SGD(net.parameters(), lr=0.01), backend=backend)
        alone = GradientStabilizer()
        for k in range(3):
            set_grads(net, k)
            set_grads(twin, k)
            raw = [p.grad.double().clone() for p in net.parameters()]
            opt.step()
            alone(twin.parameters())
            for p, q in zip(net.parameters(), twin.parameters()):
                assert torch.equal(p.grad, q.grad), backend
            for p, g in zip(net.parameters(), raw):
                state = opt.scaler.state[p]
                m_hat = state["m"] / (1 - 0.6 ** state["k"])
                v_hat = state["v"] / (1 - 0.999 ** state["k"])
                c = m_hat / (math.sqrt(v_hat) + 1e-12)
                assert float(p.grad.double().norm()) == pytest.approx(c, rel=1e-6)
                cosine = torch.nn.functional.cosine_similarity(p.grad.double().flatten(),
                                                               g.flatten(), dim=0)
                assert float(cosine) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("inject_inf", [False, True])
def test_grad_after_a_loss_scaled_step(inject_inf):
    """Under a GradScaler p.grad is the unscaled stabilized gradient, or the
    scaled raw one when an overflow skipped the step, on both backends."""
    results = []
    for backend in BACKENDS:
        net = net_of()
        opt = GSWrapper(torch.optim.AdamW(net.parameters(), lr=1e-2), backend=backend)
        scaler = GradScaler("cpu", init_scale=2.0 ** 10)
        x = torch.randn(8, 5, generator=torch.Generator().manual_seed(4))
        scaler.scale(net(x).square().mean()).backward()
        if inject_inf:
            net[0].weight.grad[1, 1] = float("inf")
        scaled = [p.grad.clone() for p in net.parameters()]
        scaler.step(opt)
        grads = [p.grad.clone() for p in net.parameters()]
        if inject_inf:
            assert all(same(a, b) for a, b in zip(grads, scaled))
        else:
            assert all(float(g.norm()) < 20 for g in grads)
        results.append(grads)
    assert all(same(a, b) for a, b in zip(*results))


@pytest.mark.parametrize("backend", BACKENDS)
def test_momentum_turned_on_mid_training_matches_the_reference(backend):
    """torch.optim.SGD starts a new momentum buffer at the direction (no
    dampening on its first step), also when momentum is turned on after some
    steps with dampening > 0: each backend agrees with the float64 reference
    given a fresh optimizer state at the switch."""
    net = net_of()
    opt = GSWrapper(torch.optim.SGD(net.parameters(), lr=0.05, weight_decay=0.01),
                    backend=backend)
    params = [p.detach().double().numpy().copy() for p in net.parameters()]
    ref, cfg = R.SGD(), R.GSConfig()
    gs_states = [R.GSState() for _ in params]
    opt_states = [ref.init_state(p) for p in params]
    for k in range(7):
        if k == 3:
            opt.param_groups[0].update(momentum=0.9, dampening=0.3)
            ref = R.SGD(momentum=0.9, dampening=0.3)
            opt_states = [ref.init_state(p) for p in params]
        set_grads(net, k)
        grads = [p.grad.double().numpy().copy() for p in net.parameters()]
        opt.step()
        params, gs_states, opt_states, _ = R.group_step(
            params, grads, gs_states, opt_states, ref, cfg, 0.05, 0.01)
        for p, want in zip(net.parameters(), params):
            torch.testing.assert_close(p.detach().double(), torch.from_numpy(want),
                                       rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", ["eager", "compiled", "auto"])
def test_a_parameter_listed_twice_is_refused(backend):
    p = torch.nn.Parameter(torch.ones(3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's own duplicate warning
        inner = torch.optim.SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match=r"param group 0 lists parameter 1 .*again"):
        GSWrapper(inner, backend=backend)
    # Added later, in one group or across groups: refused at the step, before
    # anything changes.
    q = torch.nn.Parameter(torch.ones(2))
    opt = GSWrapper(torch.optim.SGD([p], lr=0.1), backend=backend)
    opt.add_param_group({"params": [q]})
    for mutate in (lambda: opt.param_groups[1]["params"].append(q),
                   lambda: opt.param_groups[1]["params"].append(p)):
        mutate()
        p.grad, q.grad = torch.ones(3), torch.ones(2)
        with pytest.raises(ValueError, match="again"):
            opt.step()
        assert torch.equal(p, torch.ones(3)) and torch.equal(q, torch.ones(2))
        assert not opt.scaler.state and not opt.state
        opt.param_groups[1]["params"].pop()


@pytest.mark.parametrize("backend", ["eager", "compiled", "auto"])
@pytest.mark.parametrize("name, value, match", [
    ("betas", (float("nan"), 0.999), "beta parameter at index 0"),
    ("betas", (0.9, 1.0), "beta parameter at index 1"),
    ("lr", -1e-3, "Invalid lr"),
    ("lr", float("inf"), "Invalid lr"),
    ("eps", float("nan"), "Invalid eps"),
    ("weight_decay", -0.1, "Invalid weight_decay"),
    ("weight_decay", float("nan"), "Invalid weight_decay"),
])
def test_bad_hyperparameters_raise_naming_them(backend, name, value, match):
    net = net_of()
    opt = GSWrapper(torch.optim.AdamW(net.parameters()), backend=backend)
    set_grads(net, 0)
    opt.step()
    before = [p.detach().clone() for p in net.parameters()]
    opt.param_groups[0][name] = value
    set_grads(net, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning either
        with pytest.raises(ValueError, match=match):
            opt.step()
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    # The compiled backend is still on: the next good step runs compiled.
    opt.param_groups[0][name] = {"betas": (0.9, 0.999), "lr": 1e-3, "eps": 1e-8,
                                 "weight_decay": 0.01}[name]
    opt.step()
    assert (opt._compiled is not None) == (backend != "eager")


@pytest.mark.parametrize("backend", ["eager", "compiled", "auto"])
@pytest.mark.parametrize("name, value, match", [
    ("momentum", -0.5, "Invalid momentum"),
    ("dampening", float("inf"), "Invalid dampening"),
    ("nesterov", True, "Nesterov momentum requires"),
])
def test_bad_sgd_hyperparameters_raise_naming_them(backend, name, value, match):
    net = net_of()
    opt = GSWrapper(torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, dampening=0.1),
                    backend=backend)
    opt.param_groups[0][name] = value
    set_grads(net, 0)
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(ValueError, match=match):
        opt.step()
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    opt.param_groups[0]["dampening"] = -0.1  # unusual, but math: accepted, as torch does
    opt.param_groups[0].update(momentum=0.9, nesterov=False)
    opt.step()


@pytest.mark.parametrize("backend", ["eager", "compiled", "auto"])
@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_empty_parameters_are_skipped_cleanly(backend, opt_name):
    net = net_of()
    empties = [torch.nn.Parameter(torch.zeros(0)), torch.nn.Parameter(torch.zeros(3, 0))]
    groups = [{"params": [empties[0], *net[0].parameters()]},
              {"params": [*net[2].parameters(), empties[1]]}]
    opt = GSWrapper(OPTIMIZERS[opt_name](groups), backend=backend)
    for k in range(2):
        set_grads(net, k)
        for e in empties:
            e.grad = torch.zeros_like(e)
        before = [p.detach().clone() for p in net.parameters()]
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            opt.step()
        assert all(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
    for e in empties:
        assert e.numel() == 0 and opt.scaler.state[e]["k"] == 0


@pytest.mark.parametrize("backend", ["compiled", "auto"])
@pytest.mark.parametrize("odd, match", [
    (lambda: torch.ones(4, 4).t(), "contiguous"),
    (lambda: torch.ones(4, 4, dtype=torch.float64), "float64"),
])
def test_a_bad_last_group_leaves_the_first_untouched(backend, odd, match):
    """Every group and tensor is checked before anything is written: an
    unsupported tensor in the last group (added after the wrapper was
    built) raises (compiled) or steps the whole optimizer eagerly (auto);
    never half a step."""
    net = net_of()
    odd = torch.nn.Parameter(odd())
    opt = GSWrapper(torch.optim.Adam(net.parameters(), lr=1e-2), backend=backend)
    opt.add_param_group({"params": [odd]})
    set_grads(net, 0)
    odd.grad = torch.ones_like(odd)
    before = [p.detach().clone() for p in net.parameters()]
    if backend == "compiled":
        with pytest.raises(ValueError, match=match):
            opt.step()
        assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
        assert not opt.scaler.state and not opt.state
    else:  # (silently when check_supported already sees it, else with a warning)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt.step()
        assert all(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
        assert not torch.equal(odd, torch.ones(4, 4))


def test_gpu_path_steps_empty_tensors():
    """The CUDA path's step (here with the GPU emulator as its runtime, on
    host tensors) takes a group with an empty parameter, whose address is 0:
    it used to refuse it after earlier groups had stepped."""
    from gradient_stabilizer import _compiler as C
    from gradient_stabilizer.compiled import CompiledBackend, optimizer_spec
    try:
        C.capi()
        C.gpu_emulator()
    except C.CompilerError as error:
        pytest.skip(f"no C API / GPU emulator: {error}")
    empty, full = torch.nn.Parameter(torch.zeros(0)), torch.nn.Parameter(torch.ones(5))
    opt = torch.optim.AdamW([empty, full], lr=1e-2)
    stabilizer = GradientStabilizer()
    attr, moments = optimizer_spec(opt, opt.param_groups[0])
    sig = C.StepSignature(shapes=((0,), (5,)), dtypes=("f32", "f32"), optimizer=attr,
                          num_moments=len(moments), target="gpu-emulator",
                          stabilizer=C.stabilizer_attr(0.6, 0.999, 1e-12, True, "skip"))
    empty.grad, full.grad = torch.zeros(0), torch.full((5,), 0.5)
    CompiledBackend._run_bucket(C.CompiledStep(sig), opt, stabilizer, opt.param_groups[0],
                                [empty, full], moments)
    assert stabilizer.state[empty]["skipped"] == 1 and stabilizer.state[full]["k"] == 1
    assert bool((full < 1).all())
