"""The GPU path of sharded compiled steps (sharded_kernels.py with the GPU
kernels), run at 2 ranks over gloo on CPU tensors through the kernels'
emulated build: the same results as the CPU path and as one process, one
all-reduce per step, no host synchronization in a step, and the ranks'
decisions (non-finite gradients, a loss scale overflow, a parameter list
that changed on one rank) taken alike on every rank."""

import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

import sharded_worker as W
from gradient_stabilizer import GSWrapper
from host_sync_guard import HostSync, NoHostSync
from test_sharded import assert_gs_close, assert_params_close, single_process, spawn

EMULATED = Path(os.environ.get("GS_BUILD_DIR", Path(__file__).resolve().parents[2] / "build")) \
    / "lib" / "libgs_gpu_kernels_emulated.so"

pytestmark = [
    pytest.mark.skipif(not dist.is_available() or W.DTensor_unavailable(),
                       reason="needs torch.distributed with DTensor and FSDP2"),
    pytest.mark.skipif(not EMULATED.is_file(),
                       reason="the build has no libgs_gpu_kernels_emulated.so")]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("sharded_gpu")
    with pytest.MonkeyPatch.context() as patch:
        # The forked ranks inherit it.
        patch.setenv("GS_GPU_KERNELS_LIB", str(EMULATED))
        return spawn("gpu", 2, out)


def test_gpu_path_equals_cpu_path_and_one_process(ranks):
    params, rows = single_process("compiled", steps=W.GPU_STEPS)
    for result in ranks:
        gpu, cpu = result["gpu"], result["cpu"]
        assert_params_close(gpu["params"], params)
        assert_gs_close(gpu["gs"], rows)
        assert_params_close(gpu["params"], cpu["params"])
        assert_gs_close(gpu["gs"], cpu["gs"])
        assert gpu["gs"] == ranks[0]["gpu"]["gs"]  # one GS state on every rank
    assert rows[0][2] == W.GPU_STEPS


def test_gpu_steps_launch_the_kernels_and_one_all_reduce_without_host_sync(ranks):
    for result in ranks:
        gpu = result["gpu"]
        assert [c["all_reduce"] for c in gpu["counts"]] == [1] * W.GPU_WARMUP
        guarded = gpu["guarded"]
        assert len(guarded) == W.GPU_STEPS - W.GPU_WARMUP
        for record in guarded:
            assert record["error"] is None, record["error"]
            assert record["all_reduce"] == 1
            # One bucket (all f32, one group): norms, scalars, update.
            assert [name.split("_")[1] for name in record["kernels"]] == \
                ["norms", "scalars", "update"], record["kernels"]
            assert record["seen"] > 0  # the guard saw the step's tensor calls


def test_the_guard_catches_the_cpu_paths_host_reads(ranks):
    """Not vacuous: the CPU path reads the reduced header on the host (as it
    may), and the same guard stops it at the first guarded step."""
    for result in ranks:
        guarded = result["cpu"]["guarded"]
        assert len(guarded) == 1
        assert "Tensor.tolist()" in guarded[0]["error"]


def test_guard_refuses_reads_and_blocking_copies():
    t = torch.ones(3)
    for read in (lambda: t.sum().item(), lambda: float(t[0]), lambda: bool(t[0]),
                 lambda: t.tolist(), lambda: t.cpu(), lambda: t.to("cpu"),
                 lambda: torch.tensor([1.0], device="cpu"), lambda: t.numpy()):
        with pytest.raises(HostSync):
            with NoHostSync():
                read()
    with NoHostSync() as guard:
        u = (t * 2).to("cpu", non_blocking=True)
        torch.where(u > 1, u, t)
    assert guard.calls >= 3


@pytest.mark.parametrize("policy", ["skip", "zero"])
def test_nan_in_one_shard_is_one_decision_on_the_gpu_path(ranks, policy):
    a, b = (r["policies"][("gpu", policy)] for r in ranks)
    assert a["gs"] == b["gs"]
    for x, y in zip(a["params"], b["params"]):
        assert torch.equal(x, y)
    position = a["position"]
    assert a["gs"][position][2:] == (4, 1)
    assert all(row[2:] == (5, 0) for i, row in enumerate(a["gs"]) if i != position)


