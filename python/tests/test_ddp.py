"""DDP with the gloo backend on two local processes: each rank sees different
data, DDP averages the gradients, and the compiled GSWrapper must leave
identical parameters and GS state on both ranks."""

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gradient_stabilizer import GSWrapper


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, out_dir):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}",
                            rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(),
                                  torch.nn.Linear(16, 2))
        ddp = torch.nn.parallel.DistributedDataParallel(net)
        opt = GSWrapper(torch.optim.AdamW(ddp.parameters(), lr=1e-2), backend="compiled")
        gen = torch.Generator().manual_seed(100 + rank)  # different data per rank
        for _ in range(5):
            x, y = torch.randn(16, 6, generator=gen), torch.randn(16, 2, generator=gen)
            opt.zero_grad()
            ((ddp(x) - y) ** 2).mean().backward()
            opt.step()
        torch.save({"params": [p.detach() for p in net.parameters()],
                    "gs": opt.state_dict()["gradient_stabilizer"]},
                   f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is unavailable")
def test_ddp_ranks_stay_identical(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    a, b = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    for x, y in zip(a["params"], b["params"]):
        assert torch.equal(x, y)
    assert a["gs"] == b["gs"]
    assert all(s["k"] == 5 for s in a["gs"]["state"].values())
