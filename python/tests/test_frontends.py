"""Real front ends end to end (docs/linking.md, "Front ends"): optimizer
steps written with PyTorch's and optax's own code, exported to linalg on
tensors (torch-mlir's FX importer; JAX -> StableHLO -> IREE's input
conversion), stabilized by `gs-opt` (at the gradient level, or raised to
gs.group_step by the recognizers under gs-inject), lowered by
`gs-to-llvm`, run on the CPU and compared after every step: with `GSWrapper`
around the same torch optimizer, and with optax on gradients stabilized by
the float64 reference. Skipped where the front-end packages
(python/requirements-frontends.txt) are not installed.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import frontend_harness as H
from gradient_stabilizer import reference as R

# gs-opt's gradient-level injection, in front of whatever update the front
# end wrote: the gradients named (`gs.name` attributes the exports add) or
# found automatically.
# "gs-inject" is the whole pipeline: the recognizers raise what they know
# (SGD with momentum, torch's Adam and AdamW, optax's adam with its bias
# corrections as values) to gs.group_step, the rest is stabilized at the
# gradient level. "gs-to-linalg" stabilizes by name, then lowers the gs ops
# to linalg and fuses them into the front end's element-wise update.
MODES = ["grad-names", "auto", "gs-inject", "gs-to-linalg"]


def inject_options(mode: str, grad_names, clip: str = "replace") -> list:
    options = [f"clip={clip}"]
    if mode in ("grad-names", "gs-to-linalg"):
        options.append("grad-names=" + ",".join(grad_names))
    if mode == "gs-inject":
        return [f"--gs-inject={' '.join(options)}"]
    stabilize = [f"--gs-stabilize-gradients={' '.join(options)}"]
    if mode == "gs-to-linalg":
        return stabilize + ["--gs-to-linalg", "--linalg-fuse-elementwise-ops"]
    return stabilize


# What the recognizers raise to one fused gs.group_step under gs-inject
# (docs/linking.md's table); the rest is stabilized at the gradient level.
RAISED_TORCH = {"sgd_momentum", "adam", "adamw"}
RAISED_OPTAX = {"sgd_momentum", "adam"}


def check_raised(module: str, raised: bool, label: str):
    raised_to_group = "gs.group_step" in module and "gs.stabilize" not in module
    assert raised_to_group == raised, (
        f"{label}: expected {'one gs.group_step' if raised else 'gradient-level'}"
        " stabilization under gs-inject")


STEPS = 3
SHAPES = [(4, 3), (5,)]
GS = dict(gamma1=0.6, gamma2=0.999, eps=1e-12)


def gradients(rng, step):
    """Gradients of growing size, the last step a spike: the stabilization
    changes them by orders of magnitude, so a missing or misplaced scale
    cannot pass."""
    scale = 1e3 if step == STEPS - 1 else 1.0 + step
    return [(scale * rng.standard_normal(s)).astype(np.float32) for s in SHAPES]


def injected_state(text: str, num_args: int) -> list:
    """The GS state arguments gs-opt appended: one initial value each."""
    args, _ = H.signature(text, "step")
    extra = args[num_args:]
    assert extra, "gs-opt added no GS state: nothing was stabilized"
    return [t.empty() for t in extra]


def gs_state_of(results: list, num_results: int, index: int) -> dict:
    """[m, v] and [k, skipped] of the index-th stabilized tensor among the
    appended results (stats and counts in parameter order)."""
    extra = results[num_results:]
    stats = [r for r in extra if r.dtype == np.float64 and r.shape == (2,)]
    counts = [r for r in extra if r.dtype == np.int64 and r.shape == (2,)]
    return dict(m=stats[index][0], v=stats[index][1], k=counts[index][0],
                skipped=counts[index][1])


def check_gs_state(label, got: dict, want: dict, rtol=1e-12):
    for name in ("m", "v"):
        H.assert_close(f"{label}: GS {name}", got[name], want[name], rtol=rtol)
    assert int(got["k"]) == int(want["k"]), f"{label}: GS k"
    assert int(got["skipped"]) == int(want["skipped"]), f"{label}: GS skipped"


# --- PyTorch ---------------------------------------------------------------


class TorchCase:
    """A torch.optim optimizer and its functional form in torch.optim
    (the code its step() runs with foreach=False): `state` names the
    optimizer state tensors in argument order, `call` runs the functional
    update in place on lists of tensors."""

    def __init__(self, name, kwargs, state, call):
        self.name, self.kwargs, self.state, self.call = name, kwargs, state, call

    def optimizer(self, params):
        import torch
        cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam,
               "adamw": torch.optim.AdamW, "adagrad": torch.optim.Adagrad,
               "rmsprop": torch.optim.RMSprop, "adamax": torch.optim.Adamax}
        return cls[self.name.split("_")[0]](params, foreach=False, **self.kwargs)


def _functional(name):
    return getattr(importlib.import_module(f"torch.optim.{name}"), name)


def _sgd(p, g, s, kw):
    _functional("sgd")(p, g, s["momentum_buffer"], weight_decay=kw["weight_decay"],
                       momentum=kw["momentum"], lr=kw["lr"], dampening=0.0,
                       nesterov=False, maximize=False)


def _adam(name):
    def call(p, g, s, kw):
        beta1, beta2 = kw["betas"]
        _functional(name)(p, g, s["exp_avg"], s["exp_avg_sq"], [], s["step"],
                          amsgrad=False, beta1=beta1, beta2=beta2, lr=kw["lr"],
                          weight_decay=kw["weight_decay"], eps=1e-8, maximize=False)
    return call


def _adagrad(p, g, s, kw):
    _functional("adagrad")(p, g, s["sum"], s["step"], lr=kw["lr"],
                           weight_decay=kw["weight_decay"], lr_decay=kw["lr_decay"],
                           eps=1e-10, maximize=False)


def _rmsprop(p, g, s, kw):
    _functional("rmsprop")(p, g, s["square_avg"], s["grad_avg"], s["momentum_buffer"],
                           s["step"], lr=kw["lr"], alpha=kw["alpha"], eps=1e-8,
                           weight_decay=0.0, momentum=kw["momentum"],
                           centered=kw["centered"])


def _adamax(p, g, s, kw):
    beta1, beta2 = kw["betas"]
    _functional("adamax")(p, g, s["exp_avg"], s["exp_inf"], s["step"], eps=1e-8,
                          beta1=beta1, beta2=beta2, lr=kw["lr"],
                          weight_decay=kw["weight_decay"])


TORCH_CASES = [
    # SGD's momentum buffer starts as the first gradient; with dampening 0
    # that is the zero buffer after one update, so the exported step (a
    # buffer argument, zeros at first) is torch's on every step.
    TorchCase("sgd_momentum", dict(lr=0.05, momentum=0.9, weight_decay=0.01),
              ["momentum_buffer"], _sgd),
    TorchCase("adam", dict(lr=0.01, betas=(0.9, 0.98), weight_decay=0.01),
              ["exp_avg", "exp_avg_sq", "step"], _adam("adam")),
    TorchCase("adamw", dict(lr=0.01, betas=(0.9, 0.999), weight_decay=0.1),
              ["exp_avg", "exp_avg_sq", "step"], _adam("adamw")),
    TorchCase("adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01),
              ["sum", "step"], _adagrad),
    TorchCase("rmsprop_centered", dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True),
              ["square_avg", "grad_avg", "momentum_buffer", "step"], _rmsprop),
    # No recognizer knows Adamax (an infinity-norm second moment).
    TorchCase("adamax", dict(lr=0.02, betas=(0.9, 0.99), weight_decay=0.0),
              ["exp_avg", "exp_inf", "step"], _adamax),
]


def torch_step_module(case: TorchCase):
    """forward(params..., grads..., state...) -> (params..., state...), the
    state grouped by name, then by parameter."""
    import torch

    n = len(SHAPES)

    class Step(torch.nn.Module):
        def forward(self, *flat):
            params = [t.clone() for t in flat[:n]]
            grads = list(flat[n:2 * n])
            state, rest = {}, flat[2 * n:]
            for j, name in enumerate(case.state):
                state[name] = [t.clone() for t in rest[j * n:(j + 1) * n]]
            case.call(params, grads, state, case.kwargs)
            return tuple(params) + tuple(t for name in case.state for t in state[name])

    return Step()


def torch_initial_state(case: TorchCase) -> list:
    """Zeros; the step counters f64. torch.optim keeps them as f32 tensors and
    its eager step reads them as Python floats, so its bias corrections are
    double precision; an exported step computes them in the counter's dtype,
    and in f32 `1 - 0.999**t` keeps only 4 of its digits."""
    return [np.zeros((), np.float64) if name == "step" else np.zeros(s, np.float32)
            for name in case.state for s in SHAPES]


@pytest.fixture(scope="module")
def torch_frontend():
    pytest.importorskip("torch_mlir", reason="torch-mlir is not installed")
    from gradient_stabilizer.frontends import export_torch
    return export_torch


def run_torch_case(export, case: TorchCase, mode: str | None):
    """STEPS steps of the exported `case` against torch's optimizer,
    compared after every step; with a `mode` the step is stabilized by
    gs-opt and torch's optimizer wrapped in a GSWrapper."""
    import torch
    from gradient_stabilizer import GSWrapper

    rng = np.random.default_rng(7)
    params = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = gradients(rng, 0)
    example = [torch.from_numpy(a) for a in params + grads]
    example += [torch.from_numpy(a) for a in torch_initial_state(case)]
    n = len(SHAPES)
    names = ([f"param.{i}" for i in range(n)] + [f"grad.{i}" for i in range(n)]
             + [f"{name}.{i}" for name in case.state for i in range(n)])
    module = export(torch_step_module(case), *example, arg_names=names)
    stabilize = mode is not None
    if stabilize:
        module, _ = H.inject(module, *inject_options(mode, names[n:2 * n]))
        if mode == "gs-inject":
            check_raised(module, case.name in RAISED_TORCH, case.name)
    else:
        module, _ = H.inject(module)  # gs-opt parses and prints it
    num_args = len(example)
    num_results = num_args - n
    step = H.JitFunction(module)

    torch_params = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params]
    optimizer = case.optimizer(torch_params)
    if stabilize:
        optimizer = GSWrapper(optimizer, backend="eager", **GS)
    state = torch_initial_state(case)
    gs_state = injected_state(module, num_args) if stabilize else []
    rng = np.random.default_rng(11)
    for k in range(STEPS):
        grads = gradients(rng, k)
        before = [p.detach().numpy().copy() for p in torch_params]
        results = step(*params, *grads, *state, *gs_state)
        params, state = results[:n], results[n:num_results]
        gs_state = results[num_results:]
        for p, g in zip(torch_params, grads):
            p.grad = torch.from_numpy(g.copy())
        optimizer.step()
        label = f"{case.name} step {k + 1}"
        for i, p in enumerate(torch_params):
            H.assert_close(f"{label}: param {i}", params[i], p.detach().numpy(),
                           before[i])
            for j, name in enumerate(case.state):
                want = optimizer.state[p][name]
                H.assert_close(f"{label}: {name} of param {i}", state[j * n + i],
                               want.detach().numpy())
            if stabilize:
                check_gs_state(f"{label}: param {i}",
                               gs_state_of(results, num_results, i),
                               optimizer.scaler.state_of(p))


