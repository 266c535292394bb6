"""Mixed precision with the real torch.amp.GradScaler (spec section 4): GSWrapper
declares `_step_supports_amp_scaling`, so `scaler.step(optimizer)` hands it
the loss scale and the inf/NaN flag instead of unscaling the gradients in
torch. Loss-scaled steps give the unscaled steps' numbers, an overflowing step
is skipped whole, `unscale_` + clipping + `step` unscales once, and a compiled
backend that supports it receives `inv_scale` and `found_inf` as tensors.

Needs torch >= 2.3 (GradScaler("cpu")): the .venv's torch. The import is not
guarded: on an older torch this file errors instead of passing."""

import warnings

import pytest
import torch
from torch.amp import GradScaler

from gradient_stabilizer import GSWrapper

INIT_SCALE = 2.0 ** 16


def make_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))


def batches(steps):
    gen = torch.Generator().manual_seed(3)
    return [(torch.randn(16, 6, generator=gen), torch.randn(16, 2, generator=gen))
            for _ in range(steps)]


def snapshot(net, opt):
    params = [p.detach().clone() for p in net.parameters()]
    gs = [dict(opt.scaler.state[p]) for p in net.parameters()]
    inner = [{k: v.clone() for k, v in opt.state[p].items()} for p in net.parameters()]
    return params, gs, inner


def run(backend="eager", scaled=True, steps=6, inject_inf_at=None, clip=None,
        wrapper=GSWrapper, optimizer=torch.optim.AdamW, **gs_kwargs):
    net = make_net()
    opt = wrapper(optimizer(net.parameters(), lr=1e-2), backend=backend, **gs_kwargs)
    scaler = GradScaler("cpu", init_scale=INIT_SCALE, growth_interval=2) if scaled else None
    history, scales = [], []
    for step, (x, y) in enumerate(batches(steps)):
        opt.zero_grad()
        loss = ((net(x) - y) ** 2).mean()
        if scaler is None:
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
            opt.step()
        else:
            scaler.scale(loss).backward()
            if step == inject_inf_at:
                net[0].weight.grad[0, 0] = float("inf")
            if clip is not None:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
            scales.append(scaler.get_scale())
            scaler.step(opt)
            scaler.update()
        history.append(snapshot(net, opt))
    return history, scales


def assert_same(a, b):
    for (pa, gsa, ia), (pb, gsb, ib) in zip(a, b):
        assert all(torch.equal(x, y) for x, y in zip(pa, pb))
        assert gsa == gsb
        for sa, sb in zip(ia, ib):
            assert sa.keys() == sb.keys()
            assert all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("backend", ["eager", "auto", "compiled"])
def test_scaled_steps_equal_unscaled_steps(backend):
    plain, _ = run(backend, scaled=False)
    scaled, scales = run(backend, scaled=True)
    assert len(set(scales)) > 1, "the loss scale should change between steps"
    assert [s["k"] for s in scaled[-1][1]] == [6, 6, 6, 6]
    if backend == "eager":
        # Power-of-two scales commute exactly with every rounding: the
        # unscaling folded into the stabilizing multiply gives the same bits.
        assert_same(plain, scaled)
        return
    # The unscaled run used the compiled kernels; a loss-scaled step runs
    # them only where the backend supports AMP, else eagerly.
    for (pa, gsa, _), (pb, gsb, _) in zip(plain, scaled):
        for x, y in zip(pa, pb):
            torch.testing.assert_close(y, x, rtol=2e-5, atol=2e-6)
        assert [s["k"] for s in gsa] == [s["k"] for s in gsb]
        for a, b in zip(gsa, gsb):
            assert b["m"] == pytest.approx(a["m"], rel=1e-5)


def test_torch_does_not_unscale_the_gradients(monkeypatch):
    seen, unscale_calls = [], []
    check = torch._amp_foreach_non_finite_check_and_unscale_

    def spy(grads, found_inf, inv_scale):
        seen.append(float(inv_scale))
        return check(grads, found_inf, inv_scale)

    original_unscale = GradScaler.unscale_
    monkeypatch.setattr(torch, "_amp_foreach_non_finite_check_and_unscale_", spy)
    monkeypatch.setattr(GradScaler, "unscale_",
                        lambda self, opt: unscale_calls.append(opt) or original_unscale(self, opt))
    run("eager", steps=3)
    # GradScaler only checked for inf / NaN (inv_scale 1): no separate unscale.
    assert seen and set(seen) == {1.0} and unscale_calls == []

    # The spy sees the unscaling of an optimizer without the flag.
    seen.clear()
    net = make_net()
    plain = torch.optim.AdamW(net.parameters(), lr=1e-2)
    scaler = GradScaler("cpu", init_scale=INIT_SCALE)
    scaler.scale(net(torch.randn(4, 6)).sum()).backward()
    scaler.step(plain)
    assert seen == [1.0 / INIT_SCALE] and len(unscale_calls) == 1


@pytest.mark.parametrize("policy", ["skip", "zero", "passthrough"])
def test_overflow_skips_the_whole_step(policy):
    history, scales = run("eager", inject_inf_at=2, on_nonfinite=policy)
    before, after = history[1], history[2]
    assert_same([before], [after])  # parameters, GS state, optimizer state
    assert scales[3] == scales[2] * 0.5, "the scaler backs off after an overflow"
    assert [s["k"] for s in history[3][1]] == [s["k"] + 1 for s in before[1]]
    assert all(s["skipped"] == 0 for s in history[-1][1])


def test_overflow_does_not_raise_under_raise_on_nonfinite():
    history, _ = run("eager", inject_inf_at=1, raise_on_nonfinite=True)
    assert_same([history[0]], [history[1]])
    assert [s["k"] for s in history[-1][1]] == [5, 5, 5, 5]


