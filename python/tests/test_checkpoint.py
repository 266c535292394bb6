"""Checkpoints in both formats: the original library's layout loads and saves
(`optimizer`, `scaler_state_by_idx` with f32 `mnorm` / `vnorm` and int `step`
/ `skipped`, `scaler_hparams`); a bad checkpoint of either format is rejected
with a ValueError naming the entry, and a failed load changes nothing, the
wrapped optimizer's state included."""

import copy
import warnings

import pytest
import torch

from gradient_stabilizer import GradientStabilizer, GSWrapper


def trained(backend="eager", steps=3, seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2))
    opt = GSWrapper(torch.optim.AdamW(net.parameters(), lr=1e-2), backend=backend)
    gen = torch.Generator().manual_seed(seed + 1)
    for _ in range(steps):
        opt.zero_grad()
        net(torch.randn(8, 4, generator=gen)).pow(2).mean().backward()
        opt.step()
    return net, opt


def original_library_checkpoint(opt):
    """What the original library's GSWrapper.state_dict() returns for the same
    state: written out by hand from its documented layout."""
    by_index = {}
    for i, p in enumerate(p for g in opt.param_groups for p in g["params"]):
        s = opt.scaler.state[p]
        by_index[i] = {"mnorm": torch.tensor(s["m"], dtype=torch.float32),
                       "vnorm": torch.tensor(s["v"], dtype=torch.float32),
                       "step": s["k"], "skipped": s["skipped"]}
    return {"optimizer": opt.optimizer.state_dict(), "scaler_state_by_idx": by_index,
            "scaler_hparams": {"gamma1": 0.6, "gamma2": 0.999, "eps": 1e-12,
                               "bias_correction": True}}


def snapshot(opt):
    """Everything a load could change, deep-copied."""
    return ([dict(opt.scaler.state[p]) if p in opt.scaler.state else None
             for p in opt._params()],
            copy.deepcopy(opt.optimizer.state_dict()),
            [dict((k, v) for k, v in g.items() if k != "params") for g in opt.param_groups])


def assert_unchanged(opt, before):
    gs, inner, groups = snapshot(opt)
    assert gs == before[0]
    assert groups == before[2]
    assert inner["state"].keys() == before[1]["state"].keys()
    for i in inner["state"]:
        for name, value in inner["state"][i].items():
            assert torch.equal(value, before[1]["state"][i][name]), (i, name)


def test_original_checkpoint_loads_exactly():
    _, source = trained()
    ckpt = original_library_checkpoint(source)
    _, target = trained(seed=5, steps=1)
    target.load_state_dict(ckpt)
    for p_src, p_dst in zip(source._params(), target._params()):
        s, d = source.scaler.state[p_src], target.scaler.state[p_dst]
        assert d["m"] == float(torch.tensor(s["m"], dtype=torch.float32))
        assert d["v"] == float(torch.tensor(s["v"], dtype=torch.float32))
        assert (d["k"], d["skipped"]) == (s["k"], s["skipped"]) == (3, 0)
        assert torch.equal(target.state[p_dst]["exp_avg"], source.state[p_src]["exp_avg"])


def test_saving_in_the_original_format():
    _, opt = trained()
    saved = opt.state_dict(format="original")
    assert set(saved) == {"optimizer", "scaler_state_by_idx", "scaler_hparams"}
    assert saved["scaler_hparams"] == {"gamma1": 0.6, "gamma2": 0.999, "eps": 1e-12,
                                       "bias_correction": True}
    assert sorted(saved["scaler_state_by_idx"]) == [0, 1, 2, 3]
    entry = saved["scaler_state_by_idx"][2]
    assert set(entry) == {"mnorm", "vnorm", "step", "skipped"}
    assert entry["mnorm"].dtype == torch.float32 and entry["mnorm"].shape == ()
    assert entry["mnorm"].device.type == "cpu"
    assert type(entry["step"]) is int and entry["step"] == 3
    expected = original_library_checkpoint(opt)
    for i, e in expected["scaler_state_by_idx"].items():
        got = saved["scaler_state_by_idx"][i]
        assert torch.equal(got["mnorm"], e["mnorm"]) and torch.equal(got["vnorm"], e["vnorm"])


def test_original_format_overflow_is_refused_on_save():
    _, opt = trained()
    p = opt._params()[1]
    opt.scaler.state[p]["v"] = 1e40  # fine in f64, Inf in f32
    with pytest.raises(ValueError, match=r"parameter 1.*vnorm"):
        opt.state_dict(format="original")


def test_unknown_format_is_refused():
    _, opt = trained(steps=1)
    with pytest.raises(ValueError, match="format"):
        opt.state_dict(format="torch")


def test_both_formats_through_torch_save(tmp_path):
    _, opt = trained()
    for format in ["gs", "original"]:
        torch.save(opt.state_dict(format=format), tmp_path / "c.pt")
        _, other = trained(seed=3, steps=2)
        other.load_state_dict(torch.load(tmp_path / "c.pt"))
        assert all(s["k"] == 3 for s in other.scaler.state.values())


