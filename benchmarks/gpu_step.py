"""One GSWrapper(AdamW) step on a GPU, the compiled kernels against a
device-to-device copy of the same bytes, the eager PyTorch reference (GS in
torch ops + torch.optim.AdamW(fused=True)) and torch.compile of that
reference step (issue 4's benchmark).

    /usr/bin/python3 benchmarks/gpu_step.py --model llama1b   # ~200 tensors, 1.1B
    /usr/bin/python3 benchmarks/gpu_step.py --model gpt2      # 148 tensors, 124M
    /usr/bin/python3 benchmarks/gpu_step.py --model tiny --device cpu  # dry run

Bytes counted per step (f32 AdamW, N parameters): the norm pass reads the
gradients (4N) and the update reads parameters, gradients and both moments
and writes parameters and moments (28N): 32N. The copy baseline moves the
same 32N bytes (16N read, 16N written) with one device-to-device copy; its
GB/s is the attainable bandwidth. Times are CUDA events around each step
(wall clock on the CPU), the median of --steps after --warmup steps.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpt2_shapes import gpt2_small_shapes  # noqa: E402
from gradient_stabilizer import GSWrapper  # noqa: E402


def llama_shapes(layers=22, width=2048, ffn=5632, kv=256, vocab=32000):
    """TinyLlama-1.1B's parameter shapes (grouped-query attention)."""
    shapes = [(vocab, width)]
    for _ in range(layers):
        shapes += [(width,), (width, width), (kv, width), (kv, width), (width, width),
                   (width,), (ffn, width), (ffn, width), (width, ffn)]
    return shapes + [(width,), (vocab, width)]


MODELS = {
    "llama1b": llama_shapes,
    "gpt2": gpt2_small_shapes,
    "tiny": lambda: llama_shapes(layers=2, width=256, ffn=704, kv=64, vocab=1000),
}


def timer(device):
    """Returns f(step) -> seconds of one call of `step`."""
    if device.type == "cuda":
        def run(step):
            start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record()
            step()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3
        return run

    def run_cpu(step):
        start = time.perf_counter()
        step()
        return time.perf_counter() - start
    return run_cpu


def median_time(step, device, warmup, steps):
    run = timer(device)
    for _ in range(warmup):
        run(step)
    return statistics.median(run(step) for _ in range(steps))


def make_optimizer(shapes, device, backend, fused):
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(s, device=device)) for s in shapes]
    gen = torch.Generator(device=device).manual_seed(1)
    for p in params:
        p.grad = torch.randn(p.shape, device=device, generator=gen)
    kwargs = {"fused": True} if fused else {"foreach": False}
    inner = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01, **kwargs)
    return GSWrapper(inner, backend=backend), params


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="llama1b")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    shapes = MODELS[args.model]()
    n = sum(torch.Size(s).numel() for s in shapes)
    step_bytes = 32 * n
    name = (torch.cuda.get_device_name(device) if device.type == "cuda"
            else "CPU")
    print(f"{args.model}: {len(shapes)} tensors, {n / 1e6:.1f}M f32 parameters, "
          f"{step_bytes / 1e9:.2f} GB per step; {name}; torch {torch.__version__}")
    print()
    print("| method | median step (ms) | GB/s | % of copy |")
    print("|---|---|---|---|")
    times = {}

    src = torch.empty(step_bytes // 8, dtype=torch.float32, device=device)
    dst = torch.empty_like(src)
    times["device-to-device copy"] = median_time(lambda: dst.copy_(src), device,
                                                 args.warmup, args.steps)
    del src, dst

    compiled, _ = make_optimizer(shapes, device, "compiled", fused=False)
    start = time.perf_counter()
    compiled.step()  # compiles
    first = time.perf_counter() - start
    ours_label = ("compiled (gs-to-nvvm)" if device.type == "cuda"
                  else "compiled (gs-to-llvm)")
    times[ours_label] = median_time(compiled.step, device, args.warmup, args.steps)
    del compiled

    fused = device.type == "cuda"
    eager, _ = make_optimizer(shapes, device, "eager", fused=fused)
    label = f"eager GS + AdamW(fused={fused})"
    times[label] = median_time(eager.step, device, args.warmup, args.steps)

    compile_error = None
    if hasattr(torch, "compile"):
        try:
            step = torch.compile(eager.step)
            times["torch.compile of that step"] = median_time(
                step, device, args.warmup, args.steps)
        except Exception as error:  # report, keep the other numbers
            compile_error = f"{type(error).__name__}: {error}"
    else:
        compile_error = f"torch {torch.__version__} has no torch.compile"

    copy = times["device-to-device copy"]
    for method, seconds in times.items():
        print(f"| {method} | {seconds * 1e3:.2f} | {step_bytes / seconds / 1e9:.0f} "
              f"| {100 * copy / seconds:.0f}% |")
    print()
    print(f"first compiled step (compiles the kernels): {first:.1f} s")
    ours = times[ours_label]
    print(f"speed-up over {label}: {times[label] / ours:.2f}x")
    if "torch.compile of that step" in times:
        print(f"speed-up over torch.compile: "
              f"{times['torch.compile of that step'] / ours:.2f}x")
    if compile_error:
        print(f"torch.compile: not measured ({compile_error.splitlines()[0]})")


if __name__ == "__main__":
    main()
