"""Behaviours of the original library that user code relies on: the
`raise_on_nonfinite` flag, `backend=` on GradientStabilizer, sparse gradients
passed through by every backend, inner optimizers built with fused=True or
foreach=True, the stabilizer called between backward() and step() of an
optimizer a framework builds, and torch.compile of a training step."""

import warnings

import pytest
import torch

from gradient_stabilizer import GradientStabilizer, GSWrapper

BACKENDS = ["eager", "auto", "compiled"]


def make_net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.Tanh(), torch.nn.Linear(12, 3))


def batches(steps, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(16, 6, generator=gen), torch.randn(16, 3, generator=gen))
            for _ in range(steps)]


def loss_of(net, x, y):
    return ((net(x) - y) ** 2).mean()


def train_wrapped(make_optimizer, backend, steps=5, **gs_kwargs):
    net = make_net()
    opt = GSWrapper(make_optimizer(net.parameters()), backend=backend, **gs_kwargs)
    for x, y in batches(steps):
        opt.zero_grad()
        loss_of(net, x, y).backward()
        opt.step()
    return net, opt


# raise_on_nonfinite ---------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_wrapper_raises_on_a_nonfinite_gradient_and_changes_nothing(backend, bad):
    net, opt = train_wrapped(lambda ps: torch.optim.Adam(ps, lr=1e-2), backend, steps=2,
                             raise_on_nonfinite=True)
    x, y = batches(1, seed=9)[0]
    opt.zero_grad()
    loss_of(net, x, y).backward()
    net[2].bias.grad[1] = bad
    grads = [p.grad.clone() for p in net.parameters()]
    params = [p.detach().clone() for p in net.parameters()]
    gs = [dict(opt.scaler.state[p]) for p in net.parameters()]
    inner = [{k: v.clone() for k, v in opt.state[p].items()} for p in net.parameters()]
    with pytest.raises(FloatingPointError, match=r"parameter 3 \(shape \(3,\)\)"):
        opt.step()
    for p, g, before, s, st in zip(net.parameters(), grads, params, gs, inner):
        assert torch.equal(p.grad.nan_to_num(), g.nan_to_num())  # (NaN != NaN)
        assert torch.equal(p.detach(), before)
        assert opt.scaler.state[p] == s
        assert all(torch.equal(opt.state[p][k], v) for k, v in st.items())


def test_standalone_stabilizer_raises_and_changes_nothing():
    net = make_net()
    stabilizer = GradientStabilizer(raise_on_nonfinite=True)
    x, y = batches(1)[0]
    loss_of(net, x, y).backward()
    net[0].bias.grad[0] = float("inf")
    grads = [p.grad.clone() for p in net.parameters()]
    with pytest.raises(FloatingPointError, match=r"parameter 1 \(shape \(12,\)\)"):
        stabilizer(net.parameters())
    assert stabilizer.state == {}
    assert all(torch.equal(p.grad, g) for p, g in zip(net.parameters(), grads))


def test_raise_on_nonfinite_leaves_zero_gradients_alone():
    p = torch.nn.Parameter(torch.ones(3))
    opt = GSWrapper(torch.optim.SGD([p], lr=0.1), raise_on_nonfinite=True)
    p.grad = torch.zeros(3)
    opt.step()  # a zero norm is not a non-finite event
    assert opt.scaler.state[p]["skipped"] == 1


@pytest.mark.parametrize("argument, value", [("raise_on_nonfinite", "yes"),
                                             ("raise_on_nonfinite", 1),
                                             ("backend", "gpu")])
def test_bad_flags_name_the_argument(argument, value):
    with pytest.raises(ValueError, match=argument):
        GradientStabilizer(**{argument: value})
    with pytest.raises(ValueError, match=argument):
        GSWrapper(torch.optim.SGD(make_net().parameters(), lr=0.1), **{argument: value})


# backend= on GradientStabilizer ---------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_stabilizer_takes_backend(backend):
    stabilizer = GradientStabilizer(gamma1=0.6, gamma2=0.999, backend=backend)
    assert stabilizer.backend == backend
    reference = GradientStabilizer()
    nets = [make_net(), make_net()]
    for net, s in zip(nets, [stabilizer, reference]):
        x, y = batches(1)[0]
        loss_of(net, x, y).backward()
        s(net.parameters())
    for a, b in zip(*(n.parameters() for n in nets)):
        assert torch.equal(a.grad, b.grad)
    wrapper = GSWrapper(torch.optim.SGD(nets[0].parameters(), lr=0.1), backend=backend)
    assert wrapper.backend == wrapper.scaler.backend == backend


# Sparse gradients ---------------------------------------------------------------

class EmbeddingModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(10, 4, sparse=True)
        self.head = torch.nn.Linear(4, 1)

    def forward(self, index):
        return self.head(self.emb(index)).pow(2).sum()