@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: c.name)
def test_torch_export_matches_torch(torch_frontend, case):
    """The exported step alone (no injection) is torch's optimizer: what the
    stabilized comparison below builds on."""
    run_torch_case(torch_frontend, case, None)


# SGD with momentum: the gradient and the momentum buffer enter the update
# symmetrically (buf' = 0.9 buf + g; p' = p - lr buf'), so the automatic
# mode cannot tell them apart and leaves it to grad-names (docs/linking.md).
AMBIGUOUS = {"sgd_momentum"}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: c.name)
def test_torch_optimizer_matches_gswrapper(torch_frontend, case, mode):
    if mode == "auto" and case.name in AMBIGUOUS:
        pytest.skip("ambiguous for the automatic mode: see test_auto_mode_explains")
    run_torch_case(torch_frontend, case, mode)


def test_auto_mode_explains(torch_frontend):
    """SGD with momentum in the automatic mode: a remark naming the problem
    and the way out, the module unchanged; by name it is stabilized (above)."""
    import torch

    case = TORCH_CASES[0]
    n = len(SHAPES)
    example = [torch.zeros(s) for _ in range(2) for s in SHAPES]
    example += [torch.from_numpy(a) for a in torch_initial_state(case)]
    module = torch_frontend(torch_step_module(case), *example)
    out, err = H.inject(module, "--gs-stabilize-gradients=explain=1")
    assert err.count("the gradient could be any of 2 tensors") == n, err
    assert "grad-names" in err
    assert "gs.stabilize" not in out


