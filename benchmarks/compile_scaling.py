"""Compile time and peak memory of `gs-opt --gs-to-llvm` / `--gs-to-nvvm` on
a static gs.group_step of N AdamW f32 tensors of distinct sizes, in two
forms of the entry point:

* `in-place`: memref arguments, `bufferization.to_tensor ... restrict
  writable`, the step, `bufferization.materialize_in_destination` of each
  result into its argument (the form docs/README.md recommends to hosts and
  the Python package emits): the step updates the caller's buffers;
* `returning`: tensor arguments and the updated tensors returned. A public
  function that returns buffers equal to its arguments hands the caller
  owned copies (upstream's ownership-based deallocation clones them), so
  this form copies every parameter and moment per call, and its LLVM
  signature returns a struct of 3N + 3 memref descriptors.

    python3 benchmarks/compile_scaling.py [--pipelines gs-to-llvm,gs-to-nvvm]
        [--forms in-place,returning] [N ...]

Each run is a separate gs-opt process; time and peak RSS come from
os.wait4 of that child. Prints one row per (pipeline, form, N); a pipeline
that fails prints its first diagnostic.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shapes_of(n: int) -> list[str]:
    return [f"{1000 + 37 * i}xf32" for i in range(n)]


def group_step(n: int, shapes: list[str]) -> tuple[str, list[str]]:
    """The gs.group_step over %p/%g/%a/%b<i>, %s, %c, %t, %lr, %wd and its
    result types."""
    ts = [f"tensor<{s}>" for s in shapes]
    mts = [t for t in ts for _ in range(2)]
    params = ", ".join(f"%p{i}" for i in range(n))
    grads = ", ".join(f"%g{i}" for i in range(n))
    moments = ", ".join(f"%{m}{i}" for i in range(n) for m in "ab")
    state = [f"tensor<{n}x2xf64>", f"tensor<{n}x2xi64>", f"tensor<{n}xi64>"]
    op = (f"  %r:{3 * n + 3} = gs.group_step #gs.adamw<>\n"
          f"    params({params} : {', '.join(ts)})\n"
          f"    grads({grads} : {', '.join(ts)})\n"
          f"    moments({moments} : {', '.join(mts)})\n"
          f"    stats(%s : {state[0]}) counts(%c : {state[1]})\n"
          f"    steps(%t : {state[2]}) lr(%lr) weight_decay(%wd)\n")
    return op, ts + mts + state


def module(n: int, form: str = "returning") -> str:
    """A function stepping n AdamW f32 tensors of sizes 1000 + 37 i."""
    shapes = shapes_of(n)
    names = [(f"{x}{i}", s) for i, s in enumerate(shapes) for x in "pgab"]
    names += [("s", f"{n}x2xf64"), ("c", f"{n}x2xi64"), ("t", f"{n}xi64")]
    op, result_types = group_step(n, shapes)
    count = 3 * n + 3
    if form == "returning":
        args = [f"%{name}: tensor<{s}>" for name, s in names] + ["%lr: f64", "%wd: f64"]
        results = ", ".join(result_types)
        return (f"func.func @step({', '.join(args)}) -> ({results}) {{\n{op}"
                f"  return {', '.join(f'%r#{i}' for i in range(count))} : {results}\n}}\n")
    args = [f"%{name}m: memref<{s}>" for name, s in names] + ["%lr: f64", "%wd: f64"]
    body = []
    for name, s in names:
        writable = "" if name.startswith("g") else " writable"
        body.append(f"  %{name} = bufferization.to_tensor %{name}m restrict{writable} : "
                    f"memref<{s}> to tensor<{s}>")
    destinations = ([f"%p{i}m" for i in range(n)]
                    + [f"%{m}{i}m" for i in range(n) for m in "ab"] + ["%sm", "%cm", "%tm"])
    stores = [f"  bufferization.materialize_in_destination %r#{i} in restrict writable {d} : "
              f"({t}, {t.replace('tensor', 'memref')}) -> ()"
              for i, (d, t) in enumerate(zip(destinations, result_types))]
    return (f"func.func @step({', '.join(args)}) {{\n" + "\n".join(body) + "\n" + op
            + "\n".join(stores) + "\n  return\n}\n")


def measure(gs_opt: str, pipeline: str, path: str) -> tuple[float, float, str]:
    """Seconds, peak MiB and the first diagnostic (empty on success)."""
    start = time.perf_counter()
    child = subprocess.Popen([gs_opt, path, f"--{pipeline}", "-o", os.devnull],
                             stderr=subprocess.PIPE, text=True)
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    error = ""
    if os.waitstatus_to_exitcode(status) != 0:
        lines = [line for line in stderr.splitlines() if "error" in line] or ["failed"]
        error = lines[0][:160]
    return seconds, usage.ru_maxrss / 1024.0, error


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000])
    parser.add_argument("--pipelines", default="gs-to-llvm")
    parser.add_argument("--forms", default="in-place,returning")
    parser.add_argument("--gs-opt", default=str(ROOT / "build" / "bin" / "gs-opt"))
    args = parser.parse_args()
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'pipeline':<12} {'form':<10} {'N':>6} {'seconds':>9} {'peak MiB':>9}")
    for pipeline in args.pipelines.split(","):
        for form in args.forms.split(","):
            for n in args.sizes:
                with tempfile.NamedTemporaryFile("w", suffix=".mlir", delete=False) as f:
                    f.write(module(n, form))
                try:
                    seconds, mib, error = measure(args.gs_opt, pipeline, f.name)
                finally:
                    os.unlink(f.name)
                print(f"{pipeline:<12} {form:<10} {n:>6} {seconds:>9.2f} {mib:>9.0f}"
                      + (f"  {error}" if error else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
