"""Tests of the float64 reference (gradient_stabilizer.reference) against the spec
(docs/spec.md), torch.optim and hand-computed values."""

import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradient_stabilizer.reference import (
    NONFINITE_POLICIES,
    SGD,
    Adam,
    AdamW,
    GSConfig,
    GSState,
    Lion,
    OptState,
    grad_norm,
    group_step,
    stabilization_bound,
    stabilize,
    uniform_bound,
)

F32_MAX = float(np.finfo(np.float32).max)


def rel_err(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def assert_close(actual, expected, rtol=1e-12):
    """Relative agreement, both tensor-wise and element-wise (atol scaled to the tensor)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    assert rel_err(actual, expected) <= rtol
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


# ---------------------------------------------------------------------------
# Packaging
# ---------------------------------------------------------------------------


def test_package_imports_without_torch():
    python_dir = str(Path(__file__).resolve().parents[1])
    code = (
        "import sys; sys.modules['torch'] = None; "
        f"sys.path.insert(0, {python_dir!r}); "
        "import gradient_stabilizer, gradient_stabilizer.reference; "
        "assert gradient_stabilizer.__doc__.startswith('GradientStabilizer: ')"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------
# 1. Optimizers (spec section 2) against torch.optim in float64
# ---------------------------------------------------------------------------

TORCH_CASES = {
    "sgd_plain": (lambda: SGD(), "SGD", {}),
    "sgd_momentum": (lambda: SGD(momentum=0.9), "SGD", {"momentum": 0.9}),
    "sgd_momentum_dampening": (
        lambda: SGD(momentum=0.8, dampening=0.3), "SGD", {"momentum": 0.8, "dampening": 0.3}),
    "sgd_nesterov": (
        lambda: SGD(momentum=0.9, nesterov=True), "SGD", {"momentum": 0.9, "nesterov": True}),
    "adam": (lambda: Adam(), "Adam", {}),
    "adam_custom": (
        lambda: Adam(beta1=0.8, beta2=0.95, eps=1e-6), "Adam",
        {"betas": (0.8, 0.95), "eps": 1e-6}),
    "adam_amsgrad": (lambda: Adam(amsgrad=True), "Adam", {"amsgrad": True}),
    "adamw": (lambda: AdamW(), "AdamW", {}),
    "adamw_amsgrad": (
        lambda: AdamW(beta1=0.85, beta2=0.99, amsgrad=True), "AdamW",
        {"betas": (0.85, 0.99), "amsgrad": True}),
}


def _random_run(seed, steps=20, shape=(7, 5)):
    rng = np.random.default_rng(seed)
    p0 = rng.standard_normal(shape)
    # Varying magnitudes so that amsgrad's running max differs from exp_avg_sq.
    grads = [rng.standard_normal(shape) * 10.0 ** rng.uniform(-2, 1) for _ in range(steps)]
    lrs = rng.uniform(1e-3, 1e-1, size=steps)
    wds = rng.uniform(0.0, 0.1, size=steps)
    wds[::4] = 0.0
    return p0, grads, lrs, wds


@pytest.mark.parametrize("case", sorted(TORCH_CASES))
def test_optimizer_matches_torch(case):
    torch = pytest.importorskip("torch")
    make_ours, torch_name, torch_kwargs = TORCH_CASES[case]
    opt = make_ours()
    p0, grads, lrs, wds = _random_run(seed=sorted(TORCH_CASES).index(case))

    tp = torch.tensor(p0, dtype=torch.float64, requires_grad=True)
    topt = getattr(torch.optim, torch_name)([tp], lr=float(lrs[0]), **torch_kwargs)

    p, state = p0.copy(), opt.init_state(p0)
    for g, lr, wd in zip(grads, lrs, wds):
        p, state = opt.step(p, g, state, float(lr), float(wd))
        for group in topt.param_groups:
            group["lr"] = float(lr)
            group["weight_decay"] = float(wd)
        tp.grad = torch.tensor(g, dtype=torch.float64)
        topt.step()

    assert p.dtype == np.float64
    assert_close(p, tp.detach().numpy())
    assert state.step == len(grads)
    tstate = topt.state[tp]
    for name, moment in zip(opt.moment_names(), state.moments):
        assert_close(moment, tstate[name].numpy())
    if "step" in tstate:
        assert int(tstate["step"]) == state.step


def test_optimizer_moment_names():
    assert SGD().moment_names() == ()
    assert SGD(momentum=0.5).moment_names() == ("momentum_buffer",)
    assert Adam().moment_names() == ("exp_avg", "exp_avg_sq")
    assert Adam(amsgrad=True).moment_names() == ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    assert AdamW().moment_names() == ("exp_avg", "exp_avg_sq")
    assert AdamW(amsgrad=True).moment_names() == ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    assert Lion().moment_names() == ("exp_avg",)
    state = Adam(amsgrad=True).init_state(np.ones((2, 3), dtype=np.float32))
    assert state.step == 0 and len(state.moments) == 3
    assert all(m.dtype == np.float64 and m.shape == (2, 3) and not m.any() for m in state.moments)


@pytest.mark.parametrize("opt", [SGD(momentum=0.9), Adam(amsgrad=True), AdamW(), Lion()],
                         ids=["sgd", "adam", "adamw", "lion"])
def test_optimizer_step_is_pure(opt):
    rng = np.random.default_rng(3)
    p = rng.standard_normal(6)
    state = opt.init_state(p)
    p, state = opt.step(p, rng.standard_normal(6), state, 0.1, 0.01)
    p_before, state_before = p.copy(), state.copy()
    g = rng.standard_normal(6)
    g_before = g.copy()
    new_p, new_state = opt.step(p, g, state, 0.1, 0.01)
    np.testing.assert_array_equal(p, p_before)
    np.testing.assert_array_equal(g, g_before)
    assert state.step == state_before.step
    for a, b in zip(state.moments, state_before.moments):
        np.testing.assert_array_equal(a, b)
    assert new_p is not p and new_state is not state
    assert all(a is not b for a, b in zip(new_state.moments, state.moments))


def _lion_loop(p0, grads, lrs, wds, beta1, beta2):
    """Element-by-element Python loop of the spec's Lion formula."""
    p = [float(x) for x in p0.ravel()]
    m = [0.0] * len(p)
    for g, lr, wd in zip(grads, lrs, wds):
        g = [float(x) for x in g.ravel()]
        for i in range(len(p)):
            c = beta1 * m[i] + (1 - beta1) * g[i]
            u = (c > 0) - (c < 0)
            p[i] = p[i] * (1 - lr * wd) - lr * u
            m[i] = beta2 * m[i] + (1 - beta2) * g[i]
    return np.array(p).reshape(p0.shape), np.array(m).reshape(p0.shape)


@pytest.mark.parametrize("betas", [(0.9, 0.99), (0.5, 0.8)])
def test_lion_matches_hand_loop(betas):
    p0, grads, lrs, wds = _random_run(seed=11, shape=(4, 3))
    opt = Lion(*betas)
    p, state = p0.copy(), opt.init_state(p0)
    for g, lr, wd in zip(grads, lrs, wds):
        p, state = opt.step(p, g, state, float(lr), float(wd))
    p_ref, m_ref = _lion_loop(p0, grads, lrs, wds, *betas)
    assert_close(p, p_ref)
    assert_close(state.moments[0], m_ref)
    assert state.step == len(grads)


def test_lion_properties():
    opt = Lion()
    rng = np.random.default_rng(5)
    p = rng.standard_normal(50)
    state = opt.init_state(p)
    # Without weight decay every element moves by exactly lr (sign is +-1 for nonzero inputs).
    for lr in (0.1, 0.03, 0.5):
        g = rng.standard_normal(50)
        new_p, state = opt.step(p, g, state, lr, 0.0)
        np.testing.assert_allclose(np.abs(new_p - p), lr, rtol=1e-12)
        p = new_p
    # sign(0) = 0: a zero gradient and zero momentum leaves the parameter alone (wd = 0) ...
    p0 = np.array([1.0, -2.0, 3.0])
    fresh = opt.init_state(p0)
    p1, s1 = opt.step(p0, np.zeros(3), fresh, 0.1, 0.0)
    np.testing.assert_array_equal(p1, p0)
    np.testing.assert_array_equal(s1.moments[0], np.zeros(3))
    assert s1.step == 1
    # ... and with weight decay only decays it: p * (1 - lr*wd).
    p2, _ = opt.step(p0, np.zeros(3), fresh, 0.1, 0.5)
    np.testing.assert_allclose(p2, p0 * (1 - 0.05), rtol=1e-15)


def test_sgd_first_momentum_step_and_step_counter():
    opt = SGD(momentum=0.9, dampening=0.5)
    p = np.array([1.0, 2.0])
    s0 = opt.init_state(p)
    p1, s1 = opt.step(p, np.array([1.0, -1.0]), s0, 0.1, 0.0)
    # First step: b = d (no dampening applied).
    np.testing.assert_array_equal(s1.moments[0], [1.0, -1.0])
    np.testing.assert_allclose(p1, [0.9, 2.1], rtol=1e-15)
    p2, s2 = opt.step(p1, np.array([2.0, 0.0]), s1, 0.1, 0.0)
    np.testing.assert_allclose(s2.moments[0], [0.9 + 1.0, -0.9], rtol=1e-15)
    assert (s0.step, s1.step, s2.step) == (0, 1, 2)
    assert SGD().step(p, np.ones(2), SGD().init_state(p), 0.1, 0.0)[1].step == 1


def test_adam_formula_first_step_by_hand():
    # t = 1: m1 = (1-b1) d, m2 = (1-b2) d^2, p -= lr/(1-b1) * m1 / (sqrt(m2)/sqrt(1-b2) + eps)
    opt = Adam(beta1=0.5, beta2=0.75, eps=0.25)
    p = np.array([1.0, -1.0])
    g = np.array([2.0, -4.0])
    new_p, st = opt.step(p, g, opt.init_state(p), 0.1, 0.0)
    expected = p - 0.1 * g / (np.abs(g) + 0.25)
    np.testing.assert_allclose(new_p, expected, rtol=1e-15)
    np.testing.assert_allclose(st.moments[0], 0.5 * g, rtol=1e-15)
    np.testing.assert_allclose(st.moments[1], 0.25 * g * g, rtol=1e-15)
    # AdamW decays first, then the same Adam step on the decayed parameter.
    w = AdamW(beta1=0.5, beta2=0.75, eps=0.25)
    new_w, _ = w.step(p, g, w.init_state(p), 0.1, 0.5)
    np.testing.assert_allclose(new_w, p * 0.95 - 0.1 * g / (np.abs(g) + 0.25), rtol=1e-15)


# ---------------------------------------------------------------------------
# 2. stabilize (spec sections 1 and 3)
# ---------------------------------------------------------------------------


def test_stabilize_three_steps_by_hand():
    # gamma1 = gamma2 = 0.5, eps = 0, bias correction on.
    cfg = GSConfig(gamma1=0.5, gamma2=0.5, eps=0.0)
    s0 = GSState()
    # Step 1: n = 5; m = 2.5, v = 12.5; mh = 5, vh = 25; c = 1.
    g1, s1, e1 = stabilize(np.array([3.0, 4.0]), s0, cfg)
    assert e1 == "applied"
    assert (s1.m, s1.v, s1.k, s1.skipped) == (2.5, 12.5, 1, 0)
    np.testing.assert_allclose(g1, [0.6, 0.8], rtol=1e-15)
    # Step 2: n = 10; m = 6.25, v = 56.25; mh = 25/3, vh = 75; c = 5*sqrt(3)/9.
    g2, s2, e2 = stabilize(np.array([6.0, 8.0]), s1, cfg)
    assert e2 == "applied"
    assert (s2.m, s2.v, s2.k) == (6.25, 56.25, 2)
    c2 = 5.0 * math.sqrt(3.0) / 9.0
    np.testing.assert_allclose(g2, [0.6 * c2, 0.8 * c2], rtol=1e-15)
    # Step 3: n = 2; m = 4.125, v = 30.125; mh = 33/7, vh = 241/7; c = 33/sqrt(1687).
    g3, s3, e3 = stabilize(np.array([0.0, -2.0]), s2, cfg)
    assert e3 == "applied"
    assert (s3.m, s3.v, s3.k) == (4.125, 30.125, 3)
    np.testing.assert_allclose(g3, [0.0, -33.0 / math.sqrt(1687.0)], rtol=1e-14)


def test_stabilize_eps_and_no_bias_correction_by_hand():
    g = np.array([3.0, 4.0])
    # eps is added to sqrt(vh) exactly as written: c = 5 / (5 + 1).
    gt, _, _ = stabilize(g, GSState(), GSConfig(gamma1=0.5, gamma2=0.5, eps=1.0))
    np.testing.assert_allclose(gt, g / 5.0 * (5.0 / 6.0), rtol=1e-15)
    # Defaults without bias correction: m = 0.4*5 = 2, v = 0.001*25; c = 2/(sqrt(0.025)+1e-12).
    gt, st_, _ = stabilize(g, GSState(), GSConfig(bias_correction=False))
    c = 2.0 / (math.sqrt(0.025) + 1e-12)
    np.testing.assert_allclose(gt, g / 5.0 * c, rtol=1e-14)
    assert st_.m == pytest.approx(2.0, rel=1e-15) and st_.v == pytest.approx(0.025, rel=1e-15)
    # Defaults with bias correction: first step has c = n / (n + eps), i.e. unit norm.
    gt, _, _ = stabilize(g, GSState(), GSConfig())
    assert grad_norm(gt) == pytest.approx(5.0 / (5.0 + 1e-12), rel=1e-15)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_stabilize_output_dtype_shape_and_norm(dtype):
    rng = np.random.default_rng(0)
    g = rng.standard_normal((3, 4)).astype(dtype)
    cfg = GSConfig(gamma1=0.7, gamma2=0.9)
    state = GSState(m=2.0, v=9.0, k=4, skipped=1)
    gt, new, event = stabilize(g, state, cfg)
    assert event == "applied" and gt.dtype == np.float64 and gt.shape == (3, 4)
    n = grad_norm(g)
    m = 0.7 * 2.0 + 0.3 * n
    v = 0.9 * 9.0 + 0.1 * n * n
    c = (m / (1 - 0.7**5)) / (math.sqrt(v / (1 - 0.9**5)) + cfg.eps)
    assert grad_norm(gt) == pytest.approx(c, rel=1e-13)
    assert_close(gt, g.astype(np.float64) * (c / n), rtol=1e-15)
    assert (new.k, new.skipped) == (5, 1)


@pytest.mark.parametrize("policy", NONFINITE_POLICIES)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_stabilize_nonfinite_events(policy, bad):
    cfg = GSConfig(on_nonfinite=policy)
    state = GSState(m=1.5, v=2.5, k=3, skipped=2)
    state_copy = replace(state)
    g = np.array([1.0, bad, 2.0], dtype=np.float32)
    g_copy = g.copy()
    gt, new, event = stabilize(g, state, cfg)
    assert event == "nonfinite"
    assert new == GSState(m=1.5, v=2.5, k=3, skipped=3)
    assert new is not state and state == state_copy
    np.testing.assert_array_equal(g, g_copy)
    assert gt.dtype == np.float64 and gt.shape == g.shape
    if policy == "zero":
        np.testing.assert_array_equal(gt, np.zeros(3))
    else:  # skip (caller does not step) and passthrough: g unchanged
        np.testing.assert_array_equal(gt, g.astype(np.float64))


@pytest.mark.parametrize("policy", NONFINITE_POLICIES)
def test_stabilize_zero_gradient_event(policy):
    state = GSState(m=1.5, v=2.5, k=3, skipped=0)
    g = np.array([[0.0, -0.0], [0.0, 0.0]], dtype=np.float16)
    gt, new, event = stabilize(g, state, GSConfig(on_nonfinite=policy))
    assert event == "zero"
    assert new == GSState(m=1.5, v=2.5, k=3, skipped=1)
    assert state == GSState(m=1.5, v=2.5, k=3, skipped=0)
    np.testing.assert_array_equal(gt, g.astype(np.float64))
    assert gt.shape == (2, 2)
    # Empty gradient: norm 0, also a zero event.
    assert stabilize(np.zeros((0,)), state, GSConfig())[2] == "zero"


def test_stabilize_does_not_mutate_on_applied():
    state = GSState(m=1.0, v=1.0, k=1, skipped=0)
    g = np.array([1.0, 2.0])
    gt, new, _ = stabilize(g, state, GSConfig())
    assert state == GSState(m=1.0, v=1.0, k=1, skipped=0)
    np.testing.assert_array_equal(g, [1.0, 2.0])
    assert gt is not g and new is not state


@settings(deadline=None, max_examples=100, database=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    log_scale=st.floats(-30.0, 30.0),
    k=st.integers(0, 50),
    eps=st.sampled_from([0.0, 1e-12, 1e-3]),
)
def test_stabilize_preserves_direction(seed, log_scale, k, eps):
    """Property (spec section 1): g~ = g * (c/n) has g's direction for any scale and state."""
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(9) * 10.0**log_scale
    state = GSState(m=float(rng.uniform(0, 5)), v=float(rng.uniform(0, 30)), k=k)
    gt, new, event = stabilize(g, state, GSConfig())
    assert event == "applied"
    assert_close(gt / grad_norm(gt), g / grad_norm(g), rtol=1e-14)
    assert np.all(np.sign(gt) == np.sign(g))


@settings(deadline=None, max_examples=50, database=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    log_scale=st.floats(-20.0, 20.0),
    bias=st.booleans(),
    steps=st.integers(1, 15),
)
def test_stabilize_scale_invariant_without_eps(seed, log_scale, bias, steps):
    """Property: with eps = 0, c is homogeneous of degree 0 in the norms, so a history
    scaled by a > 0 gives the same g~ for each step."""
    rng = np.random.default_rng(seed)
    a = 10.0**log_scale
    cfg = GSConfig(eps=0.0, bias_correction=bias)
    s1, s2 = GSState(), GSState()
    for _ in range(steps):
        g = rng.standard_normal(5) * 10.0 ** rng.uniform(-3, 3)
        gt1, s1, _ = stabilize(g, s1, cfg)
        gt2, s2, _ = stabilize(a * g, s2, cfg)
        assert_close(gt2, gt1, rtol=1e-12)


# ---------------------------------------------------------------------------
# 3. grad_norm
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("value,dtype", [
    (3.4e38, np.float32), (1e-30, np.float32), (65504.0, np.float16), (1e-7, np.float16),
    (1e300, np.float64), (1e-300, np.float64),
])
def test_grad_norm_no_overflow_or_underflow(value, dtype):
    g = np.full(2**20, value, dtype=dtype)
    expected = float(dtype(value)) * 2.0**10
    n = grad_norm(g)
    assert math.isfinite(n)
    assert abs(n - expected) <= 1e-12 * expected


def test_grad_norm_f32_max_exactly():
    g = np.full((2**10, 2**10), 3.4e38, dtype=np.float32)
    assert grad_norm(g) == pytest.approx(float(np.float32(3.4e38)) * 1024.0, rel=1e-12)
    g = np.full(2**20, -F32_MAX, dtype=np.float32)
    assert grad_norm(g) == pytest.approx(F32_MAX * 1024.0, rel=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_grad_norm_matches_linalg_norm(seed):
    rng = np.random.default_rng(seed)
    shape = [(1000,), (17, 31), (2, 3, 4, 5), (), (1,)][seed]
    g = rng.standard_normal(shape) * 10.0 ** rng.uniform(-5, 5)
    for dtype in (np.float64, np.float32, np.float16):
        x = g.astype(dtype)
        expected = float(np.linalg.norm(x.astype(np.float64).ravel()))
        assert grad_norm(x) == pytest.approx(expected, rel=1e-12)


def test_grad_norm_nonfinite_and_empty():
    assert math.isnan(grad_norm(np.array([1.0, math.nan], dtype=np.float32)))
    assert math.isnan(grad_norm(np.array([math.inf, math.nan, -math.inf])))
    assert grad_norm(np.array([1.0, -math.inf], dtype=np.float16)) == math.inf
    assert grad_norm(np.zeros((3, 3))) == 0.0
    assert grad_norm(np.zeros((0, 4))) == 0.0
    assert isinstance(grad_norm(np.ones(4, dtype=np.float32)), float)


# ---------------------------------------------------------------------------
# 4. The bound (spec section 1)
# ---------------------------------------------------------------------------


def test_uniform_bound_defaults():
    b = uniform_bound(0.6, 0.999)
    assert abs(b - 15.8) < 0.1
    assert uniform_bound(0.6, 0.999, bias_correction=False) == pytest.approx(b, rel=1e-15)


@pytest.mark.parametrize("gammas", [(0.6, 0.999), (0.9, 0.999), (0.9, 0.9), (0.0, 0.9),
                                    (0.3, 0.5), (0.0, 0.0), (0.99, 0.99999)])
@pytest.mark.parametrize("bias", [True, False])
def test_uniform_bound_is_sup_of_stabilization_bound(gammas, bias):
    """Numerically: max over k (to convergence) of B_k equals uniform_bound, never exceeded."""
    ks = np.unique(np.concatenate([np.arange(1, 3000),
                                   np.geomspace(3000, 5e7, 400).astype(np.int64)]))
    bs = np.array([stabilization_bound(int(k), *gammas, bias_correction=bias) for k in ks])
    b = uniform_bound(*gammas, bias_correction=bias)
    assert np.all(bs <= b * (1 + 1e-12))
    assert bs.max() == pytest.approx(b, rel=1e-9)


def test_bound_without_uniform_bound():
    assert uniform_bound(0.9, 0.8) == math.inf
    assert uniform_bound(0.5, 0.25) == math.inf
    assert uniform_bound(0.3, 0.0) == math.inf
    assert stabilization_bound(1000, 0.9, 0.5) > 1e10
    assert stabilization_bound(10**6, 0.9, 0.5) == math.inf
    assert stabilization_bound(4000, 0.9, 0.8) > 100 * stabilization_bound(1000, 0.9, 0.8)
    # Boundary gamma1**2 == gamma2: S_k grows linearly, B_k like sqrt(k).
    assert stabilization_bound(10**6, 0.5, 0.25) == pytest.approx(
        math.sqrt(0.25 / 0.75 * 10**6), rel=1e-9)
    assert stabilization_bound(2, 0.3, 0.0) == math.inf


def test_stabilization_bound_closed_form():
    # k = 1: sqrt(1-g2)/(1-g1) * (1-g1)/sqrt(1-g2) = 1 with bias correction.
    assert stabilization_bound(1, 0.6, 0.999) == pytest.approx(1.0, rel=1e-14)
    assert stabilization_bound(1, 0.6, 0.999, bias_correction=False) == pytest.approx(
        0.4 / math.sqrt(0.001), rel=1e-14)
    # Direct sum for k = 7.
    g1, g2, k = 0.7, 0.95, 7
    s = sum((1 - g1) ** 2 * g1 ** (2 * j) / ((1 - g2) * g2**j) for j in range(k))
    assert stabilization_bound(k, g1, g2, False) == pytest.approx(math.sqrt(s), rel=1e-13)
    assert stabilization_bound(k, g1, g2) == pytest.approx(
        math.sqrt(1 - g2**k) / (1 - g1**k) * math.sqrt(s), rel=1e-13)


@pytest.mark.parametrize("g1,g2,k", [(0.6, 0.999, 1), (0.6, 0.999, 5), (0.6, 0.999, 30),
                                     (0.9, 0.999, 50), (0.5, 0.5, 10), (0.0, 0.9, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_bound_is_attained(g1, g2, k, bias):
    """Cauchy-Schwarz equality: norms n_i = (g1/g2)^(k-i) (eps = 0) reach B_k exactly,
    so B_k is neither too small nor too large.  (gamma1 = 0: only the last norm counts,
    the earlier ones must vanish; a factor 1e-60 per step approximates that.)"""
    cfg = GSConfig(gamma1=g1, gamma2=g2, eps=0.0, bias_correction=bias)
    state = GSState()
    direction = np.array([1.0, -2.0, 2.0]) / 3.0
    ratio = g1 / g2 if g1 > 0 else 1e-60
    for i in range(1, k + 1):
        gt, state, event = stabilize(direction * ratio ** (k - i), state, cfg)
    assert event == "applied" and state.k == k
    assert grad_norm(gt) == pytest.approx(stabilization_bound(k, g1, g2, bias), rel=1e-12)


def _history_gradient(kind, log_scale, seed, size=8):
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=size)
    if kind == "spike":
        return (signs * F32_MAX).astype(np.float32)
    if kind == "zero":
        return np.zeros(size, dtype=np.float32)
    g = rng.standard_normal(size) * 10.0**log_scale
    return np.clip(g, -F32_MAX, F32_MAX).astype(np.float32)


@settings(deadline=None, max_examples=150, database=None)
@given(
    history=st.lists(
        st.tuples(st.sampled_from(["normal", "normal", "spike", "zero"]),
                  st.floats(-40.0, 38.0), st.integers(0, 2**32 - 1)),
        min_size=1, max_size=40),
    gammas=st.sampled_from([(0.6, 0.999), (0.9, 0.999), (0.3, 0.5), (0.0, 0.9), (0.95, 0.9),
                            (0.99, 0.995)]),
    bias=st.booleans(),
    eps=st.sampled_from([0.0, 1e-12, 1e-3]),
)
def test_bound_holds_for_spiky_histories(history, gammas, bias, eps):
    """Spec section 1: every finite history, spikes up to f32 max in every element,
    gives finite g~ with ||g~_k|| <= B_k, finite m and v, and ordinary steps after."""
    cfg = GSConfig(gamma1=gammas[0], gamma2=gammas[1], eps=eps, bias_correction=bias)
    uniform = uniform_bound(*gammas, bias_correction=bias)
    state = GSState()
    for kind, log_scale, seed in history + [("normal", 0.0, 1)]:
        g = _history_gradient(kind, log_scale, seed)
        gt, new, event = stabilize(g, state, cfg)
        assert math.isfinite(new.m) and math.isfinite(new.v)
        assert np.all(np.isfinite(gt))
        if grad_norm(g) == 0.0:
            assert event == "zero" and new.k == state.k
        else:
            assert event == "applied" and new.k == state.k + 1
            norm = grad_norm(gt)
            assert norm <= stabilization_bound(new.k, *gammas, bias) * (1 + 1e-12)
            assert norm <= uniform * (1 + 1e-12)
        state = new


def test_f32_max_spike_then_ordinary_steps():
    cfg = GSConfig()
    state = GSState()
    rng = np.random.default_rng(0)
    for _ in range(10):
        _, state, _ = stabilize(rng.standard_normal(64).astype(np.float32), state, cfg)
    spike = np.full(2**16, F32_MAX, dtype=np.float32)
    gt, state, event = stabilize(spike, state, cfg)
    assert event == "applied" and np.all(np.isfinite(gt))
    assert grad_norm(gt) <= stabilization_bound(state.k, 0.6, 0.999) * (1 + 1e-12)
    assert math.isfinite(state.m) and math.isfinite(state.v)
    for _ in range(20):
        g = rng.standard_normal(2**16).astype(np.float32)
        gt, state, event = stabilize(g, state, cfg)
        assert event == "applied" and np.all(np.isfinite(gt)) and grad_norm(gt) > 0.0
    assert state.k == 31 and state.skipped == 0


# ---------------------------------------------------------------------------
# 5. group_step (spec sections 3, 4, 5)
# ---------------------------------------------------------------------------


def _group(seed=0, optimizer=None, shapes=((4,), (2, 3), (5,))):
    rng = np.random.default_rng(seed)
    optimizer = optimizer or Adam()
    params = [rng.standard_normal(s) for s in shapes]
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    gs = [GSState(m=1.0, v=2.0, k=3, skipped=0) for _ in shapes]
    opt_states = [optimizer.init_state(p) for p in params]
    # One warm-up step so that optimizer states are non-trivial.
    params, gs, opt_states, _ = group_step(params, grads, gs, opt_states, optimizer,
                                           GSConfig(), 0.01, 0.0)
    grads = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    return params, grads, gs, opt_states, optimizer


def _assert_same_group(a, b, rtol=0.0):
    pa, ga, oa = a
    pb, gb, ob = b
    for x, y in zip(pa, pb):
        if rtol == 0.0:
            np.testing.assert_array_equal(x, y)
        else:
            assert_close(x, y, rtol)
    for x, y in zip(ga, gb):
        if rtol == 0.0:
            assert x == y
        else:
            assert (x.k, x.skipped) == (y.k, y.skipped)
            assert x.m == pytest.approx(y.m, rel=rtol) and x.v == pytest.approx(y.v, rel=rtol)
    for x, y in zip(oa, ob):
        assert x.step == y.step
        for u, w in zip(x.moments, y.moments):
            if rtol == 0.0:
                np.testing.assert_array_equal(u, w)
            else:
                assert_close(u, w, rtol)


def test_group_step_found_inf_skips_everything():
    params, grads, gs, opt_states, opt = _group()
    out = group_step(params, grads, gs, opt_states, opt, GSConfig(), 0.1, 0.01,
                     inv_scale=0.5, found_inf=True)
    assert out[3] is True
    _assert_same_group(out[:3], (params, gs, opt_states))
    assert all(x is not y for x, y in zip(out[0], params))
    assert all(x is not y for x, y in zip(out[1], gs))
    assert all(x is not y for x, y in zip(out[2], opt_states))
    # Also without inv_scale.
    out = group_step(params, grads, gs, opt_states, opt, GSConfig(), 0.1, 0.01, found_inf=True)
    assert out[3] is True
    _assert_same_group(out[:3], (params, gs, opt_states))


@pytest.mark.parametrize("policy", NONFINITE_POLICIES)
def test_group_step_inv_scale_nonfinite_skips_whole_step(policy):
    params, grads, gs, opt_states, opt = _group()
    grads[1] = grads[1].copy()
    grads[1][0, 2] = np.inf
    out = group_step(params, grads, gs, opt_states, opt, GSConfig(on_nonfinite=policy), 0.1,
                     0.01, inv_scale=2.0**-10)
    assert out[3] is True
    _assert_same_group(out[:3], (params, gs, opt_states))


@pytest.mark.parametrize("opt", [Adam(), SGD(momentum=0.9), Lion()], ids=["adam", "sgd", "lion"])
def test_group_step_inv_scale_equals_prescaled(opt):
    params, grads, gs, opt_states, opt = _group(optimizer=opt)
    cfg = GSConfig()
    ref = group_step(params, grads, gs, opt_states, opt, cfg, 0.05, 0.01)
    assert ref[3] is False
    # Power-of-two scale: bit-exact.
    scaled = [g * np.float32(2.0**16) for g in grads]
    out = group_step(params, scaled, gs, opt_states, opt, cfg, 0.05, 0.01, inv_scale=2.0**-16)
    assert out[3] is False
    _assert_same_group(out[:3], ref[:3])
    # Any other scale: equal up to rounding.
    scaled = [g.astype(np.float64) * 1000.0 for g in grads]
    out = group_step(params, scaled, gs, opt_states, opt, cfg, 0.05, 0.01, inv_scale=1e-3)
    _assert_same_group(out[:3], ref[:3], rtol=1e-12)


def test_group_step_inv_scale_huge_gradients_do_not_overflow():
    params, _, gs, opt_states, opt = _group(shapes=((2**12,),))
    g = np.full(2**12, F32_MAX, dtype=np.float32)
    out = group_step(params, [g], gs, opt_states, opt, GSConfig(), 0.01, 0.0, inv_scale=2.0**-24)
    assert out[3] is False
    assert out[1][0].k == gs[0].k + 1
    assert math.isfinite(out[1][0].m) and math.isfinite(out[1][0].v)
    assert np.all(np.isfinite(out[0][0]))


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # passthrough: inf/inf
@pytest.mark.parametrize("policy", NONFINITE_POLICIES)
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_group_step_nonfinite_affects_only_that_param(policy, bad):
    params, grads, gs, opt_states, opt = _group()
    cfg = GSConfig(on_nonfinite=policy)
    grads[1] = grads[1].copy()
    grads[1][1, 1] = bad
    new_p, new_gs, new_opt, skipped = group_step(params, grads, gs, opt_states, opt, cfg, 0.1, 0.01)
    assert skipped is False

    # Other parameters: exactly as if parameter 1 had no gradient.
    others = group_step(params, [grads[0], None, grads[2]], gs, opt_states, opt, cfg, 0.1, 0.01)
    for i in (0, 2):
        np.testing.assert_array_equal(new_p[i], others[0][i])
        assert new_gs[i] == others[1][i]
        assert new_opt[i].step == others[2][i].step == opt_states[i].step + 1

    # The non-finite parameter: m, v, k unchanged, skipped + 1, under every policy.
    assert new_gs[1] == replace(gs[1], skipped=gs[1].skipped + 1)
    assert math.isfinite(new_gs[1].m) and math.isfinite(new_gs[1].v)
    if policy == "skip":
        np.testing.assert_array_equal(new_p[1], params[1])
        assert new_opt[1].step == opt_states[1].step
        for u, w in zip(new_opt[1].moments, opt_states[1].moments):
            np.testing.assert_array_equal(u, w)
    else:
        g_used = np.zeros((2, 3)) if policy == "zero" else grads[1].astype(np.float64)
        exp_p, exp_s = opt.step(params[1], g_used, opt_states[1], 0.1, 0.01)
        np.testing.assert_array_equal(new_p[1], exp_p)
        assert new_opt[1].step == exp_s.step == opt_states[1].step + 1
        for u, w in zip(new_opt[1].moments, exp_s.moments):
            np.testing.assert_array_equal(u, w)
        if policy == "zero":
            assert np.all(np.isfinite(new_p[1]))
        else:
            assert not np.all(np.isfinite(new_p[1]))  # the original library's behaviour


def test_group_step_none_gradient_leaves_param_alone():
    params, grads, gs, opt_states, opt = _group()
    new_p, new_gs, new_opt, skipped = group_step(
        params, [None, grads[1], None], gs, opt_states, opt, GSConfig(), 0.1, 0.01)
    assert skipped is False
    for i in (0, 2):
        np.testing.assert_array_equal(new_p[i], params[i])
        assert new_gs[i] == gs[i]
        assert new_opt[i].step == opt_states[i].step
        for u, w in zip(new_opt[i].moments, opt_states[i].moments):
            np.testing.assert_array_equal(u, w)
    assert new_gs[1].k == gs[1].k + 1
    assert not np.array_equal(new_p[1], params[1])


def test_group_step_skip_policy_does_not_advance_t():
    """[g1, NaN, g2] under skip equals [g1, g2] for params and optimizer state."""
    rng = np.random.default_rng(7)
    opt, cfg = Adam(), GSConfig(on_nonfinite="skip")
    p0 = [rng.standard_normal(6)]
    g1, g2 = rng.standard_normal(6), rng.standard_normal(6)
    bad = np.full(6, np.nan)

    def run(grad_seq):
        p, gs, os_ = p0, [GSState()], [opt.init_state(p0[0])]
        for g in grad_seq:
            p, gs, os_, _ = group_step(p, [g], gs, os_, opt, cfg, 0.1, 0.01)
        return p, gs, os_

    p_a, gs_a, os_a = run([g1, bad, g2])
    p_b, gs_b, os_b = run([g1, g2])
    np.testing.assert_array_equal(p_a[0], p_b[0])
    assert os_a[0].step == os_b[0].step == 2
    for u, w in zip(os_a[0].moments, os_b[0].moments):
        np.testing.assert_array_equal(u, w)
    assert (gs_a[0].m, gs_a[0].v, gs_a[0].k) == (gs_b[0].m, gs_b[0].v, gs_b[0].k)
    assert gs_a[0].skipped == 1 and gs_b[0].skipped == 0


def test_group_step_zero_gradient_still_steps_optimizer():
    opt = SGD(momentum=0.5)
    p = [np.array([1.0, -2.0])]
    gs = [GSState(m=1.0, v=1.0, k=2)]
    os_ = [opt.init_state(p[0])]
    new_p, new_gs, new_opt, _ = group_step(p, [np.zeros(2, np.float32)], gs, os_, opt,
                                           GSConfig(), 0.1, 0.5)
    np.testing.assert_allclose(new_p[0], p[0] * (1 - 0.1 * 0.5), rtol=1e-15)  # weight decay only
    assert new_opt[0].step == 1
    assert new_gs[0] == GSState(m=1.0, v=1.0, k=2, skipped=1)


def test_group_step_applies_stabilized_gradient():
    opt = SGD()
    cfg = GSConfig(gamma1=0.5, gamma2=0.5, eps=0.0)
    p = [np.zeros(2)]
    new_p, new_gs, new_opt, _ = group_step(p, [np.array([3.0, 4.0], np.float32)], [GSState()],
                                           [opt.init_state(p[0])], opt, cfg, 1.0, 0.0)
    np.testing.assert_allclose(new_p[0], [-0.6, -0.8], rtol=1e-15)  # c = 1 on the first step
    assert new_gs[0] == GSState(m=2.5, v=12.5, k=1, skipped=0)


def test_group_step_does_not_mutate_inputs():
    params, grads, gs, opt_states, opt = _group()
    snapshot = ([p.copy() for p in params], [g.copy() for g in grads], [replace(s) for s in gs],
                [s.copy() for s in opt_states])
    group_step(params, grads, gs, opt_states, opt, GSConfig(), 0.1, 0.01, inv_scale=0.25)
    for a, b in zip(params, snapshot[0]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(grads, snapshot[1]):
        np.testing.assert_array_equal(a, b)
    assert gs == snapshot[2]
    for a, b in zip(opt_states, snapshot[3]):
        assert a.step == b.step
        for u, w in zip(a.moments, b.moments):
            np.testing.assert_array_equal(u, w)


def test_group_step_checks_lengths():
    params, grads, gs, opt_states, opt = _group()
    with pytest.raises(ValueError):
        group_step(params, grads[:2], gs, opt_states, opt, GSConfig(), 0.1, 0.0)


# ---------------------------------------------------------------------------
# 6. Argument validation
# ---------------------------------------------------------------------------


def test_gsconfig_message_exact():
    with pytest.raises(ValueError, match=r"^gamma1 must be in \[0, 1\), got 1\.5$"):
        GSConfig(gamma1=1.5)


def test_gsconfig_defaults_valid():
    cfg = GSConfig()
    assert (cfg.gamma1, cfg.gamma2, cfg.eps, cfg.bias_correction, cfg.on_nonfinite) == (
        0.6, 0.999, 1e-12, True, "skip")
    with pytest.raises(Exception):
        cfg.gamma1 = 0.5  # frozen
    assert GSState() == GSState(m=0.0, v=0.0, k=0, skipped=0)
    assert OptState().step == 0 and OptState().moments == []


@pytest.mark.parametrize("make,name", [
    (lambda: GSConfig(gamma1=1.0), "gamma1"),
    (lambda: GSConfig(gamma1=-0.1), "gamma1"),
    (lambda: GSConfig(gamma1=math.nan), "gamma1"),
    (lambda: GSConfig(gamma2=1.0), "gamma2"),
    (lambda: GSConfig(gamma2=-1e-9), "gamma2"),
    (lambda: GSConfig(eps=-1e-12), "eps"),
    (lambda: GSConfig(eps=math.nan), "eps"),
    (lambda: GSConfig(on_nonfinite="ignore"), "on_nonfinite"),
    (lambda: GSConfig(bias_correction="yes"), "bias_correction"),
    (lambda: SGD(momentum=-0.1), "momentum"),
    (lambda: SGD(nesterov=True), "nesterov"),
    (lambda: SGD(momentum=0.9, dampening=0.1, nesterov=True), "nesterov"),
    (lambda: Adam(beta1=1.0), "beta1"),
    (lambda: Adam(beta2=-0.5), "beta2"),
    (lambda: Adam(eps=-1e-8), "eps"),
    (lambda: AdamW(beta1=1.5), "beta1"),
    (lambda: AdamW(beta2=1.0), "beta2"),
    (lambda: AdamW(eps=-1.0), "eps"),
    (lambda: Lion(beta1=1.0), "beta1"),
    (lambda: Lion(beta2=-0.1), "beta2"),
    (lambda: stabilization_bound(0, 0.6, 0.999), "k"),
    (lambda: stabilization_bound(3, 1.0, 0.999), "gamma1"),
    (lambda: uniform_bound(0.6, 1.0), "gamma2"),
])
def test_argument_validation(make, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        make()


@pytest.mark.parametrize("opt", [SGD(momentum=0.9), Adam(), AdamW(), Lion()],
                         ids=["sgd", "adam", "adamw", "lion"])
@pytest.mark.parametrize("lr,wd,name", [(-0.1, 0.0, "lr"), (math.nan, 0.0, "lr"),
                                        (0.1, -0.01, "weight_decay")])
def test_per_call_validation(opt, lr, wd, name):
    p = np.ones(3)
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        opt.step(p, np.ones(3), opt.init_state(p), lr, wd)


def test_group_step_validates_inv_scale():
    params, grads, gs, opt_states, opt = _group()
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="inv_scale"):
            group_step(params, grads, gs, opt_states, opt, GSConfig(), 0.1, 0.0, inv_scale=bad)