def test_unknown_gradient_name_is_an_error(torch_frontend):
    import torch

    case = TORCH_CASES[1]
    example = [torch.zeros(s) for _ in range(2) for s in SHAPES]
    example += [torch.from_numpy(a) for a in torch_initial_state(case)]
    names = ["p.0", "p.1", "g.0", "g.1"] + [None] * (len(example) - 4)
    module = torch_frontend(torch_step_module(case), *example, arg_names=names)
    result = H.gs_opt(module, "--gs-stabilize-gradients=grad-names=g.0,grad.1")
    assert result.returncode != 0
    assert "grad.1" in result.stderr, result.stderr
    assert result.stdout == ""


# --- JAX + optax -------------------------------------------------------------


def _optax_cases():
    import optax
    return {
        "clip_adamw": optax.chain(optax.clip_by_global_norm(1.0),
                                  optax.adamw(1e-2, weight_decay=0.01)),
        "adam": optax.adam(1e-2, b2=0.98),
        "sgd_momentum": optax.sgd(0.05, momentum=0.9),
    }


@pytest.fixture(scope="module")
def jax_frontend():
    pytest.importorskip("optax", reason="optax is not installed")
    jax = pytest.importorskip("jax", reason="jax is not installed")
    from gradient_stabilizer.frontends import _iree_compile, export_jax
    try:
        _iree_compile()
    except RuntimeError as error:
        pytest.skip(str(error))
    jax.config.update("jax_platforms", "cpu")
    return export_jax


