"""The gradient_stabilizer package: the original library's API on the compiled
kernels. compiled == eager == the float64 reference; optimizer protocol
(schedulers, hooks, GradScaler); checkpoints; accumulation; errors."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from gradient_stabilizer import GradientStabilizer, GSWrapper, Lion
from gradient_stabilizer import reference as R

OPTIMIZERS = {
    "sgd": (lambda ps, **kw: torch.optim.SGD(ps, lr=0.05, **kw), lambda: R.SGD()),
    "sgd_nesterov": (lambda ps, **kw: torch.optim.SGD(ps, lr=0.05, momentum=0.9,
                                                      nesterov=True, **kw),
                     lambda: R.SGD(momentum=0.9, nesterov=True)),
    "adam": (lambda ps, **kw: torch.optim.Adam(ps, lr=1e-2, **kw), lambda: R.Adam()),
    "adam_amsgrad": (lambda ps, **kw: torch.optim.Adam(ps, lr=1e-2, amsgrad=True, **kw),
                     lambda: R.Adam(amsgrad=True)),
    "adamw": (lambda ps, **kw: torch.optim.AdamW(ps, lr=1e-2, **kw), lambda: R.AdamW()),
    "lion": (lambda ps, **kw: Lion(ps, lr=1e-3, **kw), lambda: R.Lion()),
}


def model(seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(),
                              torch.nn.Linear(16, 3))
    return net.to(dtype)


def train(backend, opt_name, steps=8, seed=0, groups=False, weight_decay=0.05,
          data_seed=1, dtype=torch.float32):
    net = model(seed, dtype)
    make = OPTIMIZERS[opt_name][0]
    if groups:
        params = [{"params": net[0].parameters()},
                  {"params": net[2].parameters(), "lr": 3e-3, "weight_decay": 0.0}]
    else:
        params = net.parameters()
    opt = GSWrapper(make(params, weight_decay=weight_decay), backend=backend)
    gen = torch.Generator().manual_seed(data_seed)
    for _ in range(steps):
        x = torch.randn(32, 6, generator=gen).to(dtype)
        y = torch.randn(32, 3, generator=gen).to(dtype)
        opt.zero_grad()
        ((net(x) - y) ** 2).mean().backward()
        opt.step()
    return net, opt


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("groups", [False, True])
def test_compiled_matches_eager(opt_name, groups):
    eager_net, eager = train("eager", opt_name, groups=groups)
    compiled_net, compiled = train("compiled", opt_name, groups=groups)
    for a, b in zip(eager_net.parameters(), compiled_net.parameters()):
        torch.testing.assert_close(b, a, rtol=2e-5, atol=2e-6)
    for p_e, p_c in zip(eager_net.parameters(), compiled_net.parameters()):
        s_e, s_c = eager.scaler.state[p_e], compiled.scaler.state[p_c]
        assert s_e["k"] == s_c["k"] and s_e["skipped"] == s_c["skipped"]
        assert s_c["m"] == pytest.approx(s_e["m"], rel=1e-5)


def test_bf16_and_f32_parameters_in_one_group():
    torch.manual_seed(3)
    a = torch.nn.Parameter(torch.randn(40))
    b = torch.nn.Parameter(torch.randn(7, 5).bfloat16())
    opt = GSWrapper(torch.optim.AdamW([a, b], lr=1e-2), backend="compiled")
    ref_a, ref_b = a.detach().double().numpy(), b.detach().double().numpy()
    ref_opt = R.AdamW()
    rs = [R.GSState(), R.GSState()]
    ro = [ref_opt.init_state(ref_a), ref_opt.init_state(ref_b)]
    for _ in range(4):
        a.grad = torch.randn(40)
        b.grad = torch.randn(7, 5).bfloat16()
        grads = [a.grad.double().numpy(), b.grad.double().numpy()]
        ref_start = [a.detach().double().numpy(), b.detach().double().numpy()]
        # Compare one step from the same state (bf16 rounds every step).
        rs_new = [R.GSState(**vars(s)) for s in rs]
        (new, rs, ro, _) = R.group_step(ref_start, grads, rs_new, ro, ref_opt,
                                        R.GSConfig(), 1e-2, 0.01)
        opt.step()
        np.testing.assert_allclose(a.detach().double().numpy(), new[0], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(b.detach().double().numpy(), new[1], rtol=1e-2, atol=1e-3)
        ro = [R.OptState(moments=[opt.state[p][k].double().numpy()
                                  for k in ("exp_avg", "exp_avg_sq")],
                         step=int(opt.state[p]["step"])) for p in (a, b)]


@pytest.mark.parametrize("opt_name", ["adamw", "sgd_nesterov", "lion"])
def test_eager_matches_reference(opt_name):
    net, opt = train("eager", opt_name, steps=1, data_seed=4)
    # Re-run the same step with the float64 reference.
    start = model(0)
    gen = torch.Generator().manual_seed(4)
    x, y = torch.randn(32, 6, generator=gen), torch.randn(32, 3, generator=gen)
    ((start(x) - y) ** 2).mean().backward()
    ref_opt = OPTIMIZERS[opt_name][1]()
    params = [p.detach().double().numpy() for p in start.parameters()]
    grads = [p.grad.double().numpy() for p in start.parameters()]
    lr = opt.param_groups[0]["lr"]
    new, _, _, _ = R.group_step(params, grads, [R.GSState() for _ in params],
                                [ref_opt.init_state(p) for p in params], ref_opt,
                                R.GSConfig(), lr, 0.05)
    for got, want in zip(net.parameters(), new):
        np.testing.assert_allclose(got.detach().double().numpy(), want, rtol=1e-5, atol=1e-6)


def test_scheduler_and_hooks_see_an_optimizer():
    net = model()
    opt = GSWrapper(torch.optim.AdamW(net.parameters(), lr=0.1), backend="compiled")
    assert isinstance(opt, torch.optim.Optimizer)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(4, 6)).sum().backward()
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** 3)
    assert opt.state is opt.optimizer.state and opt.defaults is opt.optimizer.defaults


def test_lr_is_read_every_step_without_recompiling():
    net = model()
    opt = GSWrapper(torch.optim.SGD(net.parameters(), lr=0.0), backend="compiled")
    before = [p.detach().clone() for p in net.parameters()]
    net(torch.randn(4, 6)).sum().backward()
    opt.step()  # lr 0: nothing moves
    for a, b in zip(before, net.parameters()):
        assert torch.equal(a, b)
    opt.param_groups[0]["lr"] = 0.1
    opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters()))
    # CPU steps run the prebuilt generic kernels: nothing was compiled.
    assert len(opt._compiled._steps) == 0


def test_parameters_without_gradients_are_left_alone():
    net = model()
    opt = GSWrapper(torch.optim.Adam(net.parameters(), lr=0.1), backend="compiled")
    frozen = net[0].weight
    before = frozen.detach().clone()
    net[2](torch.randn(4, 16)).sum().backward()  # no gradient for net[0]
    opt.step()
    assert torch.equal(frozen, before)
    assert frozen not in opt.scaler.state and frozen not in opt.state


def test_gradient_accumulation_stabilizes_the_sum_once():
    results = []
    for micro in [1, 4]:
        net = model()
        opt = GSWrapper(torch.optim.AdamW(net.parameters(), lr=1e-2), backend="compiled")
        x = torch.randn(32, 6, generator=torch.Generator().manual_seed(5))
        opt.zero_grad()
        for chunk in x.chunk(micro):
            (net(chunk).pow(2).sum() / 32).backward()
        opt.step()
        results.append(([p.detach().clone() for p in net.parameters()],
                        [opt.scaler.state[p]["k"] for p in net.parameters()]))
    for a, b in zip(results[0][0], results[1][0]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert results[0][1] == results[1][1] == [1, 1, 1, 1]


@pytest.mark.parametrize("backend", ["compiled", "eager"])
@pytest.mark.parametrize("policy", ["skip", "zero", "passthrough"])
def test_nonfinite_policies(backend, policy):
    a = torch.nn.Parameter(torch.ones(5))
    b = torch.nn.Parameter(torch.ones(5))
    opt = GSWrapper(torch.optim.SGD([a, b], lr=0.1, momentum=0.9), on_nonfinite=policy,
                    backend=backend)
    a.grad = torch.tensor([1.0, float("nan"), 0.0, 0.0, 0.0])
    b.grad = torch.ones(5)
    opt.step()
    assert opt.scaler.state[a]["skipped"] == 1 and opt.scaler.state[a]["k"] == 0
    assert opt.scaler.state[b]["k"] == 1
    assert torch.isfinite(b).all() and not torch.equal(b, torch.ones(5))
    if policy == "skip":
        assert torch.equal(a.detach(), torch.ones(5))
        assert a.grad is not None and torch.isnan(a.grad).any()  # given back
    elif policy == "zero":
        assert torch.equal(a.detach(), torch.ones(5))  # zero gradient, no decay
        assert "momentum_buffer" in opt.state[a]
    else:
        assert torch.isnan(a).any()  # the original library's behaviour


def test_checkpoint_round_trip_is_bit_exact(tmp_path):
    full_net, _ = train("compiled", "adamw", steps=6)
    net, opt = train("compiled", "adamw", steps=3)
    path = tmp_path / "ckpt.pt"
    torch.save({"model": net.state_dict(), "optimizer": opt.state_dict()}, path)
    # A fresh model and optimizer, as after a restart.
    fresh = model(seed=99)
    fresh_opt = GSWrapper(torch.optim.AdamW(fresh.parameters(), lr=1e-2,
                                            weight_decay=0.05), backend="compiled")
    ckpt = torch.load(path)
    fresh.load_state_dict(ckpt["model"])
    fresh_opt.load_state_dict(ckpt["optimizer"])
    gen = torch.Generator().manual_seed(1)
    for step in range(6):
        x, y = torch.randn(32, 6, generator=gen), torch.randn(32, 3, generator=gen)
        if step < 3:
            continue  # the data the first half already consumed
        fresh_opt.zero_grad()
        ((fresh(x) - y) ** 2).mean().backward()
        fresh_opt.step()
    for a, b in zip(full_net.parameters(), fresh.parameters()):
        assert torch.equal(a, b)


def test_checkpoint_survives_a_process_restart(tmp_path):
    script = Path(__file__).with_name("restart_worker.py")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    run = lambda *args: subprocess.run([sys.executable, str(script), *args], env=env,
                                       check=True, capture_output=True, text=True)
    run("save", str(tmp_path / "a.pt"), "3")
    run("resume", str(tmp_path / "a.pt"), "3", str(tmp_path / "resumed.pt"))
    run("save", str(tmp_path / "full.pt"), "6")
    resumed = torch.load(tmp_path / "resumed.pt")
    full = torch.load(tmp_path / "full.pt")
    for key in full["model"]:
        assert torch.equal(full["model"][key], resumed["model"][key]), key
    assert full["optimizer"]["gradient_stabilizer"] == resumed["optimizer"]["gradient_stabilizer"]


def test_loading_different_hyperparameters_warns_and_keeps_current():
    net, opt = train("eager", "adamw", steps=2)
    other = GSWrapper(torch.optim.AdamW(net.parameters(), lr=1e-2), gamma1=0.5)
    with pytest.warns(UserWarning, match="keeping the current settings"):
        other.load_state_dict(opt.state_dict())
    assert other.scaler.gamma1 == 0.5
    assert other.scaler.state[next(net.parameters())]["k"] == 2


@pytest.mark.parametrize("argument, value", [("gamma1", 1.0), ("gamma1", -0.1),
                                             ("gamma2", 1.5), ("eps", -1e-9),
                                             ("eps", float("nan")),
                                             ("bias_correction", "yes"),
                                             ("on_nonfinite", "ignore")])
def test_bad_arguments_name_the_argument(argument, value):
    net = model()
    with pytest.raises(ValueError, match=argument):
        GSWrapper(torch.optim.SGD(net.parameters(), lr=0.1), **{argument: value})
    with pytest.raises(ValueError, match=argument):
        GradientStabilizer(**{argument: value})


def test_bad_backend_and_unsupported_optimizer():
    net = model()
    with pytest.raises(ValueError, match="backend"):
        GSWrapper(torch.optim.SGD(net.parameters(), lr=0.1), backend="gpu")
    with pytest.raises(ValueError, match="RMSprop"):
        GSWrapper(torch.optim.RMSprop(net.parameters()), backend="compiled")
    with pytest.raises(ValueError, match="maximize"):
        GSWrapper(torch.optim.Adam(net.parameters(), maximize=True), backend="compiled")
    auto = GSWrapper(torch.optim.RMSprop(net.parameters()), backend="auto")
    net(torch.randn(2, 6)).sum().backward()
    auto.step()  # eager: RMSprop still steps with stabilized gradients
    assert all(s["k"] == 1 for s in auto.scaler.state.values())


def test_gamma_without_bound_warns():
    with pytest.warns(UserWarning, match="no uniform bound"):
        GradientStabilizer(gamma1=0.9, gamma2=0.5)


def test_standalone_stabilizer_accepts_the_three_forms():
    for form in ["optimizer", "groups", "params"]:
        net = model()
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        stabilizer = GradientStabilizer()
        net(torch.randn(4, 6)).sum().backward()
        target = {"optimizer": opt, "groups": opt.param_groups,
                  "params": net.parameters()}[form]
        stabilizer(target)
        for p in net.parameters():
            state = stabilizer.state[p]
            assert state["k"] == 1
            # First step with bias correction: the stabilized norm is 1.
            assert float(p.grad.norm()) == pytest.approx(1.0, rel=1e-5)
        stabilizer.reset()
        assert stabilizer.state == {}


def test_sparse_gradients_pass_through():
    emb = torch.nn.Embedding(10, 4, sparse=True)
    opt = GSWrapper(torch.optim.SGD(emb.parameters(), lr=0.1), backend="auto")
    emb(torch.tensor([1, 2])).sum().backward()
    grad = emb.weight.grad.coalesce().values().clone()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt.step()
    assert emb.weight not in opt.scaler.state
    assert torch.equal(emb.weight.grad.coalesce().values(), grad)


def test_readme_code_runs_unchanged():
    net = model()
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, betas=(0.9, 0.999),
                                  weight_decay=0.01)
    optimizer = GSWrapper(optimizer, gamma1=0.6, gamma2=0.999)
    for _ in range(2):
        optimizer.zero_grad(set_to_none=True)
        loss = net(torch.randn(8, 6)).pow(2).mean()
        loss.backward()
        optimizer.step()
    total_skipped = sum(st.get("skipped", 0) for st in optimizer.scaler.state.values())
    assert total_skipped == 0
    stabilizer = GradientStabilizer(gamma1=0.6, gamma2=0.999)
    plain = torch.optim.AdamW(net.parameters(), lr=1e-3)
    plain.zero_grad(set_to_none=True)
    net(torch.randn(8, 6)).pow(2).mean().backward()
    stabilizer(plain)
    plain.step()


def _train_with_spikes(make_optimizer, wrap, steps=150):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(),
                              torch.nn.Linear(32, 1))
    opt = make_optimizer(net.parameters())
    if wrap:
        opt = GSWrapper(opt, backend="compiled")
    gen = torch.Generator().manual_seed(1)
    w = torch.randn(8, 1, generator=gen)
    losses = []
    for step in range(steps):
        x = torch.randn(64, 8, generator=gen)
        loss = ((net(x) - x @ w) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        if step % 25 == 10:  # a gradient spike, as from a bad batch
            for p in net.parameters():
                p.grad.mul_(1e30)
        opt.step()
        losses.append(float(loss.detach()))
    return losses, opt


def test_training_with_spikes_stays_finite_where_plain_sgd_diverges():
    sgd = lambda ps: torch.optim.SGD(ps, lr=1e-2, momentum=0.9)
    plain, _ = _train_with_spikes(sgd, wrap=False)
    stabilized, _ = _train_with_spikes(sgd, wrap=True)
    assert not np.isfinite(plain[-1]), "plain SGD should diverge"
    assert all(np.isfinite(stabilized)) and stabilized[-1] < 0.5 * stabilized[0]


def test_spikes_corrupt_plain_adam_state_but_not_stabilized():
    adam = lambda ps: torch.optim.Adam(ps, lr=1e-2)
    plain, plain_opt = _train_with_spikes(adam, wrap=False)
    stabilized, opt = _train_with_spikes(adam, wrap=True)
    # (1e30)^2 overflows f32: plain Adam's second moment is Inf for good and
    # those parameters stop learning; GS keeps every state finite.
    assert any(torch.isinf(st["exp_avg_sq"]).any() for st in plain_opt.state.values())
    assert all(torch.isfinite(st["exp_avg_sq"]).all() for st in opt.state.values())
    assert stabilized[-1] < plain[-1]


@pytest.mark.parametrize("backend", ["compiled", "eager"])
@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_copies_and_pickles_step_on_their_own(backend, how):
    """copy.deepcopy and pickle used to raise AttributeError (torch's
    Optimizer.__setstate__ reads `defaults`, which GSWrapper forwards to an
    optimizer not restored yet). A copy carries the wrapped optimizer's and
    the GS state and steps like the original, on its own parameters."""
    import copy
    import pickle

    net, opt = train(backend, "adamw", steps=3)
    clone = copy.deepcopy((net, opt)) if how == "deepcopy" else \
        pickle.loads(pickle.dumps((net, opt)))
    net2, opt2 = clone
    assert opt2.backend == backend and isinstance(opt2.optimizer, torch.optim.AdamW)
    params, params2 = list(net.parameters()), list(net2.parameters())
    assert all(p2 is q for p2, q in zip(opt2.param_groups[0]["params"], params2))
    assert set(map(id, opt2.scaler.state)) == set(map(id, params2))
    assert set(map(id, opt2.state)) == set(map(id, params2))
    x, y = torch.randn(8, 6), torch.randn(8, 3)
    for model_, optimizer in ((net, opt), (net2, opt2)):
        optimizer.zero_grad()
        ((model_(x) - y) ** 2).mean().backward()
        optimizer.step()
    for p, p2 in zip(params, params2):
        assert torch.equal(p, p2) and p is not p2
        assert opt.scaler.state[p] == opt2.scaler.state[p2]