def test_standalone_stabilizer_takes_both_formats():
    _, opt = trained()
    params = opt._params()
    stabilizer = GradientStabilizer()
    stabilizer.load_state_dict(opt.scaler.state_dict(params, format="original"), params)
    assert all(stabilizer.state[p]["k"] == 3 for p in params)
    stabilizer.load_state_dict(opt.scaler.state_dict(params), params)
    assert stabilizer.state[params[0]] == opt.scaler.state[params[0]]


def gs_entry(ckpt, index):
    return ckpt["gradient_stabilizer"]["state"][index]


BAD_GS = [
    ("missing gradient_stabilizer state",
     lambda c: c["gradient_stabilizer"].pop("state"), r"missing the key 'state'"),
    ("missing hyperparameter", lambda c: c["gradient_stabilizer"].pop("gamma2"),
     r"gradient_stabilizer is missing the key 'gamma2'"),
    ("missing optimizer", lambda c: c.pop("optimizer"), r"missing the key 'optimizer'"),
    ("missing m", lambda c: gs_entry(c, 1).pop("m"), r"\[1\] is missing the key 'm'"),
    ("negative v", lambda c: gs_entry(c, 2).update(v=-1.0), r"\[2\]\['v'\] is -1.0"),
    ("nan m", lambda c: gs_entry(c, 0).update(m=float("nan")), r"\[0\]\['m'\] is nan"),
    ("inf v", lambda c: gs_entry(c, 3).update(v=float("inf")), r"\[3\]\['v'\] is inf"),
    ("negative k", lambda c: gs_entry(c, 1).update(k=-2), r"\[1\]\['k'\] is -2"),
    ("float k", lambda c: gs_entry(c, 1).update(k=2.5), r"\[1\]\['k'\] must be a finite integer"),
    ("bool skipped", lambda c: gs_entry(c, 1).update(skipped=True), r"\['skipped'\]"),
    ("string m", lambda c: gs_entry(c, 1).update(m="0.5"), r"\[1\]\['m'\] must be"),
    ("position out of range",
     lambda c: c["gradient_stabilizer"]["state"].update({7: dict(gs_entry(c, 0))}),
     r"\[7\]: there is no parameter 7, the optimizer has 4"),
    ("negative position",
     lambda c: c["gradient_stabilizer"]["state"].update({-1: dict(gs_entry(c, 0))}),
     r"no parameter -1"),
    ("bad position key",
     lambda c: c["gradient_stabilizer"]["state"].update({"w": dict(gs_entry(c, 0))}),
     r"has the key 'w'"),
    ("duplicate position",
     lambda c: c["gradient_stabilizer"]["state"].update({"1": dict(gs_entry(c, 1))}),
     r"parameter 1 appears twice"),
    ("unexpected entry key", lambda c: gs_entry(c, 0).update(mnorm=1.0),
     r"\[0\] has unexpected keys \['mnorm'\]"),
    ("k 0 with statistics", lambda c: gs_entry(c, 0).update(k=0),
     r"\[0\]: 'k' is 0 but 'm' / 'v' are not"),
    ("bad hyperparameter", lambda c: c["gradient_stabilizer"].update(gamma1="fast"),
     r"gradient_stabilizer\['gamma1'\]"),
    ("state not a dict", lambda c: c["gradient_stabilizer"].update(state=[1, 2]),
     r"gradient_stabilizer\['state'\] must be a dict"),
    ("too few optimizer parameters",
     lambda c: c["optimizer"]["param_groups"][0]["params"].pop(),
     r"optimizer\['param_groups'\] holds 3 parameters, but the optimizer has 4"),
]


def orig_entry(ckpt, index):
    return ckpt["scaler_state_by_idx"][index]