def stabilized_by_reference(grads, gs_states, cfg, clip=1.0):
    """Each gradient times `clip` and the stabilization factor c / n of the
    float64 reference (n the norm of the clipped gradient), the product
    rounded once to f32 and applied in f32 (spec section 1)."""
    out, states = [], []
    for g, s in zip(grads, gs_states):
        # The factor alone: the reference's transform of a one-element
        # "gradient" 1 with the clipped gradient's norm.
        factor, new, _ = R._stabilize_with_norm(np.ones(1), clip * R.grad_norm(g), s,
                                                cfg)
        out.append(g * np.float32(clip * factor[0]))
        states.append(new)
    return out, states


def global_clip_factor(grads, max_norm):
    """optax.clip_by_global_norm's factor in f64. The kept clip reads the
    global norm the graph computes (an f32 sum of squares), so the norm the
    stabilizer sees, and its m and v, agree to f32 precision only."""
    norm = np.sqrt(sum(R.grad_norm(g) ** 2 for g in grads))
    return 1.0 if norm < max_norm else max_norm / norm


@pytest.mark.parametrize("mode,clip", [("grad-names", "replace"), ("auto", "replace"),
                                       ("gs-inject", "replace"), ("gs-to-linalg", "replace"),
                                       ("grad-names", "keep")])
@pytest.mark.parametrize("name", ["clip_adamw", "adam", "sgd_momentum"])
def test_optax_matches_reference(jax_frontend, name, mode, clip):
    import jax
    import optax

    if mode == "auto" and name in AMBIGUOUS:
        pytest.skip("ambiguous for the automatic mode: see test_auto_mode_explains")
    if clip == "keep" and name != "clip_adamw":
        pytest.skip("no clip to keep")
    opt = _optax_cases()[name]
    rng = np.random.default_rng(3)
    params = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = gradients(rng, 0)
    state = opt.init(params)

    def update(params, grads, state):
        return update_with(opt, params, grads, state)

    exported = jax_frontend(update, params, grads, state)
    n = len(SHAPES)
    injected, _ = H.inject(exported, *inject_options(
        mode, [f"grads.{i}" for i in range(n)], clip))
    if mode == "gs-inject":
        check_raised(injected, name in RAISED_OPTAX, name)
    leaves = jax.tree_util.tree_leaves(state)
    num_args = 2 * n + len(leaves)
    num_results = n + len(leaves)
    step = H.JitFunction(injected)
    # clip=replace drops the clip (the stabilizer bounds the gradient);
    # clip=keep applies it to the raw gradients, in front of the stabilizer.
    ref_opt = {"clip_adamw": optax.adamw(1e-2, weight_decay=0.01)}.get(name, opt)
    ref_update = jax.jit(lambda p, g, s: update_with(ref_opt, p, g, s))

    cfg = R.GSConfig(**GS)
    ref_params, ref_state = params, ref_opt.init(params)
    ref_gs = [R.GSState() for _ in SHAPES]
    flat_state = [np.asarray(x) for x in leaves]
    gs_state = injected_state(injected, num_args)
    rng = np.random.default_rng(5)
    for k in range(STEPS):
        grads = gradients(rng, k)
        results = step(*params, *grads, *flat_state, *gs_state)
        params, flat_state = results[:n], results[n:num_results]
        gs_state = results[num_results:]
        before = ref_params
        factor = global_clip_factor(grads, 1.0) if clip == "keep" else 1.0
        stabilized, ref_gs = stabilized_by_reference(grads, ref_gs, cfg, factor)
        ref_params, ref_state = ref_update(ref_params, stabilized, ref_state)
        ref_params = [np.asarray(p) for p in ref_params]
        label = f"{name} step {k + 1}"
        for i in range(n):
            H.assert_close(f"{label}: param {i}", params[i], ref_params[i], before[i])
            check_gs_state(f"{label}: param {i}", gs_state_of(results, num_results, i),
                           vars(ref_gs[i]), rtol=1e-6 if clip == "keep" else 1e-12)
        # The optimizer state (counter, moments) in tree order: the chain's
        # clip has no state, so both optimizers have the same leaves.
        for j, want in enumerate(jax.tree_util.tree_leaves(ref_state)):
            H.assert_close(f"{label}: state leaf {j}", flat_state[j], np.asarray(want))


