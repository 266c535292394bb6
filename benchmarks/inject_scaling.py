"""Injection time for an N-parameter AdamW step written as a graph compiler
emits it, through `gs-opt`.

    python3 benchmarks/inject_scaling.py [--repeats 3] [--emit FORM N] [N ...]

Forms:
  arith   tensor arith ops, one chain per parameter, a shared step counter
          `t` (f32, count after the step) and bias corrections from it;
          recognized whole by gs-inject-stabilization.
  linalg  one fused linalg.generic per parameter (new p, m, v), the bias
          corrections as 0-d tensor operands and lr as a 0-d argument (the
          IREE / torch.compile form); raised by gs-inject-stabilization with
          the bias corrections as values (gs-stabilize-gradients alone
          stabilizes it at the gradient level).
  clip    `linalg` behind torch's clip_grad_norm_ over all N gradients (a
          global norm every update reads), the worst case for slices.

Rows: pass pipeline, form, N, min and median seconds over the repeats,
and the same for parsing + printing alone (`parse`), each a separate
gs-opt process run one after another. `--emit FORM N` prints the input.
`--baseline GS_OPT` times a second gs-opt (another build) on the same
inputs, alternating with the first run by run, and adds its min and median
and the ratios baseline / this one.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def arith_form(n: int) -> str:
    lines, args, results, rtypes = [], [], [], []
    for i in range(n):
        t = f"tensor<{16 + i}xf32>"
        args += [f"%p{i}: {t}", f"%g{i}: {t}", f"%m{i}: {t}", f"%v{i}: {t}"]
        c = lambda name, val: lines.append(
            f"  %{name}{i} = arith.constant dense<{val}> : {t}")
        c("b1_", "0.9"), c("a1_", "0.1"), c("b2_", "0.999"), c("a2_", "0.001")
        c("eps", "1.0e-8"), c("lr", "1.0e-3"), c("dec", "0.99999")
        lines += [
            f"  %mm{i} = arith.mulf %b1_{i}, %m{i} : {t}",
            f"  %mg{i} = arith.mulf %a1_{i}, %g{i} : {t}",
            f"  %mn{i} = arith.addf %mm{i}, %mg{i} : {t}",
            f"  %vv{i} = arith.mulf %b2_{i}, %v{i} : {t}",
            f"  %gg{i} = arith.mulf %g{i}, %g{i} : {t}",
            f"  %vg{i} = arith.mulf %a2_{i}, %gg{i} : {t}",
            f"  %vn{i} = arith.addf %vv{i}, %vg{i} : {t}",
            f"  %bc1b{i} = tensor.splat %bc1 : {t}",
            f"  %bc2b{i} = tensor.splat %sbc2 : {t}",
            f"  %mh{i} = arith.divf %mn{i}, %bc1b{i} : {t}",
            f"  %sv{i} = math.sqrt %vn{i} : {t}",
            f"  %sh{i} = arith.divf %sv{i}, %bc2b{i} : {t}",
            f"  %de{i} = arith.addf %sh{i}, %eps{i} : {t}",
            f"  %u{i} = arith.divf %mh{i}, %de{i} : {t}",
            f"  %s{i} = arith.mulf %lr{i}, %u{i} : {t}",
            f"  %pd{i} = arith.mulf %p{i}, %dec{i} : {t}",
            f"  %pn{i} = arith.subf %pd{i}, %s{i} : {t}",
        ]
        results += [f"%pn{i}", f"%mn{i}", f"%vn{i}"]
        rtypes += [t] * 3
    head = [
        "  %one = arith.constant 1.0 : f32",
        "  %beta1 = arith.constant 0.9 : f32",
        "  %beta2 = arith.constant 0.999 : f32",
        "  %pw1 = math.powf %beta1, %t : f32",
        "  %bc1 = arith.subf %one, %pw1 : f32",
        "  %pw2 = math.powf %beta2, %t : f32",
        "  %bc2 = arith.subf %one, %pw2 : f32",
        "  %sbc2 = math.sqrt %bc2 : f32",
    ]
    return (f"func.func @step({', '.join(args)}, %t: f32) -> ({', '.join(rtypes)}) {{\n"
            + "\n".join(head + lines)
            + f"\n  return {', '.join(results)} : {', '.join(rtypes)}\n}}\n")


GENERIC_BODY = """    ^bb0(%pi: f32, %gi: f32, %mi: f32, %vi: f32, %b1: f32, %b2: f32, %lri: f32, %o0: f32, %o1: f32, %o2: f32):
      %beta1 = arith.constant 0.9 : f32
      %omb1 = arith.constant 0.1 : f32
      %beta2 = arith.constant 0.999 : f32
      %omb2 = arith.constant 0.001 : f32
      %eps = arith.constant 1.0e-8 : f32
      %wd = arith.constant 0.01 : f32
      %one = arith.constant 1.0 : f32
      %m0 = arith.mulf %mi, %beta1 : f32
      %m1 = arith.mulf %gi, %omb1 : f32
      %mn = arith.addf %m0, %m1 : f32
      %v0 = arith.mulf %vi, %beta2 : f32
      %gg = arith.mulf %gi, %gi : f32
      %v1 = arith.mulf %gg, %omb2 : f32
      %vn = arith.addf %v0, %v1 : f32
      %mh = arith.divf %mn, %b1 : f32
      %vh = arith.divf %vn, %b2 : f32
      %sq = math.sqrt %vh : f32
      %den = arith.addf %sq, %eps : f32
      %u = arith.divf %mh, %den : f32
      %lrwd = arith.mulf %lri, %wd : f32
      %dec = arith.subf %one, %lrwd : f32
      %pd = arith.mulf %pi, %dec : f32
      %s = arith.mulf %lri, %u : f32
      %pn = arith.subf %pd, %s : f32
      linalg.yield %pn, %mn, %vn : f32, f32, f32