BAD_ORIGINAL = [
    ("missing scaler_hparams", lambda c: c.pop("scaler_hparams"),
     r"missing the key 'scaler_hparams'"),
    ("missing scaler_state_by_idx", lambda c: c.pop("scaler_state_by_idx"),
     r"missing the key 'scaler_state_by_idx'"),
    ("missing mnorm", lambda c: orig_entry(c, 2).pop("mnorm"),
     r"scaler_state_by_idx\[2\] is missing the key 'mnorm'"),
    ("missing skipped", lambda c: orig_entry(c, 0).pop("skipped"),
     r"scaler_state_by_idx\[0\] is missing the key 'skipped'"),
    ("vector vnorm", lambda c: orig_entry(c, 1).update(vnorm=torch.ones(2)),
     r"scaler_state_by_idx\[1\]\['vnorm'\] must be a 0-d tensor, got shape \(2,\)"),
    ("integer mnorm tensor", lambda c: orig_entry(c, 1).update(mnorm=torch.tensor(1)),
     r"\['mnorm'\] must be a floating-point value"),
    ("nan vnorm", lambda c: orig_entry(c, 3).update(vnorm=torch.tensor(float("nan"))),
     r"scaler_state_by_idx\[3\]\['vnorm'\] is nan"),
    ("negative mnorm", lambda c: orig_entry(c, 0).update(mnorm=torch.tensor(-0.5)),
     r"scaler_state_by_idx\[0\]\['mnorm'\] is -0.5"),
    ("negative step", lambda c: orig_entry(c, 0).update(step=-1),
     r"scaler_state_by_idx\[0\]\['step'\] is -1"),
    ("float step tensor", lambda c: orig_entry(c, 0).update(step=torch.tensor(1.0)),
     r"\['step'\] must be an integer"),
    ("too many entries",
     lambda c: c["scaler_state_by_idx"].update({4: dict(orig_entry(c, 0))}),
     r"scaler_state_by_idx\[4\]: there is no parameter 4"),
    ("missing hyperparameter", lambda c: c["scaler_hparams"].pop("eps"),
     r"scaler_hparams is missing the key 'eps'"),
    ("bad bias_correction", lambda c: c["scaler_hparams"].update(bias_correction=1),
     r"scaler_hparams\['bias_correction'\] must be a bool"),
    ("both formats", lambda c: c.update(gradient_stabilizer={}), r"both"),
]


@pytest.mark.parametrize("format, name, corrupt, message",
                         [("gs",) + case for case in BAD_GS]
                         + [("original",) + case for case in BAD_ORIGINAL],
                         ids=[f"gs-{c[0]}" for c in BAD_GS]
                         + [f"original-{c[0]}" for c in BAD_ORIGINAL])
def test_bad_checkpoint_is_rejected_and_changes_nothing(format, name, corrupt, message):
    _, source = trained()
    ckpt = (copy.deepcopy(source.state_dict()) if format == "gs"
            else original_library_checkpoint(source))
    corrupt(ckpt)
    _, target = trained(seed=4, steps=2)
    before = snapshot(target)
    with pytest.raises(ValueError, match=message):
        target.load_state_dict(ckpt)
    assert_unchanged(target, before)


def test_not_a_checkpoint():
    _, opt = trained(steps=1)
    with pytest.raises(ValueError, match="must be a dict"):
        opt.load_state_dict([1, 2])
    with pytest.raises(ValueError, match="'gradient_stabilizer'.*'scaler_state_by_idx'"):
        opt.load_state_dict({"optimizer": opt.optimizer.state_dict()})


class FailingAdamW(torch.optim.AdamW):
    """An optimizer whose load fails after it has replaced its state."""

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self.param_groups[0]["lr"] = 123.0
        raise RuntimeError("storage went away")


def test_failed_inner_load_restores_the_wrapped_optimizer():
    _, source = trained()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2))
    opt = GSWrapper(FailingAdamW(net.parameters(), lr=1e-3), backend="eager")
    net(torch.randn(8, 4)).pow(2).mean().backward()
    opt.step()
    before = snapshot(opt)
    state_object = opt.optimizer.state
    with pytest.raises(RuntimeError, match="storage went away"):
        opt.load_state_dict(source.state_dict())
    assert_unchanged(opt, before)
    assert opt.optimizer.state is state_object and opt.param_groups[0]["lr"] == 1e-3


def test_inner_optimizer_mismatch_changes_nothing():
    _, source = trained()
    _, target = trained(seed=2, steps=2)
    target.optimizer.add_param_group({"params": [torch.nn.Parameter(torch.ones(3))]})
    before = snapshot(target)
    with pytest.raises(ValueError):
        target.load_state_dict(source.state_dict())
    assert_unchanged(target, before)


def test_hyperparameter_warning_as_error_changes_nothing():
    _, source = trained()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2))
    target = GSWrapper(torch.optim.AdamW(net.parameters(), lr=1e-2), gamma1=0.5)
    before = snapshot(target)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match="keeping the current settings"):
            target.load_state_dict(source.state_dict(format="original"))
    assert_unchanged(target, before)


@pytest.mark.skipif(not hasattr(torch.optim.Optimizer, "register_state_dict_post_hook"),
                    reason="state-dict hooks are torch >= 2.1")
def test_state_dict_hooks_run():
    _, opt = trained(steps=2)
    calls = []
    opt.register_state_dict_pre_hook(lambda o: calls.append("save-pre"))
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "epoch": 7})
    opt.register_load_state_dict_pre_hook(
        lambda o, sd: calls.append(sd.pop("epoch")) or sd)
    opt.register_load_state_dict_post_hook(lambda o: calls.append("load-post"))
    saved = opt.state_dict(format="original")
    assert saved["epoch"] == 7 and calls == ["save-pre"]
    opt.load_state_dict(saved)
    assert calls == ["save-pre", 7, "load-post"]
