"""Float64 NumPy reference implementation of the GradientStabilizer semantics.

Every rule here follows ``docs/spec.md`` ("the spec");
docstrings cite its sections.  Everything is float64 (scalars are Python
floats, arrays are ``np.float64``) and every function is pure: it returns new
state and never mutates its inputs.

Deliberate difference from a compiled step: the spec (section 1) computes the
element-wise product ``g * (c / n)`` in f32; this reference computes it in f64,
so compiled results agree with it to f32 rounding, not bit for bit.

State layout (shared with the compiler's ops, spec section 6):

* GS state per parameter tensor: ``stats = [m, v]`` (f64), ``counts = [k, skipped]`` (i64).
* Optimizer state per parameter tensor: the tensors named by
  ``optimizer.moment_names()`` in that order, plus the step counter ``t``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

NONFINITE_POLICIES = ("skip", "zero", "passthrough")


def _check_unit_interval(name, value):
    """Raise ValueError unless 0 <= value < 1 (NaN fails too)."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


def _check_nonnegative(name, value):
    """Raise ValueError unless value is a finite number >= 0."""
    if not value >= 0.0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")


# ---------------------------------------------------------------------------
# Section 1: the gradient transform
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GSConfig:
    """Hyperparameters of the gradient transform (spec sections 1 and 3)."""

    gamma1: float = 0.6
    gamma2: float = 0.999
    eps: float = 1e-12
    bias_correction: bool = True
    on_nonfinite: str = "skip"

    def __post_init__(self):
        _check_unit_interval("gamma1", self.gamma1)
        _check_unit_interval("gamma2", self.gamma2)
        _check_nonnegative("eps", self.eps)
        if not isinstance(self.bias_correction, (bool, np.bool_)):
            raise ValueError(f"bias_correction must be a bool, got {self.bias_correction!r}")
        if self.on_nonfinite not in NONFINITE_POLICIES:
            raise ValueError(
                f"on_nonfinite must be one of {NONFINITE_POLICIES}, got {self.on_nonfinite!r}"
            )


@dataclass
class GSState:
    """One parameter tensor's GS state (spec section 1 table).

    Compiler layout: ``stats = [m, v]`` (f64), ``counts = [k, skipped]`` (i64).
    """

    m: float = 0.0
    v: float = 0.0
    k: int = 0
    skipped: int = 0


def grad_norm(g) -> float:
    """L2 norm of an array of any shape, in float64 (spec section 1, ``n``).

    Uses a max-abs scaled sum, so it neither overflows nor underflows for any
    finite input (e.g. 2**20 elements of 3.4e38, or of 1e-30).  Returns NaN
    if ``g`` holds a NaN, +inf if it holds an Inf (and no NaN), 0.0 if empty.
    """
    a = np.asarray(g).astype(np.float64).ravel()
    if a.size == 0:
        return 0.0
    absmax = float(np.max(np.abs(a)))  # NaN propagates through np.max
    if absmax == 0.0 or not math.isfinite(absmax):
        return absmax
    scaled = a / absmax
    return absmax * math.sqrt(float(np.sum(scaled * scaled)))


def _stabilize_with_norm(g, n, state, cfg):
    """The transform of spec section 1 for a float64 gradient ``g`` with norm ``n``.

    Split out of :func:`stabilize` so that :func:`group_step` can pass the norm of
    an unscaled gradient computed as ``grad_norm(g) * inv_scale`` (spec section 4).

    Like the spec, this assumes ``n * n`` is a normal f64 number, which holds for
    every f32/f16/bf16 gradient (``n <= 3.4e38 * sqrt(size)``, ``n >= 1.4e-45``)
    and any f32 ``inv_scale``; only contrived f64 inputs (``n > 1e154`` or, with
    ``eps == 0``, ``n < 1e-154``) leave that range.
    """
    if not math.isfinite(n):
        # Spec section 3: m, v, k unchanged, skipped + 1 under every policy.
        g_tilde = np.zeros_like(g) if cfg.on_nonfinite == "zero" else g.copy()
        return g_tilde, replace(state, skipped=state.skipped + 1), "nonfinite"
    if n == 0.0:
        # Spec section 1: g passes through unchanged; m, v, k unchanged.
        return g.copy(), replace(state, skipped=state.skipped + 1), "zero"

    k = state.k + 1
    m = cfg.gamma1 * state.m + (1.0 - cfg.gamma1) * n
    v = cfg.gamma2 * state.v + (1.0 - cfg.gamma2) * n * n
    if cfg.bias_correction:
        mh = m / (1.0 - cfg.gamma1**k)
        vh = v / (1.0 - cfg.gamma2**k)
    else:
        mh, vh = m, v
    c = mh / (math.sqrt(vh) + cfg.eps)
    return g * (c / n), GSState(m=m, v=v, k=k, skipped=state.skipped), "applied"


