"""Smoke test of the compatibility floor: scripts/check.sh runs this file with
Debian's Python and torch 1.13 (GS_FLOOR_TORCH=1.13) as well as in the .venv.
The package imports, eager steps agree with the float64 reference, and both
checkpoint formats round-trip through GSWrapper, with nothing newer than
torch 1.13 needed."""

import os

import numpy as np
import pytest
import torch

import gradient_stabilizer
from gradient_stabilizer import GradientStabilizer, GSWrapper
from gradient_stabilizer import reference as R


def test_runs_on_the_expected_torch():
    expected = os.environ.get("GS_FLOOR_TORCH")
    if expected is None:
        pytest.skip("GS_FLOOR_TORCH is set by scripts/check.sh's floor run")
    assert torch.__version__.startswith(expected), torch.__version__


def net_and_data(seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    gen = torch.Generator().manual_seed(seed + 1)
    data = [(torch.randn(16, 5, generator=gen), torch.randn(16, 2, generator=gen))
            for _ in range(6)]
    return net, data


def train(net, opt, data):
    for x, y in data:
        opt.zero_grad()
        ((net(x) - y) ** 2).mean().backward()
        opt.step()


def test_eager_step_matches_the_reference():
    net, data = net_and_data()
    params = [p.detach().double().numpy() for p in net.parameters()]
    opt = GSWrapper(torch.optim.AdamW(net.parameters(), lr=1e-2, weight_decay=0.1),
                    backend="eager")
    x, y = data[0]
    opt.zero_grad()
    ((net(x) - y) ** 2).mean().backward()
    grads = [p.grad.double().numpy() for p in net.parameters()]
    opt.step()
    ref_opt = R.AdamW()
    want, _, _, _ = R.group_step(params, grads, [R.GSState() for _ in params],
                                 [ref_opt.init_state(p) for p in params], ref_opt,
                                 R.GSConfig(), 1e-2, 0.1)
    for got, expected in zip(net.parameters(), want):
        np.testing.assert_allclose(got.detach().double().numpy(), expected,
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("format", ["gs", "original"])
def test_checkpoint_round_trip_continues_bit_exactly(format):
    full, data = net_and_data()
    full_opt = GSWrapper(torch.optim.SGD(full.parameters(), lr=0.05, momentum=0.9),
                         backend="eager")
    train(full, full_opt, data)

    half, _ = net_and_data()
    half_opt = GSWrapper(torch.optim.SGD(half.parameters(), lr=0.05, momentum=0.9),
                         backend="eager")
    train(half, half_opt, data[:3])
    saved = {"model": half.state_dict(), "optimizer": half_opt.state_dict(format=format)}

    resumed, _ = net_and_data(seed=7)
    resumed_opt = GSWrapper(torch.optim.SGD(resumed.parameters(), lr=0.05, momentum=0.9),
                            backend="eager")
    resumed.load_state_dict(saved["model"])
    resumed_opt.load_state_dict(saved["optimizer"])
    train(resumed, resumed_opt, data[3:])
    for a, b in zip(full.parameters(), resumed.parameters()):
        if format == "gs":
            assert torch.equal(a, b)
        else:  # the original format keeps m and v as f32
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert [s["k"] for s in resumed_opt.scaler.state.values()] == [6, 6, 6, 6]


def test_standalone_stabilizer_and_nonfinite_raise():
    net, data = net_and_data()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    stabilizer = GradientStabilizer(gamma1=0.6, gamma2=0.999, raise_on_nonfinite=True)
    x, y = data[0]
    ((net(x) - y) ** 2).mean().backward()
    stabilizer(opt)
    opt.step()
    assert all(s["k"] == 1 for s in stabilizer.state.values())
    net[0].weight.grad[0, 0] = float("nan")
    before = {p: dict(s) for p, s in stabilizer.state.items()}
    with pytest.raises(FloatingPointError, match="parameter 0"):
        stabilizer(opt)
    assert {p: dict(s) for p, s in stabilizer.state.items()} == before
    assert gradient_stabilizer.__all__ == ["GSWrapper", "GradientStabilizer", "Lion"]
