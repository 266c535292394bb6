"""The eager backend against the float64 reference on seeded random cases.

Each case is one parameter group (random shapes, including empty and 0-d
tensors, one dtype, one optimizer, one GS configuration) run for a few steps
of random gradients: ordinary, entirely subnormal (with and without zeros),
zero, spikes up to the dtype's largest value, NaN and Inf. GSWrapper's eager
step must agree with `reference.group_step`, and its stabilized gradients
with `reference.stabilize`, under the tolerance rule of the execution tests
(`compare` in test/Execution/Inputs/gs_harness.py): per element
|got - want| <= tol * max(|want|, |old| + |want - old|) + FLOOR * max|want|
+ TINY[dtype], tol = 2 ulp of the dtype, the same NaNs; m and v to 1e-12,
k, skipped and step counts exactly.

A parameter that a passed-through NaN or Inf made non-finite is left out of
later steps' comparisons: arithmetic on it is not comparable (torch's SGD
skips `wd * p` when wd = 0, the spec computes 0 * inf = NaN).

Full steps run for float32 and float64 parameters; for float16 / bfloat16
the optimizer is plain SGD, whose torch step rounds once (torch's Adam and
Lion compute in the parameter's dtype, which no f32 rule covers); the
stabilized gradient is checked for every dtype.
"""

import math
import warnings

import numpy as np
import pytest
import torch

from gradient_stabilizer import GSWrapper, Lion
from gradient_stabilizer import reference as R
from gradient_stabilizer.eager import POLICIES

SEED = 1616
CASES = 400

DTYPES = {"f32": torch.float32, "f64": torch.float64, "f16": torch.float16,
          "bf16": torch.bfloat16}
# Relative precision of a stored value; f64 gradients are multiplied by an f32
# factor (as the compiled steps do), so they get f32's.
ULP = {"f32": 2.0 ** -23, "f64": 2.0 ** -23, "f16": 2.0 ** -10, "bf16": 2.0 ** -7}
# Spacing of the subnormals: absolute precision of values below the normal range.
TINY = {"f32": 2.0 ** -149, "f64": 0.0, "f16": 2.0 ** -24, "bf16": 2.0 ** -133}
FLOOR = 1e-7
# The largest finite value of each dtype.
LIMIT = {name: float(torch.finfo(dtype).max) for name, dtype in DTYPES.items()}
LARGEST = {"f32": 3.4028234663852886e38, "f64": 3.4028234663852886e38,
           "f16": 65504.0, "bf16": 3.3895313892515355e38}
# Magnitudes of entirely subnormal gradients (f64 ones get f32's: the spec
# leaves f64 norms below 1e-154 out).
SUBNORMAL = {"f32": (1e-45, 1e-38), "f64": (1e-45, 1e-38), "f16": (6e-8, 6e-5),
             "bf16": (1e-40, 1e-38)}

OPTIMIZERS = {
    "sgd": (lambda ps, lr, wd: torch.optim.SGD(ps, lr=lr, weight_decay=wd),
            lambda: R.SGD()),
    "sgd_momentum": (lambda ps, lr, wd: torch.optim.SGD(ps, lr=lr, momentum=0.9,
                                                        weight_decay=wd),
                     lambda: R.SGD(momentum=0.9)),
    "sgd_nesterov": (lambda ps, lr, wd: torch.optim.SGD(ps, lr=lr, momentum=0.8,
                                                        nesterov=True, weight_decay=wd),
                     lambda: R.SGD(momentum=0.8, nesterov=True)),
    "sgd_dampening": (lambda ps, lr, wd: torch.optim.SGD(ps, lr=lr, momentum=0.8,
                                                         dampening=0.25, weight_decay=wd),
                      lambda: R.SGD(momentum=0.8, dampening=0.25)),
    "adam": (lambda ps, lr, wd: torch.optim.Adam(ps, lr=lr, weight_decay=wd),
             lambda: R.Adam()),
    "adam_amsgrad": (lambda ps, lr, wd: torch.optim.Adam(ps, lr=lr, amsgrad=True,
                                                         weight_decay=wd),
                     lambda: R.Adam(amsgrad=True)),
    "adamw": (lambda ps, lr, wd: torch.optim.AdamW(ps, lr=lr, weight_decay=wd),
              lambda: R.AdamW()),
    "lion": (lambda ps, lr, wd: Lion(ps, lr=lr, weight_decay=wd), lambda: R.Lion()),
}
SHAPES = [(), (1,), (5,), (3, 4), (2, 3, 2), (17,), (64,), (0,), (3, 0)]
# (gamma1, gamma2) with a uniform bound (gamma1^2 < gamma2, spec section 1): c
# is at most about 1000. Without one c/n has no bound and, for gradients near
# zero, the product leaves f32's range: the configuration warns.
BOUNDED = [(g1, g2) for g1 in (0.0, 0.6, 0.9, 0.99) for g2 in (0.0, 0.5, 0.999, 0.999999)
           if g1 * g1 < g2]
KINDS = ["normal", "normal", "subnormal", "subnormal_zeros", "zero", "spike",
         "largest", "nan", "inf"]