@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_gradients_pass_through_every_backend(backend):
    model = EmbeddingModel()
    opt = GSWrapper(torch.optim.SGD(model.parameters(), lr=0.1), backend=backend)
    eager_model = EmbeddingModel()
    eager_opt = GSWrapper(torch.optim.SGD(eager_model.parameters(), lr=0.1), backend="eager")
    for step in range(3):
        for m, o in [(model, opt), (eager_model, eager_opt)]:
            o.zero_grad()
            m(torch.tensor([1, 2, step + 3])).backward()
        weight_before = model.emb.weight.detach().clone()
        grad = model.emb.weight.grad.clone()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no fallback warning either
            opt.step()
        eager_opt.step()
        assert torch.equal(model.emb.weight.grad.to_dense(), grad.to_dense())  # untouched
        torch.testing.assert_close(model.emb.weight.detach(),
                                   weight_before - 0.1 * grad.to_dense())
        assert model.emb.weight not in opt.scaler.state
        assert opt.scaler.state[model.head.weight]["k"] == step + 1
        for a, b in zip(model.parameters(), eager_model.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


# fused=True / foreach=True inner optimizers -------------------------------------

IMPLEMENTATIONS = {
    "adamw_fused": lambda ps, **kw: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1, **kw),
    "sgd_fused": lambda ps, **kw: torch.optim.SGD(ps, lr=0.05, momentum=0.9, **kw),
    "adam_foreach": lambda ps, **kw: torch.optim.Adam(ps, lr=1e-2, **kw),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(IMPLEMENTATIONS))
def test_fused_and_foreach_optimizers_are_accepted(backend, name):
    flag = name.split("_")[1]
    make = IMPLEMENTATIONS[name]
    reference, _ = train_wrapped(lambda ps: make(ps, foreach=False), "eager")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net, opt = train_wrapped(lambda ps: make(ps, **{flag: True}), backend)
    assert opt.param_groups[0][flag] is True
    for a, b in zip(reference.parameters(), net.parameters()):
        torch.testing.assert_close(b, a, rtol=2e-5, atol=2e-6)
    assert [s["k"] for s in opt.scaler.state.values()] == [5, 5, 5, 5]
    messages = [str(w.message) for w in caught]
    if flag == "fused" and backend == "compiled":
        assert any("fused=True optimizers on the eager path" in m for m in messages)
    else:
        assert messages == []


# The stabilizer between backward() and step() ------------------------------------

class Framework:
    """A trainer that builds its optimizer itself and offers a callback
    between backward() and step(), like the frameworks the original README
    names; optionally with a GradScaler."""

    def __init__(self, model, callback, scaler=None):
        self.model, self.callback, self.scaler = model, callback, scaler
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, foreach=True)

    def train(self, data):
        for x, y in data:
            self.optimizer.zero_grad(set_to_none=True)
            loss = loss_of(self.model, x, y)
            if self.scaler is None:
                loss.backward()
                self.callback(self.optimizer)
                self.optimizer.step()
            else:
                self.scaler.scale(loss).backward()
                self.scaler.unscale_(self.optimizer)
                self.callback(self.optimizer)
                self.scaler.step(self.optimizer)
                self.scaler.update()


@pytest.mark.parametrize("form", ["callback", "pre_hook", "param_groups", "amp"])
def test_stabilizer_between_backward_and_step_of_a_framework_optimizer(form):
    wrapped, _ = train_wrapped(lambda ps: torch.optim.AdamW(ps, lr=1e-2), "eager")
    net = make_net()
    stabilizer = GradientStabilizer(gamma1=0.6, gamma2=0.999)
    if form == "pre_hook":
        trainer = Framework(net, lambda opt: None)
        trainer.optimizer.register_step_pre_hook(stabilizer)
    elif form == "param_groups":
        trainer = Framework(net, lambda opt: stabilizer(opt.param_groups))
    elif form == "amp":
        trainer = Framework(net, stabilizer, torch.amp.GradScaler("cpu"))
    else:
        trainer = Framework(net, stabilizer)
    trainer.train(batches(5))
    for a, b in zip(wrapped.parameters(), net.parameters()):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7)
    assert [s["k"] for s in stabilizer.state.values()] == [5, 5, 5, 5]


# torch.compile -----------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["eager", "compiled"])
def test_torch_compile_of_a_training_step_gives_the_eager_numbers(backend):
    def train(compile_step):
        net = make_net()
        opt = GSWrapper(torch.optim.AdamW(net.parameters(), lr=1e-2), backend=backend)

        def train_step(x, y):
            opt.zero_grad()
            loss = loss_of(net, x, y)
            loss.backward()
            opt.step()
            return loss

        step = torch.compile(train_step) if compile_step else train_step
        losses = [float(step(x, y).detach()) for x, y in batches(5)]
        return net, opt, losses

    eager_net, eager_opt, eager_losses = train(False)
    net, opt, losses = train(True)
    # Inductor's forward and backward round differently from eager's (the
    # same holds without GS); the step itself runs outside the graph.
    assert losses == pytest.approx(eager_losses, rel=1e-6)
    for a, b in zip(eager_net.parameters(), net.parameters()):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7)
    for a, b in zip(eager_net.parameters(), net.parameters()):
        sa, sb = eager_opt.scaler.state[a], opt.scaler.state[b]
        assert sa["k"] == sb["k"] == 5
        assert sb["m"] == pytest.approx(sa["m"], rel=1e-6)
