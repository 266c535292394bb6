"""Checkpoints of the GS state, in this package's format and in the original
library's, checked in full before anything is loaded (spec section 6).

This package's format (`format="gs"`), under the key `gradient_stabilizer`:

    {"state": {position: {"m": float, "v": float, "k": int, "skipped": int}},
     "gamma1": ..., "gamma2": ..., "eps": ..., "bias_correction": ...,
     "on_nonfinite": ...}

The original library's (`format="original"`), at the top level next to
`optimizer`:

    "scaler_state_by_idx": {position: {"mnorm": 0-d f32 tensor, "vnorm": 0-d f32
                                       tensor, "step": int, "skipped": int}},
    "scaler_hparams": {"gamma1": ..., "gamma2": ..., "eps": ...,
                       "bias_correction": ...}

`position` is the parameter's index in the optimizer's param groups, in order.
The two formats hold the same values (`m`=`mnorm`, `v`=`vnorm`, `k`=`step`),
except that the original stores `m` and `v` as f32.
"""

from __future__ import annotations

import math
import numbers
from typing import Dict, List, Tuple

import torch

FORMATS = ("gs", "original")
HYPERPARAMETERS = ("gamma1", "gamma2", "eps", "bias_correction")

# Entry fields of each format: (name in the checkpoint, name in the state,
# integer?).
_FIELDS = {
    "gs": (("m", "m", False), ("v", "v", False), ("k", "k", True),
           ("skipped", "skipped", True)),
    "original": (("mnorm", "m", False), ("vnorm", "v", False), ("step", "k", True),
                 ("skipped", "skipped", True)),
}
_STATE_KEY = {"gs": "state", "original": "scaler_state_by_idx"}

Entries = Dict[int, Dict[str, float]]


def check_format(format: str) -> None:
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")


def export(states: Dict[torch.Tensor, dict], params: List[torch.Tensor],
           hyperparameters: dict, on_nonfinite: str, format: str) -> dict:
    """The GS part of a checkpoint: `{"gradient_stabilizer": ...}` or the
    original library's `{"scaler_state_by_idx": ..., "scaler_hparams": ...}`."""
    check_format(format)
    if format == "gs":
        state = {i: {"m": float(states[p]["m"]), "v": float(states[p]["v"]),
                     "k": int(states[p]["k"]), "skipped": int(states[p]["skipped"])}
                 for i, p in enumerate(params) if p in states}
        return {"gradient_stabilizer": {"state": state, **hyperparameters,
                                        "on_nonfinite": on_nonfinite}}
    by_index = {}
    for i, p in enumerate(params):
        if p not in states:
            continue
        entry = {}
        for saved, name in (("mnorm", "m"), ("vnorm", "v")):
            value = torch.tensor(states[p][name], dtype=torch.float32)
            if not torch.isfinite(value):
                raise ValueError(
                    f"cannot save parameter {i}'s GS state in the original format: "
                    f"{name} = {states[p][name]!r} overflows its float32 '{saved}'")
            entry[saved] = value
        entry["step"] = int(states[p]["k"])
        entry["skipped"] = int(states[p]["skipped"])
        by_index[i] = entry
    return {"scaler_state_by_idx": by_index, "scaler_hparams": dict(hyperparameters)}


def detect(state_dict) -> str:
    """Which format the GS part of `state_dict` is in; ValueError when neither."""
    if not isinstance(state_dict, dict):
        raise ValueError(f"a checkpoint must be a dict, got {type(state_dict).__name__}")
    ours = "gradient_stabilizer" in state_dict
    original = "scaler_state_by_idx" in state_dict or "scaler_hparams" in state_dict
    if ours and original:
        raise ValueError("the checkpoint holds both 'gradient_stabilizer' and the original "
                         "library's 'scaler_state_by_idx' / 'scaler_hparams'")
    if ours:
        return "gs"
    if original:
        return "original"
    raise ValueError("not a GSWrapper checkpoint: expected the keys 'optimizer' and "
                     "'gradient_stabilizer' (this package), or 'optimizer', "
                     "'scaler_state_by_idx' and 'scaler_hparams' (the original library)")