def test_raise_on_nonfinite_raises_on_every_rank_on_the_gpu_path(ranks):
    a, b = (r["policies"][("gpu", "raise")] for r in ranks)
    assert a is not None and a == b
    message, rows = a
    assert message.startswith("GradientStabilizer: parameter 4 (shape (48, 16)) has a "
                              "non-finite gradient")
    assert all(row[2] == 3 for row in rows)


def test_a_loss_scale_overflow_on_one_rank_skips_the_step_on_the_gpu_path(ranks):
    a, b = (r["amp"]["gpu"] for r in ranks)
    assert a["gs"] == b["gs"] and a["scale"] == b["scale"] == 512.0
    model = W.make()  # one process, steps 0, 1 and 3
    opt = W.optimizer(model, "compiled")
    for step in (0, 1, 3):
        opt.zero_grad()
        W.loss_of(model, step).backward()
        opt.step()
    for result in (a, b):
        assert_params_close(result["params"], [p.detach() for p in model.parameters()])
        assert_gs_close(result["gs"], W.gs_rows(opt))


def test_a_parameter_list_changed_on_one_rank_is_named_at_the_next_step(ranks):
    """The GPU step does not wait for the verdict: the device skips step 1
    on every rank, and step 2 reads the verdict and raises on every rank."""
    for result in ranks:
        assert result["added"]["step"] == 2
        assert "disagree on the parameter list at parameter 15:" in result["added"]["error"]
        assert result["added"]["unchanged"]
    assert ranks[0]["added"]["error"] == ranks[1]["added"]["error"]


@pytest.mark.parametrize("path", ["gpu", "cpu"])
def test_every_rank_adding_the_same_group_loses_no_step(ranks, path):
    params, rows = single_process("compiled", steps=3)
    for result in (r["alike", path] for r in ranks):
        # Step 1: the header says every list changed alike; the ranks agree
        # on the new one and reduce again.
        assert [c["all_reduce"] for c in result["counts"]] == [1, 2, 1]
        assert [c["all_gather_object"] for c in result["counts"]] == [1, 1, 0]
        assert_params_close(result["params"], params)
        assert_gs_close(result["gs"], rows)


@pytest.mark.parametrize("path, step", [("gpu", 2), ("cpu", 1)])
def test_a_gradient_on_one_rank_only_is_named(ranks, path, step):
    results = [r["presence", path] for r in ranks]
    for result in results:
        assert result["step"] == step
        assert "parameter 4 (shape (48, 16)) has a gradient on 1 of 2 ranks" \
            in result["error"]
        assert ("(which every rank skipped)" in result["error"]) == (path == "gpu")
        assert result["unchanged"]
    assert results[0]["error"] == results[1]["error"]


def test_two_dtypes_under_a_grad_scaler(ranks):
    """f32 and bf16 shards (two buckets): every bucket's norms run before
    the one all-reduce, and an Inf in one rank's bf16 shard skips the whole
    step on both ranks, on the device; as the CPU path and one process."""
    params = W.mixed_params()
    one = GSWrapper(torch.optim.AdamW(params, lr=1e-2, weight_decay=0.01),
                    backend="compiled")
    W.mixed_steps(params, one)
    expected = [p.detach() for p in params]
    for result in ranks:
        gpu, cpu = result["mixed", "gpu"], result["mixed", "cpu"]
        assert gpu["scale"] == cpu["scale"] == 512.0
        for got in (gpu, cpu):
            assert [c for c, _ in got["counts"]] == [1, 1, 1, 1]
            assert all(row[2:] == (3, 0) for row in got["gs"]), got["gs"]
            for p, want in zip(got["params"], expected):
                torch.testing.assert_close(p.float(), want.float(), rtol=1e-6, atol=1e-6)
            assert_gs_close(got["gs"], W.gs_rows(one))
        kinds = [[name.split("_")[1] for name in names] for _, names in gpu["counts"]]
        assert kinds == [["norms", "norms", "scalars", "update", "scalars", "update"]] * 4
        # Steps 1-3 ran under NoHostSync: GradScaler's step and ours, the
        # overflow included, without a host read.
        assert gpu["guard_errors"] == []
    assert ranks[0]["mixed", "gpu"]["gs"] == ranks[1]["mixed", "gpu"]["gs"]
