# -*- Python -*-
# lit configuration of the gs regression and execution tests.

import os
import subprocess

import lit.formats
from lit.llvm import llvm_config

config.name = "GS"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".py"]
config.excludes = ["lit.cfg.py", "lit.site.cfg.py", "Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.gs_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%mlir_lib_dir", config.mlir_lib_dir))
config.substitutions.append(("%gs_src_root", config.gs_src_root))
config.substitutions.append(("%gs_lib_dir", config.gs_lib_dir))
config.substitutions.append(("%gs_obj_root", config.gs_obj_root))

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()
# `not` and `count` are substituted verbatim: they must be on PATH.
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

# Every variable FileCheck binds must be checked within its CHECK-LABEL block.
config.environment["FILECHECK_OPTS"] = "--enable-var-scope"

# A sanitized build (GS_ENABLE_SANITIZERS) instruments this project's code
# only; libMLIR.so is not. Its inlined copies of LLVM's BumpPtrAllocator
# poison memory that libMLIR's copies hand out unpoisoned, so manual poisoning
# is off. Python is not instrumented either: it preloads the ASan runtime to
# load this build's (instrumented) libraries, and leaks are not checked in it.
python = config.python_executable
if config.gs_sanitized:
    config.available_features.add("sanitized")
    config.environment["ASAN_OPTIONS"] = "allow_user_poisoning=0:detect_leaks=1"
    config.environment["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    runtime = subprocess.run(
        [config.clang, "-print-file-name=libclang_rt.asan-x86_64.so"],
        capture_output=True, text=True, check=True).stdout.strip()
    python = (f"env LD_PRELOAD={runtime} "
              f"ASAN_OPTIONS=allow_user_poisoning=0:detect_leaks=0 {python}")

tool_dirs = [config.gs_tools_dir, config.llvm_tools_dir]
tools = [
    "gs-opt",
    "gs-capi-test",
    "mlir-runner",
    "mlir-translate",
]
llvm_config.add_tool_substitutions(tools, tool_dirs)
# A plain substitution: under sanitizers it is an `env LD_PRELOAD=...` command
# line; first, ahead of the default one of use_default_substitutions().
config.substitutions.insert(0, ("%python", python))

# Python tests import the in-tree package and the execution harness, find
# this build's gs-opt and libraries (the package looks in GS_BUILD_DIR; the
# build copies nothing into python/), and cache compiled steps inside the
# build tree.
config.environment["PYTHONPATH"] = os.pathsep.join([
    os.path.join(config.gs_src_root, "python"),
    os.path.join(config.gs_src_root, "test", "Execution", "Inputs"),
])
config.environment["GS_BUILD_DIR"] = config.gs_obj_root
config.environment["GS_CACHE_DIR"] = os.path.join(config.gs_obj_root, "gs-cache")
config.substitutions.append(
    ("%mlir_runner_libs",
     ",".join(os.path.join(config.mlir_lib_dir, lib) for lib in
              ["libmlir_runner_utils.so", "libmlir_c_runner_utils.so"])))

# Features for optional external tools: tests that need them are skipped
# where they are missing.
if config.ptxas and os.path.exists(config.ptxas):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", config.ptxas))

# The prebuilt GPU kernels have cubins (ptxas was there when they were built).
if config.gs_gpu_cubins:
    config.available_features.add("gpu-cubins")

# Front ends (python/requirements-frontends.txt) in the build's Python:
# tests that generate IR with them are skipped where they are missing. They
# run the front end in the plain interpreter (no sanitizer runtime: only
# gs-opt is this project's code).
def _python_has(*modules):
    probe = "; ".join(f"import {m}" for m in modules)
    return subprocess.run([config.python_executable, "-c", probe],
                          capture_output=True).returncode == 0


config.substitutions.append(("%frontend_python", config.python_executable))
if _python_has("torch", "torch_mlir"):
    config.available_features.add("torch-mlir")
iree_compile = os.path.join(os.path.dirname(config.python_executable),
                            "iree-compile")
if _python_has("jax", "optax") and os.path.exists(iree_compile):
    config.available_features.add("jax-iree")
