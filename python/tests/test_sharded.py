"""GSWrapper on FSDP2-sharded parameters (DTensors over a 1-D CPU mesh,
gloo), 4, 2 and 1 ranks: exact norms equal single-process training, one
all-reduce per step, DCP checkpoints that move between world sizes,
consistent non-finite decisions, and parameter lists that disagree."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import sharded_worker as W

pytestmark = pytest.mark.skipif(
    not dist.is_available() or W.DTensor_unavailable(), reason="needs torch.distributed "
    "with DTensor and FSDP2")

STEPS = 50
TOLERANCE = dict(rtol=1e-6, atol=1e-6)


def spawn(job, world, out_dir):
    # Forked, the ranks start in a fraction of the time spawned ones take to
    # import torch again; they run one intra-op thread (sharded_worker.run),
    # so no thread pool of this process is needed in them.
    mp.start_processes(W.run, args=(world, W.free_port(), job, str(out_dir)),
                       nprocs=world, join=True, start_method="fork")
    return [torch.load(out_dir / f"{job}-{world}-{rank}.pt", weights_only=False)
            for rank in range(world)]


def single_process(backend, steps=STEPS, **kwargs):
    model = W.make()
    opt = W.optimizer(model, backend, **kwargs)
    W.train(model, opt, 0, steps, 0, 1)
    return [p.detach().clone() for p in model.parameters()], W.gs_rows(opt)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("sharded")


@pytest.fixture(scope="module")
def trained(work):
    return spawn("train", 4, work)


@pytest.fixture(scope="module")
def reference():
    return {backend: single_process(backend) for backend in ("compiled", "eager")}


def assert_gs_close(rows, expected):
    assert len(rows) == len(expected)
    for i, (row, want) in enumerate(zip(rows, expected)):
        assert row[2:] == want[2:], f"parameter {i}: k / skipped {row[2:]} != {want[2:]}"
        torch.testing.assert_close(torch.tensor(row[:2], dtype=torch.float64),
                                   torch.tensor(want[:2], dtype=torch.float64), **TOLERANCE)


def assert_params_close(params, expected):
    for i, (p, want) in enumerate(zip(params, expected)):
        torch.testing.assert_close(p, want, **TOLERANCE,
                                   msg=lambda m, i=i: f"parameter {i}: {m}")


@pytest.mark.parametrize("backend", ["compiled", "eager"])
def test_exact_norms_at_4_ranks_equal_one_process(trained, reference, backend):
    params, rows = reference[backend]
    assert any(r[backend]["local_shapes"][13] == (0, W.WIDTH) for r in trained), \
        "one rank should hold an empty shard of head.weight"
    for rank, result in enumerate(trained):
        assert_params_close(result[backend]["params"], params)
        assert_gs_close(result[backend]["gs"], rows)
        # The GS state is that of the whole parameter: the same on every rank.
        assert result[backend]["gs"] == trained[0][backend]["gs"]
    assert rows[13][2] == STEPS


@pytest.mark.parametrize("backend", ["compiled", "eager"])
def test_one_all_reduce_per_step(trained, backend):
    for result in trained:
        counts = result[backend]["counts"]
        assert len(counts) == STEPS
        assert all(c["all_reduce"] == 1 for c in counts), counts
        # The parameter lists are compared once, on the first step.
        assert [c["all_gather_object"] for c in counts] == [1] + [0] * (STEPS - 1)


@pytest.fixture(scope="module")
def two_ranks(trained, work):
    return spawn("two_ranks", 2, work)


@pytest.mark.parametrize("world", [2, 1])
def test_checkpoint_from_4_ranks_continues_at(trained, reference, two_ranks, work, world):
    results = ([r["resume"] for r in two_ranks] if world == 2 else [W.resume(work)])
    params, rows = reference["compiled"]
    for result in results:
        assert_params_close(result["params"], params)
        assert_gs_close(result["gs"], rows)
        assert_params_close(result["params"], trained[0]["compiled"]["params"])


@pytest.fixture(scope="module")
def policies(two_ranks):
    return [r["policies"] for r in two_ranks]


@pytest.mark.parametrize("backend", ["compiled", "eager"])
@pytest.mark.parametrize("policy", ["skip", "zero"])
def test_nan_in_one_shard_is_one_decision(policies, backend, policy):
    a, b = (r[(backend, policy)] for r in policies)
    assert a["gs"] == b["gs"]
    for x, y in zip(a["params"], b["params"]):
        assert torch.equal(x, y)
    position = a["position"]
    m, v, k, skipped = a["gs"][position]
    assert (k, skipped) == (4, 1)
    assert all(row[2:] == (5, 0) for i, row in enumerate(a["gs"]) if i != position)


@pytest.mark.parametrize("backend", ["compiled", "eager"])
def test_raise_on_nonfinite_raises_on_every_rank(policies, backend):
    a, b = (r[(backend, "raise")] for r in policies)
    assert a is not None and a == b  # the same message and GS state
    message, rows = a
    assert message.startswith("GradientStabilizer: parameter 4 (shape (48, 16)) has a "
                              "non-finite gradient")
    assert all(row[2] == 3 for row in rows)  # steps 0..2 only


def test_norm_is_checked():
    with pytest.raises(ValueError, match="norm must be one of"):
        W.optimizer(W.make(), "eager", norm="global")
    assert "norm='local'" in repr(W.optimizer(W.make(), "eager", norm="local"))


def test_local_norms_differ_by_rank_and_use_no_collective(policies):
    a, b = (r["local"] for r in policies)
    assert all(c["all_reduce"] == 0 and c["all_gather_object"] == 0 for c in a["counts"])
    assert a["gs"] != b["gs"]  # each rank's shard norms
    assert "norm='local' keeps a different GS state on every rank" in a["checkpoint"]
    _, exact = single_process("compiled", steps=3)
    assert a["gs"][0][0] != pytest.approx(exact[0][0], rel=1e-3)


@pytest.fixture(scope="module")
def mismatch(two_ranks):
    return [r["mismatch"] for r in two_ranks]


@pytest.mark.parametrize("case, position", [("count", 13), ("order", 3), ("added", 15)])
def test_ranks_that_disagree_on_the_parameters_are_named(mismatch, case, position):
    for result in mismatch:
        message = result[case]
        assert message is not None, f"{case}: no error"
        assert f"disagree on the parameter list at parameter {position}:" in message
        assert result[case + "/unchanged"]
    assert mismatch[0][case] == mismatch[1][case]


def test_zero_redundancy_optimizer_equals_one_process(two_ranks):
    params, rows = single_process("eager", steps=10)
    for result in (r["zero"] for r in two_ranks):
        assert_params_close(result["params"], params)
        assert_gs_close(result["gs"], rows)
        assert result["gs"] == two_ranks[0]["zero"]["gs"]


@pytest.mark.parametrize("backend", ["compiled", "eager"])
def test_a_loss_scale_overflow_on_one_rank_skips_the_step_on_all(two_ranks, backend):
    a, b = (r["amp"][backend] for r in two_ranks)
    assert a["gs"] == b["gs"] and a["scale"] == b["scale"] == 512.0
    model = W.make()  # one process, steps 0, 1 and 3
    opt = W.optimizer(model, backend)
    for step in (0, 1, 3):
        opt.zero_grad()
        W.loss_of(model, step).backward()
        opt.step()
    for result in (a, b):
        assert_params_close(result["params"], [p.detach() for p in model.parameters()])
        assert_gs_close(result["gs"], W.gs_rows(opt))


def test_a_bad_sharded_checkpoint_is_named_and_loads_nothing():
    from gradient_stabilizer import sharded
    model = W.make()
    opt = W.optimizer(model, "eager")
    W.train(model, opt, 0, 2, 0, 1)
    before = (W.gs_rows(opt), {k: v.clone() for k, v in opt.state[model.fc.weight].items()})
    for path, value, message in [
            (("embed.weight", "v"), float("nan"), "['embed.weight']['v'] is nan"),
            (("embed.weight", "k"), -1, "['embed.weight']['k'] is -1"),
            (("nonexistent",), {}, "names 'nonexistent', which is not a parameter")]:
        state = sharded.state_dict(model, opt)
        entry = state["gradient_stabilizer"]["state"]
        for key in path[:-1]:
            entry = entry[key]
        entry[path[-1]] = value
        with pytest.raises(ValueError, match="nothing was loaded") as error:
            sharded.load_state_dict(model, opt, state)
        assert message in str(error.value)
        assert W.gs_rows(opt) == before[0]
        for key, tensor in opt.state[model.fc.weight].items():
            assert torch.equal(tensor, before[1][key])


def test_gradient_stabilizer_on_its_own_uses_whole_parameter_norms(two_ranks):
    from gradient_stabilizer import GradientStabilizer
    model = W.make()
    stabilizer = GradientStabilizer()
    W.loss_of(model, 0).backward()
    stabilizer(model.parameters())
    expected = [stabilizer.state[p]["m"] for p in model.parameters()]
    for result in (r["standalone"] for r in two_ranks):
        assert result["calls"] == {"all_reduce": 1, "all_gather_object": 1}
        torch.testing.assert_close(torch.tensor(result["m"], dtype=torch.float64),
                                   torch.tensor(expected, dtype=torch.float64), **TOLERANCE)
