"""A guard that fails on anything that makes the host wait for a device while
it is active: a read of a tensor's values by Python (item, tolist, float(),
int(), bool(), numpy, cpu()), a blocking copy to another device (Tensor.to /
cuda / copy_ naming a device without non_blocking=True, torch.tensor with a
device) and the explicit waits (torch.cuda.synchronize, Stream.synchronize).
Not an Event's wait: a sharded GPU step waits, when it starts, for the
event after the previous step's collective, to read that step's verdict
(docs/python.md); on the emulated path there is no event.

It intercepts the calls themselves, so it fails the same way on CPU tensors
(the GPU emulator's runs) as on CUDA ones: what it proves on the emulated
path is that the step's code makes none of these calls. A run of code that
does make them (test_sharded_gpu.py runs the CPU path under it) shows that
it is not vacuous."""

from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode

Tensor = torch.Tensor

READS = {Tensor.item: "item", Tensor.tolist: "tolist", Tensor.__float__: "__float__",
         Tensor.__int__: "__int__", Tensor.__bool__: "__bool__",
         Tensor.__index__: "__index__", Tensor.numpy: "numpy", Tensor.cpu: "cpu",
         Tensor.__array__: "__array__", Tensor.__complex__: "__complex__"}
MOVES = {Tensor.to: "to", Tensor.cuda: "cuda"}
MAKERS = {torch.tensor: "torch.tensor", torch.as_tensor: "torch.as_tensor"}


class HostSync(AssertionError):
    """The guarded code made the host wait for a device."""


def _names_device(args, kwargs) -> bool:
    if "device" in kwargs:
        return True
    return any(isinstance(a, (torch.device, str, int)) and not isinstance(a, bool)
               for a in args[1:])


class NoHostSync(TorchFunctionMode):
    """`with NoHostSync() as guard:` raises HostSync at the first host wait;
    `guard.calls` counts the tensor functions it saw (to show that it was
    on)."""

    def __init__(self):
        super().__init__()
        self.calls = 0
        self._patched = []

    def _fail(self, what: str):
        raise HostSync(f"host synchronization in a guarded step: {what}")

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.calls += 1
        if func in READS:
            self._fail(f"Tensor.{READS[func]}()")
        if func in MOVES and _names_device(args, kwargs) \
                and not kwargs.get("non_blocking", False):
            self._fail(f"a blocking Tensor.{MOVES[func]}() to a device")
        if func is Tensor.copy_ and len(args) > 1 and isinstance(args[1], Tensor) \
                and args[0].device != args[1].device \
                and not (len(args) > 2 and args[2]) and not kwargs.get("non_blocking"):
            self._fail("a blocking copy_ between devices")
        if func in MAKERS and "device" in kwargs:
            self._fail(f"{MAKERS[func]}(..., device=...) (a blocking copy)")
        return func(*args, **kwargs)

    def __enter__(self):
        for owner, name in ((torch.cuda, "synchronize"), (torch.cuda.Stream, "synchronize")):
            original = getattr(owner, name)

            def refuse(*args, _what=f"{owner.__name__}.{name}", **kwargs):
                self._fail(_what)
            setattr(owner, name, refuse)
            self._patched.append((owner, name, original))
        return super().__enter__()

    def __exit__(self, *exc):
        for owner, name, original in reversed(self._patched):
            setattr(owner, name, original)
        self._patched = []
        return super().__exit__(*exc)