def test_unscale_clip_step_unscales_once():
    plain, _ = run("eager", scaled=False, clip=0.05)
    scaled, _ = run("eager", scaled=True, clip=0.05)
    # A second unscale would divide the norms that m and v track by 2^16.
    for (pa, gsa, _), (pb, gsb, _) in zip(plain, scaled):
        for a, b in zip(gsa, gsb):
            assert b["m"] == pytest.approx(a["m"], rel=1e-6)
            assert b["v"] == pytest.approx(a["v"], rel=1e-6)
        for x, y in zip(pa, pb):
            torch.testing.assert_close(y, x, rtol=1e-6, atol=1e-7)


class KeywordGSWrapper(GSWrapper):
    """A step that names `grad_scaler`: GradScaler then passes itself (the
    protocol of torch 1.13's GradScaler) and leaves the inf check to it."""

    def step(self, closure=None, grad_scaler=None):
        return super().step(closure, grad_scaler=grad_scaler)


def test_grad_scaler_keyword_protocol():
    plain, _ = run("eager", scaled=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch deprecates this protocol
        scaled, scales = run("eager", wrapper=KeywordGSWrapper)
        overflow, overflow_scales = run("eager", wrapper=KeywordGSWrapper, inject_inf_at=2)
    assert len(set(scales)) > 1
    assert_same(plain, scaled)
    assert_same([overflow[1]], [overflow[2]])
    assert overflow_scales[3] == overflow_scales[2] * 0.5


def test_sparse_gradients_are_unscaled_not_stabilized():
    def train(scaled):
        torch.manual_seed(0)
        emb = torch.nn.Embedding(10, 4, sparse=True)
        head = torch.nn.Linear(4, 1)
        opt = GSWrapper(torch.optim.SGD([*emb.parameters(), *head.parameters()], lr=0.1),
                        backend="eager")
        scaler = GradScaler("cpu", init_scale=INIT_SCALE) if scaled else None
        for step in range(3):
            opt.zero_grad()
            loss = head(emb(torch.tensor([1, 2, step]))).pow(2).sum()
            if scaled:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
        return emb.weight.detach().clone(), head.weight.detach().clone(), opt

    plain_emb, plain_head, plain_opt = train(False)
    emb, head, opt = train(True)
    assert torch.equal(plain_emb, emb) and torch.equal(plain_head, head)
    assert len(opt.scaler.state) == 2  # the head only: the embedding is untouched


class RecordingCompiled:
    """Stands in for the compiled backend to check what the wrapper hands it."""

    def __init__(self, supports_amp):
        self.supports_amp = supports_amp
        self.calls = []

    def step(self, optimizer, stabilizer, **kwargs):
        self.calls.append(kwargs)


@pytest.mark.parametrize("supports_amp", [True, False])
def test_compiled_backend_receives_the_scale_when_it_supports_amp(supports_amp):
    net = make_net()
    opt = GSWrapper(torch.optim.AdamW(net.parameters(), lr=1e-2), backend="compiled")
    opt._compiled = recording = RecordingCompiled(supports_amp)
    scaler = GradScaler("cpu", init_scale=INIT_SCALE)
    before = [p.detach().clone() for p in net.parameters()]
    scaler.scale(net(torch.randn(4, 6)).sum()).backward()
    grads = [p.grad.clone() for p in net.parameters()]
    scaler.step(opt)
    scaler.update()
    if not supports_amp:
        # The eager path stepped instead.
        assert recording.calls == []
        assert all(not torch.equal(a, p) for a, p in zip(before, net.parameters()))
        return
    (call,) = recording.calls
    inv_scale, found_inf = call["inv_scale"], call["found_inf"]
    assert inv_scale.shape == () and inv_scale.dtype == torch.float32
    assert inv_scale.device == net[0].weight.device and float(inv_scale) == 1.0 / INIT_SCALE
    assert found_inf.shape == () and found_inf.dtype == torch.float32 and float(found_inf) == 0
    # Nothing unscaled the gradients on the way.
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, net.parameters()))

    # Gradients already unscaled by the user: inv_scale is 1.
    scaler.scale(net(torch.randn(4, 6)).sum()).backward()
    scaler.unscale_(opt)
    scaler.step(opt)
    assert float(recording.calls[-1]["inv_scale"]) == 1.0
    assert not hasattr(opt, "grad_scale") and not hasattr(opt, "found_inf")


def test_readme_amp_example_runs_with_autocast():
    net = make_net()
    scaler = GradScaler("cpu")
    optimizer = GSWrapper(torch.optim.AdamW(net.parameters(), lr=1e-3),
                          gamma1=0.6, gamma2=0.999)
    for x, y in batches(4):
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
            loss = ((net(x) - y) ** 2).mean()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    assert [s["k"] for s in optimizer.scaler.state.values()] == [4, 4, 4, 4]
    assert all(torch.isfinite(p).all() for p in net.parameters())


def test_a_failing_step_leaves_no_scale_behind():
    net = make_net()
    opt = GSWrapper(torch.optim.AdamW(net.parameters(), lr=1e-2), backend="eager",
                    raise_on_nonfinite=True)
    scaler = GradScaler("cpu", init_scale=INIT_SCALE)
    scaler.scale(net(torch.randn(4, 6)).sum()).backward()
    scaler.unscale_(opt)
    net[0].weight.grad[0, 0] = float("nan")  # after the scaler's inf check
    with pytest.raises(FloatingPointError, match="parameter 0"):
        scaler.step(opt)
    assert not hasattr(opt, "grad_scale") and not hasattr(opt, "found_inf")
