"""CUDA steps through the prebuilt generic GPU kernels (libgs_gpu_kernels).

Nothing is compiled: the kernels are those of the CPU path, built ahead of
time for NVIDIA GPUs. A bucket (a param group's tensors of one dtype on one
device) keeps, in device memory, its address table, chunk offsets, scratch,
hyperparameters and the GS state of its tensors, so a steady step is three
kernel launches on PyTorch's current stream, with no per-tensor Python work,
no host-device copy of the state and no synchronization.

The GS state is *resident*: the stabilizer's `state` dicts and the
optimizer's `step` counts are brought up to date (one device-to-host copy
per bucket) only when something reads them: `GradientStabilizer.state`,
checkpoints, an eager step (GradientStabilizer.sync()). After that the
bucket reloads them on its next step, so edits made meanwhile count.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch

from . import _gpu_kernels as G
from . import prebuilt_cpu as P


class GpuBucket:
    """The persistent device buffers of one bucket of `params`."""

    def __init__(self, params: Sequence[torch.Tensor], device: torch.device):
        self.params = list(params)
        self.identity = tuple(id(p) for p in self.params)
        self.device = device
        n = len(self.params)
        numels = [p.numel() for p in self.params]
        self.host_offsets = torch.tensor(P.K.chunk_offsets(numels), dtype=torch.int64)
        self.offsets = self.host_offsets.to(device)
        chunks = int(self.host_offsets[-1])
        self.partials = torch.empty(max(chunks, 1), dtype=torch.float64, device=device)
        self.records = torch.empty(max(n, 1) * G.RECORD_WORDS, dtype=torch.float32,
                                   device=device)
        self.numels = numels
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
            t.to(self.device) for t in (stats, counts, steps))
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
        from .compiled import _store_step_count
        for i, p in enumerate(self.params):
            stabilizer._state_of(p).update(m=stats[i][0], v=stats[i][1],
                                           k=counts[i][0], skipped=counts[i][1])
            _store_step_count(optimizer.state[p], steps[i])

    def drop(self) -> None:
        """Gives up residency without writing back (the dicts were replaced)."""
        self.owner = None
        self.stats = self.counts = self.steps = None

    # -- tables --------------------------------------------------------------
    def prepare(self, grads: Sequence[torch.Tensor], moments: Sequence[torch.Tensor],
                num_moments: int, hyper: Sequence[float]) -> None:
        """Rebuilds the address table when a pointer changed, and the
        hyperparameters when a value changed (one small copy each)."""
        params, n = self.params, len(self.params)
        pointers = tuple(t.data_ptr() for t in (*params, *grads, *moments))
        if pointers != self.pointers:
            rows = []
            for i in range(n):
                row = [self.numels[i], pointers[i], pointers[n + i]]
                row += pointers[2 * n + i * num_moments:2 * n + (i + 1) * num_moments]
                rows.append(row)
            self.host_table = torch.tensor(rows, dtype=torch.int64).reshape(
                n, 3 + num_moments)
            self.table = self.host_table.to(self.device)
            self.pointers = pointers
        values = tuple(float(v) for v in hyper)
        if values != self.hyper_values:
            self.hyper = torch.tensor(values, dtype=torch.float64).to(self.device)
            self.hyper_values = values

    def args(self, inv_scale: Optional[torch.Tensor], found_inf: Optional[torch.Tensor]):
        return G.GpuKernels.args(
            self.host_table.shape[0], self.host_table.shape[1], self.table.data_ptr(),
            self.offsets.data_ptr(), self.host_table.data_ptr(),
            self.host_offsets.data_ptr(), self.hyper.data_ptr(), self.hyper.numel(),
            self.stats.data_ptr(), self.counts.data_ptr(), self.steps.data_ptr(),
            self.partials.data_ptr(), self.partials.numel(), self.records.data_ptr(),
            self.records.numel(), 0 if inv_scale is None else inv_scale.data_ptr(),
            0 if found_inf is None else found_inf.data_ptr())

    def nonfinite(self, inv_scale: torch.Tensor) -> torch.Tensor:
        """After the norms kernel: whether any tensor's scaled norm is NaN or
        Inf (a 0-d bool tensor on the device, no synchronization)."""
        return P.nonfinite_norms(self.offsets, self.partials, inv_scale,
                                 int(self.host_offsets[-1]))


def device_index(device: torch.device) -> int:
    if device.type != "cuda":
        return 0  # the GPU emulator's one device
    return device.index if device.index is not None else torch.cuda.current_device()


def stream_of(device: torch.device) -> Optional[int]:
    if device.type != "cuda":
        return None
    return torch.cuda.current_stream(device).cuda_stream


def run_buckets(runs: List[dict], inv_scale: Optional[torch.Tensor],
                found_inf: Optional[torch.Tensor]) -> None:
    """Runs one param group's buckets (all on one device). With a loss scale
    the whole group skips on any non-finite gradient, across dtypes: every
    bucket's norms run first, then one found_inf serves them all."""
    lib = G.gpu_kernels()
    device = runs[0]["bucket"].device
    index, stream = device_index(device), stream_of(device)
    if inv_scale is not None and found_inf is None:
        found_inf = torch.zeros((), dtype=torch.float32, device=device)
    if inv_scale is None or len(runs) == 1:
        for run in runs:
            lib.run_step(run["kernels"], run["bucket"].args(inv_scale, found_inf),
                         index, stream)
        return
    found = found_inf.clone()
    for run in runs:
        lib.run_kernel(run["kernels"].norms, run["bucket"].args(inv_scale, found),
                       index, stream)
        found = torch.where(run["bucket"].nonfinite(inv_scale), torch.ones_like(found),
                            found)
    for run in runs:
        args = run["bucket"].args(inv_scale, found)
        lib.run_kernel(run["kernels"].scalars, args, index, stream)
        lib.run_kernel(run["kernels"].update, args, index, stream)


Buckets = Dict[Tuple[int, torch.dtype, torch.device], GpuBucket]