def to_f64(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).numpy().copy()


def random_gradient(rng, shape, dtype, kind):
    size = int(np.prod(shape))
    if kind == "zero":
        g = np.zeros(shape)
    elif kind in ("subnormal", "subnormal_zeros"):
        low, high = SUBNORMAL[dtype]
        g = np.exp(rng.uniform(math.log(low), math.log(high), shape))
        g *= rng.choice([-1.0, 1.0], shape)
        if kind == "subnormal_zeros" and size:
            g.flat[rng.integers(size)] = 0.0
    elif kind == "largest":
        g = LARGEST[dtype] * rng.choice([-1.0, 1.0], shape)
    else:
        g = rng.standard_normal(shape) * math.exp(rng.uniform(-7, 7))
        if kind == "spike" and size:
            g.flat[rng.integers(size)] = LARGEST[dtype] * rng.uniform(0.01, 1.0)
        if kind in ("nan", "inf") and size:
            g.flat[rng.integers(size)] = math.nan if kind == "nan" else -math.inf
    # Rounded to the dtype: the reference gets the values eager sees.
    return torch.tensor(np.asarray(g, dtype=np.float64)).to(DTYPES[dtype])


def check(label, name, got, want, tol, abs_tol, before=None, largest=math.inf):
    """The rule of gs_harness.compare; a value beyond the dtype's `largest`
    must be the infinity of its sign (its rounding)."""
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    with np.errstate(invalid="ignore"):
        beyond = np.abs(want) > largest * (1 + tol)
    want = np.where(beyond, np.copysign(math.inf, want), want)
    assert got.shape == want.shape, f"{label}: {name}: shape"
    assert (np.isnan(got) == np.isnan(want)).all(), f"{label}: {name}: NaN pattern differs"
    finite = ~np.isnan(want)
    err = np.abs(got[finite] - want[finite])
    scale = np.abs(want)
    if before is not None:
        old = np.broadcast_to(before, want.shape)
        scale = np.maximum(scale, np.abs(old) + np.abs(want - old))
    # Equal infinities agree (inf - inf is NaN).
    same = got[finite] == want[finite]
    with np.errstate(invalid="ignore"):
        bound = tol * scale[finite] + FLOOR * np.max(np.abs(want[finite]), initial=0.0) \
            + abs_tol
        bad = ~same & ~(err <= bound)
    assert not bad.any(), (f"{label}: {name}: {int(bad.sum())} of {err.size} elements off; "
                           f"worst got {got[finite][bad][0]!r} want {want[finite][bad][0]!r}")


def random_case(rng):
    dtype = rng.choice(list(DTYPES))
    opt_name = rng.choice(list(OPTIMIZERS)) if dtype in ("f32", "f64") else "sgd"
    gamma1, gamma2 = BOUNDED[rng.integers(len(BOUNDED))]
    cfg = R.GSConfig(gamma1=gamma1, gamma2=gamma2,
                     eps=float(rng.choice([1e-12, 0.0, 1e-3])),
                     bias_correction=bool(rng.integers(2)),
                     on_nonfinite=str(rng.choice(POLICIES)))
    shapes = [SHAPES[i] for i in rng.integers(len(SHAPES), size=rng.integers(1, 5))]
    return dict(dtype=str(dtype), opt_name=str(opt_name), cfg=cfg, shapes=shapes,
                lr=float(math.exp(rng.uniform(-9, -1))),
                weight_decay=float(rng.choice([0.0, 0.01, 0.1])),
                steps=int(rng.integers(1, 5)))


