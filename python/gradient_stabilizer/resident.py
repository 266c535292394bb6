"""Compiled steps through the prebuilt generic kernels, on the CPU
(libgs_cpu_kernels) and on NVIDIA GPUs (libgs_gpu_kernels), with the GS
state resident in the bucket.

Nothing is compiled: the kernels take a run-time table of the tensors'
addresses and the hyperparameters as values. A bucket (a param group's
tensors of one dtype on one device) keeps, on its device, the address
table, chunk offsets, scratch, hyperparameters and the GS state of its
tensors (m, v, counters and the optimizer's step counts), so a steady step
is three kernel runs with no per-tensor state handling in Python; on a GPU
the launches go to PyTorch's current stream and nothing synchronizes.

The stabilizer's `state` dicts and the optimizer's `step` counts are brought
up to date (one copy per bucket) only when something reads them:
`GradientStabilizer.state`, checkpoints, an eager step
(GradientStabilizer.sync()). The bucket then reloads them on its next step,
so edits made meanwhile count.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch

from . import _cpu_kernels as K
from . import _gpu_kernels as G
from . import kernel_sets as P


class ResidentBucket:
    """The persistent buffers of one bucket of `params` on `device`;
    `gpu`: run the GPU kernels (on CPU tensors: their emulated build)."""

    def __init__(self, params: Sequence[torch.Tensor], device: torch.device, gpu: bool,
                 tensors: Optional[Sequence[torch.Tensor]] = None):
        """`tensors`: what the kernels step when it is not `params` itself
        (the local shards of sharded parameters, sharded_kernels.py); the
        state stays keyed by `params`."""
        self.params = list(params)
        self.identity = tuple(id(p) for p in self.params)
        self.device = device
        self.gpu = gpu
        n = len(self.params)
        self.numels = [t.numel() for t in (self.params if tensors is None else tensors)]
        self.host_offsets = torch.tensor(K.chunk_offsets(self.numels), dtype=torch.int64)
        self.offsets = self.host_offsets.to(device)
        self.num_chunks = int(self.host_offsets[-1])
        self.partials = torch.empty(max(self.num_chunks, 1), dtype=torch.float64,
                                    device=device)
        self.records = torch.empty(max(n, 1) * K.RECORD_WORDS, dtype=torch.float32,
                                   device=device)
        self.pointers: Optional[tuple] = None
        self.host_table = self.table = None
        self.hyper_values: Optional[tuple] = None
        self.hyper = None
        # Resident GS state (None: the dicts hold the truth).
        self.stats = self.counts = self.steps = None
        self.owner = None  # (stabilizer, optimizer) while resident

    # -- state residency ---------------------------------------------------
    def load(self, stabilizer, optimizer, step_counts: Sequence[int]) -> None:
        """Brings the state from the dicts to the device (one copy) and
        registers the flush with the stabilizer."""
        states = [stabilizer._state_of(p) for p in self.params]
        stats, counts, steps = P.state_tensors(states, step_counts)
        self.stats, self.counts, self.steps = (
            to_device(t, self.device) for t in (stats, counts, steps))
        self.owner = (stabilizer, optimizer)
        stabilizer._add_resident(self.flush)

    @property
    def resident(self) -> bool:
        return self.owner is not None

    def flush(self) -> None:
        """Writes the resident state back to the dicts (one device-to-host
        copy) and gives up residency."""
        if self.owner is None:
            return
        stabilizer, optimizer = self.owner
        self.owner = None
        stats, counts, steps = (t.cpu().tolist() for t in (self.stats, self.counts,
                                                            self.steps))
        self.stats = self.counts = self.steps = None
        for i, p in enumerate(self.params):
            stabilizer._state_of(p).update(m=stats[i][0], v=stats[i][1],
                                           k=counts[i][0], skipped=counts[i][1])
            store_step_count(optimizer.state[p], steps[i])

    def drop(self) -> None:
        """Gives up residency without writing back (the dicts were replaced)."""
        self.owner = None
        self.stats = self.counts = self.steps = None

    def release(self, stabilizer) -> None:
        """Before the bucket is replaced: its state goes back to the dicts."""
        if self.resident:
            stabilizer._residents.remove(self.flush)
            self.flush()

    # -- tables --------------------------------------------------------------
    def prepare(self, grads: Sequence[torch.Tensor], moments: Sequence[torch.Tensor],
                num_moments: int, hyper: Sequence[float],
                tensors: Optional[Sequence[torch.Tensor]] = None) -> None:
        """Rebuilds the address table when a pointer changed, and the
        hyperparameters when a value changed (one small copy each, queued
        without waiting for the device)."""
        params = self.params if tensors is None else tensors
        pointers = tuple(t.data_ptr() for t in (*params, *grads, *moments))
        if pointers != self.pointers:
            self.host_table = P.address_table(self.numels, pointers, num_moments)
            self.table = to_device(self.host_table, self.device)
            self.pointers = pointers
        values = tuple(hyper)
        if values != self.hyper_values:
            self.hyper = to_device(torch.tensor(values, dtype=torch.float64), self.device)
            self.hyper_values = values

    def args(self, inv_scale: Optional[torch.Tensor], found_inf: Optional[torch.Tensor]):
        return self.args_with(self.table, self.host_table, self.offsets, self.host_offsets,
                              self.partials, inv_scale, found_inf)

    def args_with(self, table, host_table, offsets, host_offsets, partials,
                  inv_scale: Optional[torch.Tensor], found_inf: Optional[torch.Tensor]):
        """The kernels' arguments over these tables and partials, with the
        bucket's hyperparameters, GS state and records."""
        scale = 0 if inv_scale is None else inv_scale.data_ptr()
        flag = 0 if found_inf is None else found_inf.data_ptr()
        n, width = host_table.shape
        if self.gpu:
            return G.GpuKernels.args(
                n, width, table.data_ptr(), offsets.data_ptr(), host_table.data_ptr(),
                host_offsets.data_ptr(), self.hyper.data_ptr(), self.hyper.numel(),
                self.stats.data_ptr(), self.counts.data_ptr(), self.steps.data_ptr(),
                partials.data_ptr(), partials.numel(), self.records.data_ptr(),
                self.records.numel(), scale, flag)
        return K.CpuKernels.args(
            n, width, table.data_ptr(), offsets.data_ptr(), self.hyper.data_ptr(),
            self.hyper.numel(), self.stats.data_ptr(), self.counts.data_ptr(),
            self.steps.data_ptr(), partials.data_ptr(), partials.numel(),
            self.records.data_ptr(), self.records.numel(), scale, flag)

    def nonfinite(self, inv_scale: torch.Tensor) -> torch.Tensor:
        """After the norms kernel: whether any tensor's scaled norm is NaN or
        Inf (a 0-d bool tensor on the device, no synchronization)."""
        return P.nonfinite_norms(self.offsets, self.partials, inv_scale,
                                 self.num_chunks)


