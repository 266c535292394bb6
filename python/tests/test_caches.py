"""Every kernel cache is bounded, and schedulers never recompile on the CPU
(docs/python.md, "What is compiled and cached")."""

import gc
import os
import tracemalloc
import warnings

import pytest
import torch

from gradient_stabilizer import GSWrapper
from gradient_stabilizer import _compiler as C
from gradient_stabilizer import compiled
from gradient_stabilizer._cache import LRUCache


def test_lru_cache_evicts_the_least_recently_used():
    cache = LRUCache(2)
    made = []
    make = lambda key: lambda: made.append(key) or key * 10
    assert cache.get_or_make(1, make(1)) == 10
    assert cache.get_or_make(2, make(2)) == 20
    assert cache.get_or_make(1, make(1)) == 10  # hit: 1 is now the most recent
    assert cache.get_or_make(3, make(3)) == 30  # evicts 2
    assert len(cache) == 2 and 1 in cache and 3 in cache and 2 not in cache
    assert made == [1, 2, 3]
    with pytest.raises(RuntimeError):
        cache.get_or_make(4, lambda: (_ for _ in ()).throw(RuntimeError("no")))
    assert 4 not in cache and len(cache) == 2
    with pytest.raises(ValueError):
        LRUCache(0)


def test_one_cycle_lr_never_recompiles_nor_grows_on_the_cpu():
    """OneCycleLR moves lr and betas every step: 200 steps on the compiled CPU
    backend compile nothing, keep one bucket per group and dtype, and the
    Python heap does not grow with the step count (from step 100 to 200)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    opt = GSWrapper(torch.optim.AdamW(net.parameters(), lr=1e-3), backend="compiled")
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=210)
    x = torch.randn(4, 8)
    changes, last, sizes = 0, None, []
    tracemalloc.start()
    try:
        for step in range(200):
            opt.zero_grad()
            net(x).square().mean().backward()
            opt.step()
            schedule.step()
            changes += opt.param_groups[0]["betas"] != last
            last = opt.param_groups[0]["betas"]
            if step in (99, 199):
                gc.collect()  # (which also empties CPython's free lists)
                sizes.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    assert changes > 150  # the betas really changed (almost) every step
    assert len(opt._compiled._steps) == 0 and len(opt._compiled._buckets) == 1
    # Warmed up by step 100; a leak of the 0.8 MiB per step would be
    # 80 MiB here.
    assert sizes[1] - sizes[0] < 64 * 1024, sizes


def test_compiled_steps_are_an_lru_of_bounded_size(monkeypatch):
    """The CUDA path's compiled steps (one per signature) are evicted beyond
    MAX_CACHED_STEPS; here with a stand-in for the compiler."""
    made = []
    monkeypatch.setattr(C, "CompiledStep", lambda sig, width: made.append(sig) or sig)
    backend = compiled.CompiledBackend()
    for i in range(compiled.MAX_CACHED_STEPS + 10):
        sig = C.StepSignature(shapes=((i + 1,),), dtypes=("f32",), optimizer="#gs.sgd<>",
                              num_moments=0)
        assert backend._compiled(sig) is sig
    assert len(backend._steps) == compiled.MAX_CACHED_STEPS
    assert len(made) == compiled.MAX_CACHED_STEPS + 10


def test_disk_cache_keeps_the_most_recently_used(monkeypatch, tmp_path):
    monkeypatch.setattr(C, "MAX_DISK_CACHE_FILES", 3)
    files = []
    for i in range(6):
        path = tmp_path / f"gs_step_{i:024d}.so"
        path.write_bytes(b"x")
        os.utime(path, ns=(i * 10 ** 9, i * 10 ** 9))
        files.append(path)
    other = tmp_path / "unrelated.txt"
    other.write_text("kept")
    C._prune_cache(tmp_path, keep=files[5])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [files[5].name, files[4].name, files[3].name, other.name])


def test_jit_failure_falls_back_with_its_error_text_once(monkeypatch):
    """GS_COMPILER=auto: a JIT error is not swallowed; the toolchain fallback
    warns once, carrying it."""
    def broken():
        raise C.CompilerError("cannot JIT-compile the step module: boom")
    monkeypatch.setattr(C, "capi", broken)
    monkeypatch.setattr(C, "_jit_fallback_warned", False)
    monkeypatch.setenv("GS_COMPILER", "auto")
    sig = C.StepSignature(shapes=((3,),), dtypes=("f32",), optimizer="#gs.sgd<>",
                          num_moments=0)
    try:
        C.gs_opt()
    except C.CompilerError as error:
        pytest.skip(f"no toolchain: {error}")
    with pytest.warns(UserWarning, match="JIT failed.*boom"):
        step = C.CompiledStep(sig)
    assert step.compiler == "toolchain"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        C.CompiledStep(sig)
    monkeypatch.setenv("GS_COMPILER", "jit")
    with pytest.raises(C.CompilerError, match="boom"):
        C.CompiledStep(sig)