def stabilize(g, state: GSState, cfg: GSConfig):
    """One step of the gradient transform (spec section 1; events per section 3).

    Returns ``(g_tilde, new_state, event)``: ``g_tilde`` is a new float64 array of
    ``g``'s shape, ``new_state`` a new :class:`GSState` (``state`` is not mutated),
    ``event`` one of:

    * ``"applied"``: ``k += 1``, ``m`` and ``v`` updated, ``g_tilde = g * (c / n)``,
      ``c = mh / (sqrt(vh) + eps)`` (norm of ``g_tilde`` is ``c``).
    * ``"zero"`` (``n == 0``): ``skipped += 1``, ``g_tilde = g``.
    * ``"nonfinite"`` (``n`` NaN/Inf): ``skipped += 1``; ``g_tilde`` is zeros under
      policy ``zero`` and ``g`` under ``passthrough`` and ``skip`` (under ``skip``
      the caller must not step the optimizer; see :func:`group_step`).

    In every case ``m``, ``v`` and ``k`` change only on ``"applied"``, so no NaN
    or Inf ever reaches them.
    """
    g64 = np.asarray(g).astype(np.float64)
    return _stabilize_with_norm(g64, grad_norm(g64), state, cfg)


# ---------------------------------------------------------------------------
# Section 1: the bound
# ---------------------------------------------------------------------------


def _one_minus_pow(x, k):
    """1 - x**k for k >= 1, accurate also when x**k is close to 1."""
    return 1.0 if x == 0.0 else -math.expm1(k * math.log(x))


def stabilization_bound(k: int, gamma1, gamma2, bias_correction=True) -> float:
    """B_k of spec section 1: ``||g~_k|| <= B_k`` for every finite history.

    ``B_k = sqrt(1 - gamma2**k) / (1 - gamma1**k) * sqrt(S_k)`` with
    ``S_k = sum_{j=0}^{k-1} (1-gamma1)^2 gamma1^(2j) / ((1-gamma2) gamma2^j)``;
    without bias correction the first factor is dropped.  ``S_k`` is summed in
    closed form (a geometric series with ratio ``r = gamma1**2 / gamma2``).
    Terms with ``gamma1**(2j) = 0`` (``gamma1 == 0``, ``j >= 1``) contribute 0;
    with ``gamma2 == 0 < gamma1`` the terms ``j >= 1`` are infinite.
    """
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    _check_unit_interval("gamma1", gamma1)
    _check_unit_interval("gamma2", gamma2)
    c = (1.0 - gamma1) ** 2 / (1.0 - gamma2)
    if gamma1 == 0.0 or k == 1:
        s = c
    elif gamma2 == 0.0:
        s = math.inf
    else:
        log_r = 2.0 * math.log(gamma1) - math.log(gamma2)
        if log_r == 0.0:
            s = c * k
        else:
            try:  # c * (r**k - 1) / (r - 1)
                s = c * math.expm1(k * log_r) / math.expm1(log_r)
            except OverflowError:  # r > 1 and k large
                s = math.inf
    b = math.sqrt(s)
    if bias_correction:
        b *= math.sqrt(_one_minus_pow(gamma2, k)) / _one_minus_pow(gamma1, k)
    return b


def uniform_bound(gamma1, gamma2, bias_correction=True) -> float:
    """``B = sup_k B_k`` of spec section 1 (about 15.8 for the defaults).

    If ``gamma1**2 >= gamma2`` (and ``gamma1 > 0``) there is no uniform bound:
    returns ``inf``.  Otherwise, with ``r = gamma1**2 / gamma2`` (``r = 0`` when
    ``gamma1 == 0``: every term past the first vanishes), ``S_k = S (1 - r**k)``
    with ``S = (1-gamma1)^2 / ((1-gamma2)(1-r))``, and ``sup_k B_k = sqrt(S)``
    with or without bias correction.  Without it ``B_k = sqrt(S_k)`` increases
    to ``sqrt(S)``.  With it, writing ``x = gamma1**k``, ``y = gamma2**k``,
    ``B_k**2 = S (1-y)(1 - x**2/y) / (1-x)**2 <= S`` because
    ``(1-y)(1 - x**2/y) = 1 - y - x**2/y + x**2 <= 1 - 2x + x**2`` (AM-GM:
    ``y + x**2/y >= 2x``), and ``B_k -> sqrt(S)``.  The tests check this closed
    form against the maximum of :func:`stabilization_bound` over ``k``.
    """
    _check_unit_interval("gamma1", gamma1)
    _check_unit_interval("gamma2", gamma2)
    if gamma1 > 0.0 and gamma1 * gamma1 >= gamma2:
        return math.inf
    one_minus_r = 1.0 if gamma1 == 0.0 else (gamma2 - gamma1 * gamma1) / gamma2
    return (1.0 - gamma1) / math.sqrt((1.0 - gamma2) * one_minus_r)