def to_device(host: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A copy of the host tensor `host` on `device`, queued on the current
    stream without waiting: a blocking copy to a CUDA device would wait for
    all the work queued before it, and from pageable memory the driver may
    wait for the stream too, so the copy goes through pinned memory (PyTorch's
    caching host allocator keeps that block until the copy has run)."""
    if device.type == "cpu":
        return host
    return host.pin_memory().to(device, non_blocking=True)


def store_step_count(opt_state: dict, step: int) -> None:
    """Writes a step count back in the form the optimizer keeps it."""
    old = opt_state.get("step")
    if isinstance(old, torch.Tensor) or old is None:
        opt_state["step"] = torch.tensor(float(step))
    else:
        opt_state["step"] = int(step)


def device_index(device: torch.device) -> int:
    if device.type != "cuda":
        return 0  # the GPU emulator's one device
    return device.index if device.index is not None else torch.cuda.current_device()


class Runner:
    """Runs kernels of one device's buckets: the CPU runtime on `threads`
    threads, or the GPU runtime on the device's current stream."""

    def __init__(self, device: torch.device, gpu: bool):
        self.gpu = gpu
        if gpu:
            self.lib = G.gpu_kernels()
            self.index = device_index(device)
            self.stream = (torch.cuda.current_stream(device).cuda_stream
                           if device.type == "cuda" else None)
        else:
            self.lib = K.cpu_kernels()
            self.threads = torch.get_num_threads()

    def step(self, kernels: K.KernelSet, args) -> None:
        if self.gpu:
            self.lib.run_step(kernels, args, self.index, self.stream)
        else:
            self.lib.run_step(kernels, args, self.threads)

    def kernel(self, name: str, args, parallel: bool = True) -> None:
        if self.gpu:
            self.lib.run_kernel(name, args, self.index, self.stream)
        else:
            self.lib.run_kernel(name, args, self.threads if parallel else 1)


def run_buckets(runs: List[dict], runner: Runner, inv_scale: Optional[torch.Tensor],
                found_inf: Optional[torch.Tensor]) -> None:
    """Runs one param group's buckets on one device. With a loss scale the
    whole group skips on any non-finite gradient, across dtypes: every
    bucket's norms run first, then one found_inf serves them all."""
    if inv_scale is None or len(runs) == 1:
        for run in runs:
            runner.step(run["kernels"], run["bucket"].args(inv_scale, found_inf))
        return
    found = found_inf.clone()
    for run in runs:
        runner.kernel(run["kernels"].norms, run["bucket"].args(inv_scale, found))
        found = torch.where(run["bucket"].nonfinite(inv_scale), torch.ones_like(found),
                            found)
    for run in runs:
        args = run["bucket"].args(inv_scale, found)
        runner.kernel(run["kernels"].scalars, args, parallel=False)
        runner.kernel(run["kernels"].update, args)


Buckets = Dict[Tuple[int, torch.dtype, torch.device], ResidentBucket]
