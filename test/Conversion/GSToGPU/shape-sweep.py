# RUN: %python %s gs-opt %S/group-step.mlir %S/empty-tensors.mlir \
# RUN:   %S/../../Pipelines/Inputs/adamw-group.mlir | FileCheck %s
#
# The GPU tests' inputs with every parameter tensor type of one element type
# (then of all) rewritten consistently to an empty, small, huge or
# overflowing shape, through the GPU lowerings (bufferization and
# convert-gs-to-gpu, and both pipelines): each run may succeed or fail
# with an error, never crash. Empty types used to crash convert-gs-to-gpu,
# overflowing element counts too.
# CHECK: 0 crashes in {{[0-9]+}} runs
import re
import subprocess
import sys

gs_opt, files = sys.argv[1], sys.argv[2:]
TYPE = re.compile(r"\b(tensor|memref)<((?:\d+x)+)(f32|f16|bf16)>")
SHAPES = ["0", "3x0", "7", "9223372036854775807", "4294967296x4294967296"]
PIPELINES = ["--pass-pipeline=builtin.module(one-shot-bufferize{bufferize-function-boundaries "
             "function-boundary-type-conversion=identity-layout-map},canonicalize,"
             "convert-gs-to-gpu{block-size=32})",
             "--gs-to-gpu-emulator", "--gs-to-nvvm"]

runs, crashes = 0, 0
for path in files:
    for number, chunk in enumerate(open(path).read().split("// -----")):
        for element in sorted({m.group(3) for m in TYPE.finditer(chunk)}) + ["all"]:
            for shape in SHAPES:
                text = TYPE.sub(lambda m: m.group(0) if element not in ("all", m.group(3))
                                else f"{m.group(1)}<{shape}x{m.group(3)}>", chunk)
                for pipeline in PIPELINES:
                    proc = subprocess.run([gs_opt, "-", pipeline, "-o", "/dev/null"],
                                          input=text.encode(), capture_output=True)
                    runs += 1
                    if (proc.returncode < 0 or proc.returncode >= 128
                            or b"Stack dump" in proc.stderr):
                        crashes += 1
                        print(f"crash: {path} chunk {number}, {element} as {shape}, "
                              f"{pipeline}:\n{proc.stderr.decode(errors='replace')[-2000:]}")
print(f"{crashes} crashes in {runs} runs")