# ---------------------------------------------------------------------------
# Section 2: the optimizer updates
# ---------------------------------------------------------------------------


@dataclass
class OptState:
    """One parameter tensor's optimizer state: ``moments`` in ``moment_names()``
    order (float64 arrays of the parameter's shape) and the step counter ``t``
    (PyTorch's ``state['step']``, spec section 2)."""

    moments: list = field(default_factory=list)
    step: int = 0

    def copy(self) -> "OptState":
        return OptState([np.array(m, dtype=np.float64) for m in self.moments], self.step)


class _Optimizer:
    """Shared plumbing: state creation and per-call argument checks."""

    def moment_names(self) -> tuple:
        raise NotImplementedError

    def init_state(self, p) -> OptState:
        p = np.asarray(p, dtype=np.float64)
        return OptState([np.zeros_like(p) for _ in self.moment_names()], 0)

    def _prepare(self, p, g, state, lr, weight_decay):
        """Validate the run-time arguments (spec section 2: ``lr`` and
        ``weight_decay`` are per-call values) and return float64 copies."""
        _check_nonnegative("lr", lr)
        _check_nonnegative("weight_decay", weight_decay)
        p = np.array(p, dtype=np.float64)
        g = np.array(g, dtype=np.float64)
        if p.shape != g.shape:
            raise ValueError(f"g has shape {g.shape}, but p has shape {p.shape}")
        if len(state.moments) != len(self.moment_names()):
            raise ValueError(
                f"state has {len(state.moments)} moments, expected {self.moment_names()}"
            )
        return p, g


class SGD(_Optimizer):
    """torch.optim.SGD (spec section 2).

    ``d = g + wd*p``; with momentum ``b = d`` on the first step (``t == 0``), else
    ``b = momentum*b + (1-dampening)*d``; ``d = d + momentum*b`` if nesterov else
    ``b``; ``p = p - lr*d``.  ``t`` advances on every step.
    """

    def __init__(self, momentum=0.0, dampening=0.0, nesterov=False):
        _check_nonnegative("momentum", momentum)
        if not math.isfinite(dampening):
            raise ValueError(f"dampening must be finite, got {dampening!r}")
        if nesterov and (momentum <= 0.0 or dampening != 0.0):
            raise ValueError("nesterov requires momentum > 0 and dampening == 0")
        self.momentum = float(momentum)
        self.dampening = float(dampening)
        self.nesterov = bool(nesterov)

    def moment_names(self):
        return ("momentum_buffer",) if self.momentum != 0.0 else ()

    def step(self, p, g, state, lr, weight_decay):
        p, g = self._prepare(p, g, state, lr, weight_decay)
        d = g + weight_decay * p
        moments = []
        if self.momentum != 0.0:
            if state.step == 0:
                b = d.copy()
            else:
                b = self.momentum * state.moments[0] + (1.0 - self.dampening) * d
            d = d + self.momentum * b if self.nesterov else b
            moments = [b]
        return p - lr * d, OptState(moments, state.step + 1)


class Adam(_Optimizer):
    """torch.optim.Adam, torch 1.13 semantics (spec section 2).

    ``d = g + wd*p``; ``t += 1``; ``m1 = beta1*m1 + (1-beta1)*d``;
    ``m2 = beta2*m2 + (1-beta2)*d*d``; with amsgrad ``m2max = max(m2max, m2)`` is
    stored and used in place of ``m2`` below;
    ``p = p - (lr/(1-beta1^t)) * m1 / (sqrt(m2)/sqrt(1-beta2^t) + eps)``.
    """

    decoupled_weight_decay = False

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8, amsgrad=False):
        _check_unit_interval("beta1", beta1)
        _check_unit_interval("beta2", beta2)
        _check_nonnegative("eps", eps)
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.eps = float(eps)
        self.amsgrad = bool(amsgrad)

    def moment_names(self):
        names = ("exp_avg", "exp_avg_sq")
        return names + ("max_exp_avg_sq",) if self.amsgrad else names

    def step(self, p, g, state, lr, weight_decay):
        p, g = self._prepare(p, g, state, lr, weight_decay)
        if self.decoupled_weight_decay:
            p = p * (1.0 - lr * weight_decay)
            d = g
        else:
            d = g + weight_decay * p
        t = state.step + 1
        m1 = self.beta1 * state.moments[0] + (1.0 - self.beta1) * d
        m2 = self.beta2 * state.moments[1] + (1.0 - self.beta2) * d * d
        moments = [m1, m2]
        if self.amsgrad:
            m2 = np.maximum(state.moments[2], m2)
            moments.append(m2)
        denom = np.sqrt(m2) / math.sqrt(1.0 - self.beta2**t) + self.eps
        p = p - (lr / (1.0 - self.beta1**t)) * m1 / denom
        return p, OptState(moments, t)