def update_with(opt, p, g, s):
    import optax
    u, s = opt.update(g, s, p)
    return optax.apply_updates(p, u), s


# --- the adapter and its errors (no front end needed) ----------------------

from gradient_stabilizer import frontends as F  # noqa: E402

IREE_OUTPUT = """module @jit_step {
  util.func public @main(%arg0: tensor<3xf32>, %arg1: tensor<3xf32>) -> tensor<3xf32> {
    %0 = util.call @helper(%arg0) : (tensor<3xf32>) -> tensor<3xf32>
    util.return %0 : tensor<3xf32>
  }
  util.func private @helper(%arg0: tensor<3xf32>) -> tensor<3xf32> {
    util.return %arg0 : tensor<3xf32>
  }
}
"""


def test_adapter_turns_iree_function_ops_into_func():
    text = F.iree_to_upstream(IREE_OUTPUT)
    assert "util." not in text
    assert "  func.func @main(" in text
    assert "func.func private @helper(" in text
    assert "%0 = func.call @helper(%arg0)" in text
    assert text.count("func.return") == 2
    # gs-opt parses the result.
    out, _ = H.inject(text)
    assert "func.func @main" in out


def test_adapter_rejects_other_iree_ops_by_name_and_line():
    bad = IREE_OUTPUT.replace("%0 = util.call @helper(%arg0)",
                              "%0 = flow.tensor.transfer %arg0")
    with pytest.raises(F.FrontendError, match=r"line 3: op 'flow\.tensor\.transfer'"):
        F.iree_to_upstream(bad)


def test_name_arguments():
    text = ('func.func @f(%arg0: tensor<3xf32> {a.b = 1 : i64}, %arg1: tensor<f32> '
            'loc("x"), %arg2: tensor<2xf32>) -> tensor<f32> {')
    named = F.name_arguments(text, "f", ["g", "s.1", None])
    assert named == ('func.func @f(%arg0: tensor<3xf32> {gs.name = "g", a.b = 1 : i64}, '
                     '%arg1: tensor<f32> {gs.name = "s.1"} loc("x"), '
                     '%arg2: tensor<2xf32>) -> tensor<f32> {')
    with pytest.raises(F.FrontendError, match="has 3 arguments, got 2 names"):
        F.name_arguments(text, "f", ["g", "h"])
    with pytest.raises(F.FrontendError, match="argument name 'a,b'"):
        F.name_arguments(text, "f", ["a,b", None, None])
    with pytest.raises(F.FrontendError, match="no function @g"):
        F.name_arguments(text, "g", [])


def test_stablehlo_errors_are_reported(jax_frontend, tmp_path, capsys):
    with pytest.raises(F.FrontendError, match="iree-compile --compile-to=input failed"):
        F.stablehlo_to_linalg("func.func @f( {")
    missing = tmp_path / "missing.mlir"
    assert F.main(["stablehlo-to-linalg", str(missing)]) == 1
    assert "missing.mlir" in capsys.readouterr().err


def test_stablehlo_cli(jax_frontend, tmp_path):
    import jax
    import jax.numpy as jnp

    source = tmp_path / "sgd.stablehlo.mlir"
    source.write_text(jax.jit(lambda p, g: p - 0.1 * g).lower(
        jnp.zeros(3), jnp.zeros(3)).as_text())
    out = tmp_path / "sgd.mlir"
    assert F.main(["stablehlo-to-linalg", str(source), "-o", str(out),
                   "--func-name", "step"]) == 0
    step = H.JitFunction(H.inject(out.read_text())[0])
    p, g = np.arange(3, dtype=np.float32), np.ones(3, np.float32)
    (new,) = step(p, g)
    np.testing.assert_array_equal(new, p - np.float32(0.1) * g)
