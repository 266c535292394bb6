# -*- Python -*-
# lit configuration of the gs regression and execution tests.

import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

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

llvm_config.with_system_environment(["HOME", "INCLUDE", "LIB", "TMP", "TEMP"])
llvm_config.use_default_substitutions()
# `not` and `count` are substituted verbatim: they must be on PATH.
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

# Every variable FileCheck binds must be checked within its CHECK-LABEL block.
config.environment["FILECHECK_OPTS"] = "--enable-var-scope"

tool_dirs = [config.gs_tools_dir, config.llvm_tools_dir]
tools = [
    "gs-opt",
    "gs-capi-test",
    "mlir-runner",
    "mlir-translate",
    ToolSubst("%python", config.python_executable, unresolved="fatal"),
]
llvm_config.add_tool_substitutions(tools, tool_dirs)

# Python tests import the in-tree package and the execution harness, use this
# build's gs-opt, and cache compiled steps inside the build tree.
config.environment["PYTHONPATH"] = os.pathsep.join([
    os.path.join(config.gs_src_root, "python"),
    os.path.join(config.gs_src_root, "test", "Execution", "Inputs"),
])
config.environment["GS_OPT"] = os.path.join(config.gs_tools_dir, "gs-opt")
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