def run_case(index, rng):
    case = random_case(rng)
    dtype, cfg = case["dtype"], case["cfg"]
    label = f"case {index} ({case['opt_name']}, {dtype}, {cfg}, shapes {case['shapes']})"
    make_torch, make_ref = OPTIMIZERS[case["opt_name"]]
    params = [torch.nn.Parameter(torch.tensor(rng.standard_normal(s)).to(DTYPES[dtype]))
              for s in case["shapes"]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt = GSWrapper(make_torch(params, case["lr"], case["weight_decay"]),
                        gamma1=cfg.gamma1, gamma2=cfg.gamma2, eps=cfg.eps,
                        bias_correction=cfg.bias_correction,
                        on_nonfinite=cfg.on_nonfinite, backend="eager")
    ref_opt = make_ref()
    ref_params = [to_f64(p) for p in params]
    ref_gs = [R.GSState() for _ in params]
    ref_state = [ref_opt.init_state(p) for p in ref_params]
    tol, tiny = max(2 * ULP[dtype], 0.0), TINY[dtype]
    kinds = []
    poisoned = set()  # parameters made non-finite by a passed-through NaN / Inf
    for step in range(case["steps"]):
        # Each step starts the reference from eager's state (gs_harness.resync):
        # the rule bounds one step's error, not the drift of several.
        for i, p in enumerate(params):
            torch_state = opt.state.get(p, {})
            ref_params[i] = to_f64(p)
            ref_state[i] = R.OptState(
                moments=[to_f64(torch_state[name]) if name in torch_state
                         else np.zeros(tuple(p.shape)) for name in ref_opt.moment_names()],
                step=(ref_state[i].step if case["opt_name"].startswith("sgd")
                      else int(torch_state.get("step", 0))))
            gs = opt.scaler.state_of(p)
            ref_gs[i] = R.GSState(m=gs["m"], v=gs["v"], k=gs["k"], skipped=gs["skipped"])
        grads = []
        for p in params:
            kind = str(rng.choice(KINDS))
            kinds.append(kind)
            p.grad = random_gradient(rng, tuple(p.shape), dtype, kind)
            grads.append(to_f64(p.grad))
        # The stabilized gradients the reference expects.
        want_grads = [R.stabilize(g, s, cfg)[0] for g, s in zip(grads, ref_gs)]
        before = list(ref_params)
        before_moments = [list(state.moments) for state in ref_state]
        with torch.no_grad():
            opt.step()
        ref_params, ref_gs, ref_state, _ = R.group_step(
            ref_params, grads, ref_gs, ref_state, ref_opt, cfg, case["lr"],
            case["weight_decay"])
        where = f"{label}, step {step}, gradients {kinds[-len(params):]}"
        for i, p in enumerate(params):
            if i in poisoned:
                continue
            if not np.isfinite(ref_params[i]).all():
                poisoned.add(i)
            check(where, f"stabilized gradient {i}", to_f64(p.grad), want_grads[i],
                  2 * ULP[dtype], tiny, largest=LIMIT[dtype])
            check(where, f"param {i}", to_f64(p), ref_params[i], tol, tiny, before[i],
                  LIMIT[dtype])
            torch_state = opt.state.get(p, {})
            for j, (name, want) in enumerate(zip(ref_opt.moment_names(),
                                                 ref_state[i].moments)):
                got = torch_state.get(name)
                if got is None:  # never stepped: the reference's zeros
                    assert not np.any(want), f"{where}: {name} of param {i}"
                    continue
                check(where, f"{name} of param {i}", to_f64(got), want, tol, tiny,
                      before_moments[i][j], LIMIT[dtype])
            if not case["opt_name"].startswith("sgd"):  # torch's SGD counts no steps
                steps = int(torch_state.get("step", 0))
                assert steps == ref_state[i].step, f"{where}: step of param {i}"
            state = opt.scaler.state_of(p)
            check(where, f"m of param {i}", state["m"], ref_gs[i].m, 1e-12, 0.0)
            check(where, f"v of param {i}", state["v"], ref_gs[i].v, 1e-12, 0.0)
            assert (state["k"], state["skipped"]) == (ref_gs[i].k, ref_gs[i].skipped), \
                f"{where}: k, skipped of param {i}"
    return kinds


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_eager_matches_reference_on_random_cases():
    rng = np.random.default_rng(SEED)
    kinds = []
    for index in range(CASES):
        kinds += run_case(index, rng)
    # The cases did draw what they are about.
    for kind in set(KINDS):
        assert kinds.count(kind) >= 50, kind


def test_all_subnormal_gradient_after_ordinary_steps_stays_finite():
    """c/n of an all-subnormal gradient (about 1e40) used to be rounded to
    f32 inf: the parameters became -inf, NaN where an element was zero."""
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(8))
    opt = GSWrapper(torch.optim.SGD([p], lr=0.1), backend="eager")
    state, cfg = R.GSState(), R.GSConfig()
    for _ in range(5):
        p.grad = torch.randn(8)
        state = R.stabilize(to_f64(p.grad), state, cfg)[1]
        opt.step()
    before = p.detach().clone()
    p.grad = torch.full((8,), 1e-40)
    p.grad[0] = 0.0
    want, state, event = R.stabilize(to_f64(p.grad), state, cfg)
    opt.step()
    assert event == "applied" and torch.isfinite(p).all() and p[0] == before[0]
    check("subnormal", "stabilized gradient", to_f64(p.grad), want, 2 * ULP["f32"],
          TINY["f32"])
    check("subnormal", "param", to_f64(p), to_f64(before) - 0.1 * want, 2 * ULP["f32"],
          TINY["f32"], to_f64(before))


def test_gradient_stabilizer_alone_keeps_subnormal_gradients_finite():
    """The same through GradientStabilizer (stabilizer.py), with zeros."""
    from gradient_stabilizer import GradientStabilizer

    p = torch.nn.Parameter(torch.zeros(5))
    gs = GradientStabilizer()
    state, cfg = R.GSState(), R.GSConfig()
    for g in [torch.randn(5), torch.randn(5) * 100, torch.tensor([1e-40, 0, -3e-41, 0, 1e-45])]:
        p.grad = g.clone()
        want, state, _ = R.stabilize(to_f64(g), state, cfg)
        gs([p])
        check("GradientStabilizer", "stabilized gradient", to_f64(p.grad), want,
              2 * ULP["f32"], TINY["f32"])
    assert torch.isfinite(p.grad).all() and p.grad[1] == 0 and p.grad[3] == 0