def parse(state_dict: dict, num_params: int) -> Tuple[Entries, dict]:
    """Checks the GS part of a checkpoint of either format against
    `num_params` parameters and returns its entries `{position: {"m", "v",
    "k", "skipped"}}` and its hyperparameters. Raises ValueError naming the
    first bad entry; changes nothing."""
    format = detect(state_dict)
    if format == "gs":
        gs = _require(state_dict, "gradient_stabilizer", "the checkpoint")
        _expect_dict(gs, "gradient_stabilizer")
        raw_state = _require(gs, "state", "gradient_stabilizer")
        where = "gradient_stabilizer['state']"
        hparams_dict, hparams_where = gs, "gradient_stabilizer"
    else:
        raw_state = _require(state_dict, "scaler_state_by_idx", "the checkpoint")
        where = "scaler_state_by_idx"
        hparams_dict = _require(state_dict, "scaler_hparams", "the checkpoint")
        hparams_where = "scaler_hparams"
    _expect_dict(hparams_dict, hparams_where)
    hparams = {}
    for name in HYPERPARAMETERS:
        value = _require(hparams_dict, name, hparams_where)
        entry = f"{hparams_where}['{name}']"
        if name == "bias_correction":
            if not isinstance(value, bool):
                raise ValueError(f"{entry} must be a bool, got {value!r}")
        else:
            value = _number(value, entry, integer=False)
        hparams[name] = value

    _expect_dict(raw_state, where)
    entries: Entries = {}
    for key, raw in raw_state.items():
        index = _position(key, where, num_params)
        entry_where = f"{where}[{key!r}]"
        if index in entries:
            raise ValueError(f"{entry_where}: parameter {index} appears twice")
        _expect_dict(raw, entry_where)
        fields = _FIELDS[format]
        expected = {saved for saved, _, _ in fields}
        unexpected = sorted(map(str, set(raw) - expected))
        if unexpected:
            raise ValueError(f"{entry_where} has unexpected keys {unexpected}; expected "
                             f"{sorted(expected)}")
        values = {}
        for saved, name, integer in fields:
            value = _require(raw, saved, entry_where)
            values[name] = _number(value, f"{entry_where}['{saved}']", integer)
        if values["k"] == 0 and (values["m"] != 0.0 or values["v"] != 0.0):
            m_name, v_name, k_name = (f[0] for f in fields[:3])
            raise ValueError(f"{entry_where}: '{k_name}' is 0 but '{m_name}' / '{v_name}' "
                             f"are not (no GS step has updated them)")
        entries[index] = values
    return entries, hparams


def check_optimizer_part(state_dict: dict, num_params: int) -> None:
    """The wrapped optimizer's part must exist and cover `num_params`
    parameters (its own load_state_dict checks the rest)."""
    inner = _require(state_dict, "optimizer", "the checkpoint")
    _expect_dict(inner, "optimizer")
    groups = _require(inner, "param_groups", "optimizer")
    _require(inner, "state", "optimizer")
    if not isinstance(groups, (list, tuple)) or not all(
            isinstance(g, dict) and isinstance(g.get("params"), (list, tuple))
            for g in groups):
        raise ValueError("optimizer['param_groups'] must be a list of dicts with 'params'")
    count = sum(len(g["params"]) for g in groups)
    if count != num_params:
        raise ValueError(f"optimizer['param_groups'] holds {count} parameters, but the "
                         f"optimizer has {num_params}")


def _require(mapping, key, where):
    if key not in mapping:
        raise ValueError(f"{where} is missing the key '{key}'")
    return mapping[key]


def _expect_dict(value, where):
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a dict, got {type(value).__name__}")


def _position(key, where, num_params) -> int:
    if isinstance(key, str) and key.isdigit():
        index = int(key)
    elif isinstance(key, numbers.Integral) and not isinstance(key, bool):
        index = int(key)
    else:
        raise ValueError(f"{where} has the key {key!r}: expected a parameter position")
    if not 0 <= index < num_params:
        raise ValueError(f"{where}[{key!r}]: there is no parameter {index}, the optimizer "
                         f"has {num_params}")
    return index


def _number(value, where, integer):
    """A finite number >= 0 from a Python / NumPy number or a 0-d tensor."""
    kind = "integer" if integer else "number"
    if isinstance(value, torch.Tensor):
        if value.dim() != 0:
            raise ValueError(f"{where} must be a 0-d tensor, got shape {tuple(value.shape)}")
        if integer and (value.is_floating_point() or value.is_complex()
                        or value.dtype == torch.bool):
            raise ValueError(f"{where} must be an integer, got a {value.dtype} tensor")
        if not integer and not value.is_floating_point():
            raise ValueError(f"{where} must be a floating-point value, got a "
                             f"{value.dtype} tensor")
        value = value.item()
    elif isinstance(value, bool) or not isinstance(
            value, numbers.Integral if integer else numbers.Real):
        raise ValueError(f"{where} must be a finite {kind} >= 0, got {value!r}")
    value = int(value) if integer else float(value)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{where} is {value!r}: it must be a finite {kind} >= 0")
    return value
