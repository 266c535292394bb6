"""Exact against local GS norms on sharded parameters: GPT-2 small's 148
tensors as DTensors sharded over 2 ranks (Shard(0) on a 1-D CPU mesh, as
FSDP2 shards them; gloo), GSWrapper(AdamW, backend="compiled"), one
intra-op thread per rank.

Both wrappers step the same parameters and gradients (each keeps its own
AdamW moments and GS state), alternately in the same processes, so that the
machine's drift hits both alike; every timed step starts after a barrier.
norm="exact" runs the norms kernel, one all-reduce of 2 * 148 + 8 doubles
and the scalars / update kernels; norm="local" runs the same kernels with
no collective. Also timed: that all-reduce on its own.

    .venv/bin/python benchmarks/sharded_step.py [--steps N] [--backend compiled|eager]

Times are rank 0's min and median over N steps (perf_counter).
"""

import argparse
import os
import platform
import socket
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gpt2_shapes import gpt2_small_shapes  # noqa: E402
from gradient_stabilizer import GSWrapper  # noqa: E402
from gradient_stabilizer import _cpu_kernels as K  # noqa: E402

WORLD = 2


def stats(times):
    return min(times) * 1e3, float(np.median(times)) * 1e3


def make_param(shape, mesh, gen):
    """A parameter and its gradient, sharded; each rank makes only its own
    shard's values (no collective)."""
    from torch.distributed.tensor import Shard, distribute_tensor
    p = torch.nn.Parameter(distribute_tensor(torch.empty(shape), mesh, [Shard(0)],
                                             src_data_rank=None))
    p.to_local().normal_(0.0, 0.02, generator=gen)
    p.grad = torch.zeros_like(p)
    p.grad.to_local().normal_(0.0, 1e-3, generator=gen)
    return p


def worker(rank, port, steps, backend, out):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=WORLD)
    torch.set_num_threads(1)
    from torch.distributed.device_mesh import init_device_mesh
    mesh = init_device_mesh("cpu", (WORLD,))
    gen = torch.Generator().manual_seed(rank)
    params = []
    with torch.no_grad():
        for shape in gpt2_small_shapes():
            params.append(make_param(shape, mesh, gen))

    wrappers = {norm: GSWrapper(torch.optim.AdamW(params, lr=1e-4), backend=backend,
                                norm=norm) for norm in ("exact", "local")}
    times = {norm: [] for norm in wrappers}
    flat = torch.zeros(2 * len(params) + 8, dtype=torch.float64)  # as sharded.py
    times["all-reduce alone"] = []
    for step in range(steps + 1):  # step 0: allocation and first-step checks
        for name in ("exact", "local", "all-reduce alone"):
            dist.barrier()
            start = time.perf_counter()
            if name == "all-reduce alone":
                dist.all_reduce(flat)
            else:
                wrappers[name].step()
            if step:
                times[name].append(time.perf_counter() - start)
    if rank == 0:
        local_numel = sum(p.to_local().numel() for p in params)
        lines = [f"machine: {platform.machine()}, {os.cpu_count()} cores, torch "
                 f"{torch.__version__}, kernels for {K.cpu_kernels().isa}",
                 f"GPT-2 small: {len(params)} tensors, "
                 f"{sum(p.numel() for p in params) / 1e6:.1f}M parameters (f32), "
                 f"{WORLD} ranks x 1 thread, {local_numel / 1e6:.1f}M per rank, "
                 f"backend={backend}, {steps} steps", "",
                 "| what | min (ms) | median (ms) |", "|---|---|---|"]
        for name, values in times.items():
            lo, med = stats(values)
            lines.append(f"| {name} | {lo:.2f} | {med:.2f} |")
        (exact_min, exact_med), (local_min, local_med) = (stats(times["exact"]),
                                                          stats(times["local"]))
        ratios = [e / l for e, l in zip(times["exact"], times["local"])]
        lines += ["", f"exact / local: {exact_min / local_min:.3f} (min), "
                  f"{exact_med / local_med:.3f} (median), per-step ratios: min "
                  f"{min(ratios):.3f}, median {float(np.median(ratios)):.3f}"]
        Path(out).write_text("\n".join(lines) + "\n")
    dist.destroy_process_group()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--backend", default="compiled", choices=("compiled", "eager"))
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"sharded_step_{os.getpid()}.txt"
    mp.start_processes(worker, args=(port, args.steps, args.backend, str(out)),
                       nprocs=WORLD, join=True, start_method="fork")
    print(out.read_text(), end="")
    out.unlink()


if __name__ == "__main__":
    main()