"""


def _body() -> str:
    # Body values get their own prefix: a linalg region sees the function's
    # names.
    return re.sub(r"%(\w+)", r"%k_\1", GENERIC_BODY.rstrip("\n"))


def linalg_form(n: int, clip: bool = False) -> str:
    lines, args, results, rtypes = [], [], [], []
    maps = "[#id, #id, #id, #id, #sc, #sc, #sc, #id, #id, #id]"
    for i in range(n):
        t = f"tensor<{16 + i}xf32>"
        args += [f"%p{i}: {t}", f"%g{i}: {t}", f"%m{i}: {t}", f"%v{i}: {t}"]
        grad = f"%g{i}"
        if clip:
            lines += [
                f"  %gc{i} = linalg.generic {{indexing_maps = [#id, #sc, #id], iterator_types = [\"parallel\"]}}"
                f" ins(%g{i}, %clipf : {t}, tensor<f32>) outs(%g{i} : {t}) {{",
                "    ^bb0(%k_x: f32, %k_f: f32, %k_o: f32):",
                "      %k_y = arith.mulf %k_x, %k_f : f32",
                "      linalg.yield %k_y : f32",
                f"  }} -> {t}",
            ]
            grad = f"%gc{i}"
        lines += [
            f"  %e{i} = tensor.empty() : {t}",
            f"  %r{i}:3 = linalg.generic {{indexing_maps = {maps}, iterator_types = [\"parallel\"]}}",
            f"      ins(%p{i}, {grad}, %m{i}, %v{i}, %bc1, %bc2, %lr : {t}, {t}, {t}, {t}, tensor<f32>, tensor<f32>, tensor<f32>)",
            f"      outs(%e{i}, %e{i}, %e{i} : {t}, {t}, {t}) {{",
            _body(),
            f"  }} -> ({t}, {t}, {t})",
        ]
        results += [f"%r{i}#0", f"%r{i}#1", f"%r{i}#2"]
        rtypes += [t] * 3
    head = []
    if clip:
        # total = sqrt(sum_i sum(g_i^2)); f = min(1, max_norm / (total + 1e-6))
        head.append("  %zero = arith.constant dense<0.0> : tensor<f32>")
        sums = []
        for i in range(n):
            t = f"tensor<{16 + i}xf32>"
            head += [
                f"  %sq{i} = linalg.reduce ins(%g{i} : {t}) outs(%zero : tensor<f32>) dimensions = [0]",
                "    (%k_x: f32, %k_acc: f32) {",
                "      %k_x2 = arith.mulf %k_x, %k_x : f32",
                "      %k_a = arith.addf %k_x2, %k_acc : f32",
                "      linalg.yield %k_a : f32",
                "    }",
            ]
            sums.append(f"%sq{i}")
        acc = sums[0]
        for i, s in enumerate(sums[1:]):
            head.append(f"  %acc{i} = arith.addf {acc}, {s} : tensor<f32>")
            acc = f"%acc{i}"
        head += [
            f"  %total = math.sqrt {acc} : tensor<f32>",
            "  %eps6 = arith.constant dense<1.0e-6> : tensor<f32>",
            "  %den = arith.addf %total, %eps6 : tensor<f32>",
            "  %ratio = arith.divf %maxnorm, %den : tensor<f32>",
            "  %onec = arith.constant dense<1.0> : tensor<f32>",
            "  %clipf = arith.minimumf %ratio, %onec : tensor<f32>",
        ]
    extra = ", %maxnorm: tensor<f32>" if clip else ""
    return ("#id = affine_map<(d0) -> (d0)>\n#sc = affine_map<(d0) -> ()>\n"
            f"func.func @step({', '.join(args)}, %bc1: tensor<f32>, %bc2: tensor<f32>, "
            f"%lr: tensor<f32>{extra}) -> ({', '.join(rtypes)}) {{\n"
            + "\n".join(head + lines)
            + f"\n  return {', '.join(results)} : {', '.join(rtypes)}\n}}\n")


FORMS = {"arith": arith_form, "linalg": linalg_form,
         "clip": lambda n: linalg_form(n, clip=True)}
PIPELINES = {
    "parse": [],
    "gs-inject-stabilization": ["--gs-inject-stabilization"],
    "gs-stabilize-gradients": ["--gs-stabilize-gradients"],
    "gs-inject": ["--gs-inject"],
}


def run(gs_opt: str, args: list[str], path: str) -> float:
    start = time.perf_counter()
    subprocess.run([gs_opt, path, *args, "-o", os.devnull], check=True)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", nargs="*", type=int, default=[1000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--forms", default="arith,linalg,clip")
    parser.add_argument("--emit", nargs=2, metavar=("FORM", "N"))
    parser.add_argument("--gs-opt", default=str(ROOT / "build" / "bin" / "gs-opt"))
    parser.add_argument("--baseline", help="another gs-opt to compare with")
    opts = parser.parse_args()
    if opts.emit:
        sys.stdout.write(FORMS[opts.emit[0]](int(opts.emit[1])))
        return 0
    header = f"{'pipeline':<26}{'form':<8}{'N':>6}{'min s':>8}{'median s':>10}"
    if opts.baseline:
        header += f"{'base min':>10}{'base med':>10}{'min x':>7}{'med x':>7}"
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for form in opts.forms.split(","):
            for n in opts.sizes:
                path = os.path.join(tmp, f"{form}-{n}.mlir")
                Path(path).write_text(FORMS[form](n))
                for name, args in PIPELINES.items():
                    times, base = [], []
                    for _ in range(opts.repeats):
                        times.append(run(opts.gs_opt, args, path))
                        if opts.baseline:
                            base.append(run(opts.baseline, args, path))
                    row = (f"{name:<26}{form:<8}{n:>6}{min(times):>8.2f}"
                           f"{statistics.median(times):>10.2f}")
                    if base:
                        row += (f"{min(base):>10.2f}{statistics.median(base):>10.2f}"
                                f"{min(base) / min(times):>7.2f}"
                                f"{statistics.median(base) / statistics.median(times):>7.2f}")
                    print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