class AdamW(Adam):
    """torch.optim.AdamW (spec section 2): Adam with decoupled weight decay,
    ``p = p*(1 - lr*wd)`` first and ``d = g``."""

    decoupled_weight_decay = True


class Lion(_Optimizer):
    """Lion (spec section 2): ``u = sign(beta1*m1 + (1-beta1)*g)``;
    ``p = p*(1-lr*wd) - lr*u``; ``m1 = beta2*m1 + (1-beta2)*g``; ``sign(0) = 0``."""

    def __init__(self, beta1=0.9, beta2=0.99):
        _check_unit_interval("beta1", beta1)
        _check_unit_interval("beta2", beta2)
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)

    def moment_names(self):
        return ("exp_avg",)

    def step(self, p, g, state, lr, weight_decay):
        p, g = self._prepare(p, g, state, lr, weight_decay)
        m1 = state.moments[0]
        u = np.sign(self.beta1 * m1 + (1.0 - self.beta1) * g)
        p = p * (1.0 - lr * weight_decay) - lr * u
        m1 = self.beta2 * m1 + (1.0 - self.beta2) * g
        return p, OptState([m1], state.step + 1)


# ---------------------------------------------------------------------------
# Sections 3, 4, 5: one step over a group of parameters
# ---------------------------------------------------------------------------


def _has_nonfinite(g):
    return not bool(np.all(np.isfinite(np.asarray(g))))


def group_step(params, grads, gs_states, opt_states, optimizer, cfg, lr, weight_decay,
               inv_scale=None, found_inf=False):
    """One stabilize-then-optimize step over a group of parameter tensors.

    Returns ``(new_params, new_gs_states, new_opt_states, step_skipped)``; all are
    new objects (float64 parameter copies), inputs are never mutated.

    * Spec section 5: tensors are independent; ``grads[i] is None`` leaves
      parameter ``i`` and both its states alone.
    * Spec section 4: with ``inv_scale`` the gradient used is ``g * inv_scale``,
      its norm ``grad_norm(g) * inv_scale`` (f64, cannot overflow).  The whole
      step is skipped (``step_skipped=True``, nothing changes, no counter
      advances) if ``found_inf``, or if ``inv_scale`` is given and any present
      gradient holds a NaN/Inf.
    * Spec section 3, per parameter after :func:`stabilize`: ``"nonfinite"``
      with ``skip`` leaves the parameter and its optimizer state unchanged (``t``
      does not advance); with ``zero`` the optimizer steps with ``g~ = 0``; with
      ``passthrough`` it steps with the raw gradient (``g * inv_scale`` when
      unscaling).  ``"zero"`` and ``"applied"`` step with ``g~``.
    """
    count = len(params)
    if not len(grads) == len(gs_states) == len(opt_states) == count:
        raise ValueError("params, grads, gs_states and opt_states must have the same length")
    if inv_scale is not None and not (math.isfinite(inv_scale) and inv_scale > 0.0):
        raise ValueError(f"inv_scale must be a finite number > 0, got {inv_scale!r}")

    new_params = [np.array(p, dtype=np.float64) for p in params]
    new_gs = [replace(s) for s in gs_states]
    new_opt = [s.copy() for s in opt_states]

    if found_inf or (inv_scale is not None
                     and any(g is not None and _has_nonfinite(g) for g in grads)):
        return new_params, new_gs, new_opt, True

    for i, g in enumerate(grads):
        if g is None:
            continue
        g64 = np.asarray(g).astype(np.float64)
        if inv_scale is None:
            g_tilde, new_gs[i], event = _stabilize_with_norm(g64, grad_norm(g64), gs_states[i], cfg)
        else:
            n = grad_norm(g64) * inv_scale
            g_tilde, new_gs[i], event = _stabilize_with_norm(g64 * inv_scale, n, gs_states[i], cfg)
        if event == "nonfinite" and cfg.on_nonfinite == "skip":
            continue
        new_params[i], new_opt[i] = optimizer.step(params[i], g_tilde, opt_states[i],
                                                   lr, weight_decay)
    return new_params, new_gs, new_opt, False
