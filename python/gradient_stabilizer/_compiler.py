"""Compiles a GradientStabilizer step for one parameter group and runs it.

The step is an MLIR module with one in-place entry point::

    func.func @gs_step(params..., grads..., moments..., stats, counts, steps,
                       lr: f64, weight_decay: f64 [, inv_scale] [, found_inf])

built around ``gs.group_step``, lowered by the ``gs-to-llvm`` pipeline with
bare-pointer arguments, and called through ctypes with the buffers'
addresses: every tensor is updated in place, nothing is copied.

Two ways to compile, picked by GS_COMPILER (default "auto": the first that
is available):

* "jit": in process, through the C API (libGSCAPI.so) and MLIR's
  ExecutionEngine; needs nothing but the library.
* "toolchain": ``gs-opt``, ``mlir-translate`` and ``clang`` make a shared
  object, cached on disk by the hash of the module and the tools, so a
  shape / dtype / optimizer combination compiles once per machine. The cache
  keeps the MAX_DISK_CACHE_FILES most recently used objects.

In "auto", a JIT failure falls back to the toolchain with a warning (once
per process) that carries the JIT's error text.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from . import _paths

LLVM_BIN = Path("/usr/lib/llvm-22/bin")

# MLIR element type of each supported dtype name.
ELEMENT_TYPES = {"f32": "f32", "f16": "f16", "bf16": "bf16"}


# The most compiled objects the toolchain's disk cache keeps (each is a few
# hundred KiB); the least recently used go first.
MAX_DISK_CACHE_FILES = 256

# ctypes refuses foreign functions of more arguments (CFUNCTYPE's limit).
MAX_CTYPES_ARGUMENTS = 1024


class CompilerError(RuntimeError):
    """A step could not be compiled; the message holds the tool's output."""


def _find_tool(name: str, env: str, candidates: Sequence[Path]) -> str:
    override = os.environ.get(env)
    if override:
        if not Path(override).is_file():
            raise CompilerError(f"{env}={override} does not exist")
        return override
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise CompilerError(
        f"cannot find {name}: build the project (scripts/setup.sh) or set {env}")


def _bundled(folder: str, name: str, env: str) -> str:
    """A file of the build: the installed package's, or a checkout's build
    tree's (see _paths)."""
    path = _paths.require(folder, name, env, CompilerError)
    if not path.is_file():
        raise CompilerError(f"{env}={path} does not exist")
    return str(path)


def gs_opt() -> str:
    return _bundled("bin", "gs-opt", "GS_OPT")


def _mlir_translate() -> str:
    return _find_tool("mlir-translate", "GS_MLIR_TRANSLATE",
                      [LLVM_BIN / "mlir-translate"])


def _clang() -> str:
    return _find_tool("clang-22", "GS_CLANG", [LLVM_BIN / "clang"])


@dataclass(frozen=True)
class StepSignature:
    """What a compiled step is specialized for."""

    shapes: tuple            # one shape (tuple of ints) per parameter
    dtypes: tuple            # one of ELEMENT_TYPES per parameter
    optimizer: str           # an optimizer attribute, e.g. "#gs.adamw<>"
    num_moments: int         # moments per parameter of that optimizer
    stabilizer: str = "#gs.stabilizer<>"
    inv_scale: bool = False
    found_inf: bool = False
    # "cpu"; the CUDA chip of device buffers ("sm_90"); or "gpu-emulator": the
    # GPU kernels run on the CPU (lib/Runtime/GpuEmulator.cpp), for tests.
    target: str = "cpu"
    # Extra gs-to-nvvm / gs-to-gpu-emulator options, e.g. "chunk-size=64".
    kernel_options: str = ""

    def __post_init__(self):
        if not self.shapes:
            raise ValueError("a step needs at least one parameter")
        if len(self.shapes) != len(self.dtypes):
            raise ValueError("shapes and dtypes differ in length")
        if self.kernel_options and self.target == "cpu":
            raise ValueError("kernel_options apply to GPU targets only")
        for dtype in self.dtypes:
            if dtype not in ELEMENT_TYPES:
                raise ValueError(f"unsupported dtype {dtype!r}; expected one of "
                                 f"{sorted(ELEMENT_TYPES)}")


def mlir_float(x: float) -> str:
    """`x` as an MLIR float literal (which needs a '.' before any exponent)."""
    text = repr(float(x))
    if "e" in text and "." not in text:
        text = text.replace("e", ".0e", 1)
    return text


def stabilizer_attr(gamma1: float, gamma2: float, eps: float,
                    bias_correction: bool, on_nonfinite: str) -> str:
    """The #gs.stabilizer attribute of a GradientStabilizer configuration."""
    return (f"#gs.stabilizer<gamma1 = {mlir_float(gamma1)}, "
            f"gamma2 = {mlir_float(gamma2)}, eps = {mlir_float(eps)}, "
            f"bias_correction = {'true' if bias_correction else 'false'}, "
            f"on_nonfinite = {on_nonfinite}>")


def _tensor(shape, element: str) -> str:
    dims = "x".join(str(d) for d in shape)
    return f"{dims}x{element}" if shape else element


def emit_step_module(sig: StepSignature) -> str:
    """Returns the MLIR text of the in-place entry point `gs_step` for `sig`.

    The entry wraps its memref arguments as tensors around the gs.group_step
    and materializes the results back into them: it bufferizes in place, with
    no copy, for the CPU and the GPU alike."""
    n = len(sig.shapes)
    # An empty tensor is passed as 0 elements in one dimension: the bare-pointer
    # ABI cannot lower memrefs such as memref<3x0xf32> (MLIR leaves the
    # function unconverted), and the step does not depend on the shape.
    shapes = [(0,) if 0 in s else s for s in sig.shapes]
    types = [_tensor(s, ELEMENT_TYPES[d]) for s, d in zip(shapes, sig.dtypes)]
    moment_types = [t for t in types for _ in range(sig.num_moments)]
    # (name, type, writable) of every buffer, in argument order.
    buffers = ([(f"p{i}", t, True) for i, t in enumerate(types)]
               + [(f"g{i}", t, False) for i, t in enumerate(types)]
               + [(f"m{i}", t, True) for i, t in enumerate(moment_types)]
               + [("stats", f"{n}x2xf64", True), ("counts", f"{n}x2xi64", True),
                  ("steps", f"{n}xi64", True)])
    scalars = ["lr", "wd"]
    extras = [name for name, wanted in (("inv_scale", sig.inv_scale),
                                        ("found_inf", sig.found_inf)) if wanted]
    all_buffers = buffers + [(name, "f32", False) for name in extras]
    results = [(name, ty) for name, ty, writable in buffers if writable]

    def group_step(value):
        def group(name, names, tys):
            if not names:
                return ""
            return (f" {name}({', '.join(value(x) for x in names)} : "
                    f"{', '.join(f'tensor<{t}>' for t in tys)})")
        names = [name for name, _, _ in buffers]
        return (f"%r:{len(results)} = gs.group_step {sig.optimizer} config {sig.stabilizer}"
                + group("params", names[:n], types) + group("grads", names[n:2 * n], types)
                + group("moments", names[2 * n:2 * n + len(moment_types)], moment_types)
                + f" stats({value('stats')} : tensor<{n}x2xf64>)"
                + f" counts({value('counts')} : tensor<{n}x2xi64>)"
                + f" steps({value('steps')} : tensor<{n}xi64>)"
                + f" lr({value('lr')}) weight_decay({value('wd')})"
                + "".join(f" {name}({value(name)})" for name in extras))

    # C order: buffers, lr, weight_decay, then inv_scale / found_inf.
    def ordered(buffer_item, scalar_item):
        return ([buffer_item(b) for b in buffers] + [scalar_item(x) for x in scalars]
                + [buffer_item((name, "f32", False)) for name in extras])

    args = ordered(lambda b: f"%{b[0]}: memref<{b[1]}>", lambda x: f"%{x}: f64")
    body = []
    for name, ty, writable in all_buffers:
        mode = " writable" if writable else ""
        body.append(f"  %t_{name} = bufferization.to_tensor %{name} restrict{mode}"
                    f" : memref<{ty}> to tensor<{ty}>")
    body.append("  " + group_step(lambda x: f"%t_{x}" if x not in scalars else f"%{x}"))
    for i, (name, ty) in enumerate(results):
        body.append(f"  bufferization.materialize_in_destination %r#{i} in restrict"
                    f" writable %{name} : (tensor<{ty}>, memref<{ty}>) -> ()")
    return ("func.func @gs_step(" + ", ".join(args) + ") {\n"
            + "\n".join(body) + "\n  return\n}\n")


def pipeline(sig: StepSignature, vector_width: int = 8) -> str:
    """The textual pipeline that lowers `sig`'s module to LLVM."""
    if sig.target == "cpu":
        return f"gs-to-llvm{{vector-width={vector_width} bare-ptr-abi=1}}"
    extra = f" {sig.kernel_options}" if sig.kernel_options else ""
    if sig.target == "gpu-emulator":
        return f"gs-to-gpu-emulator{{bare-ptr-abi=1{extra}}}"
    # PTX, JIT-compiled by the driver when the module loads: no toolkit needed.
    return f"gs-to-nvvm{{chip={sig.target} format=isa bare-ptr-abi=1{extra}}}"


def _run(cmd, stdin: bytes | None = None) -> bytes:
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    except OSError as error:
        raise CompilerError(f"cannot run {cmd[0]}: {error}") from error
    if proc.returncode != 0:
        raise CompilerError(f"{' '.join(map(str, cmd))} failed:\n"
                            + proc.stderr.decode(errors="replace"))
    return proc.stdout


def _cache_dir() -> Path:
    root = os.environ.get("GS_CACHE_DIR")
    if root:
        path = Path(root)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(base) / "gradient_stabilizer"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _cpu_features() -> str:
    """What `-march=native` compiles for, as part of a cache key: the CPU's
    model and flags, so a cache shared between machines never hands one CPU
    code built for another (SIGILL)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        import platform
        return platform.processor() or platform.machine()
    fields = {}
    for line in info.splitlines():
        name, _, value = line.partition(":")
        name = name.strip()
        if name in ("model name", "flags") and name not in fields:
            fields[name] = value.strip()
    return f"{fields.get('model name', '')}|{fields.get('flags', '')}"


def compile_module(module: str, vector_width: int = 8) -> Path:
    """Lowers `module` to a shared object (cached on disk by the module
    text, the tools and the CPU's features) and returns its path."""
    tools = [gs_opt(), _mlir_translate(), _clang()]
    key = hashlib.sha256()
    key.update(module.encode())
    key.update(str(vector_width).encode())
    key.update(_cpu_features().encode())
    for tool in tools:
        stat = Path(tool).stat()
        key.update(f"{tool}:{stat.st_mtime_ns}:{stat.st_size}".encode())
    target = _cache_dir() / f"gs_step_{key.hexdigest()[:24]}.so"
    if target.exists():
        os.utime(target)  # recently used: the last to be evicted
        return target

    llvm_dialect = _run([tools[0], f"--gs-to-llvm=vector-width={vector_width} bare-ptr-abi=1"],
                        module.encode())
    llvm_ir = _run([tools[1], "--mlir-to-llvmir"], llvm_dialect)
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".so",
                                     delete=False) as tmp:
        partial = Path(tmp.name)
    try:
        _run([tools[2], "-O3", "-march=native", "-shared", "-fPIC", "-x", "ir",
              "-", "-o", str(partial)], llvm_ir)
        partial.replace(target)  # atomic: concurrent compiles are safe
    finally:
        partial.unlink(missing_ok=True)
    _prune_cache(target.parent, keep=target)
    return target


def build_step_library(sig: StepSignature, output: Path) -> Path:
    """Lowers emit_step_module(sig) through pipeline(sig) into a shared object
    at `output`, to be loaded elsewhere with CompiledStep(sig, library=...):
    nothing there needs the toolchain. A GPU target's host code calls the
    runtime (mgpu* / gsEmu*), which CompiledStep loads first; CPU code is
    built for baseline x86-64."""
    tools = [gs_opt(), _mlir_translate(), _clang()]
    lowered = _run([tools[0], f"--pass-pipeline=builtin.module({pipeline(sig)})"],
                   emit_step_module(sig).encode())
    llvm_ir = _run([tools[1], "--mlir-to-llvmir"], lowered)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    # Kernels emulated on the CPU convert to bf16 with compiler-rt's
    # __truncsfbf2, which libgcc may lack.
    builtins = ["-rtlib=compiler-rt"] if sig.target == "gpu-emulator" else []
    _run([tools[2], "-O2", "-shared", "-fPIC", *builtins, "-x", "ir", "-", "-o",
          str(output)], llvm_ir)
    return output


def _prune_cache(folder: Path, keep: Path) -> None:
    """Deletes the least recently used compiled steps beyond
    MAX_DISK_CACHE_FILES (never `keep`). A process that still has one loaded
    keeps its mapping; another process recompiles it."""
    def mtime(path):
        try:
            return path.stat().st_mtime_ns
        except FileNotFoundError:  # pruned by a concurrent process
            return 0
    files = sorted(folder.glob("gs_step_*.so"), key=mtime, reverse=True)
    for old in files[MAX_DISK_CACHE_FILES:]:
        if old != keep:
            old.unlink(missing_ok=True)


class _CAPI:
    """ctypes binding of include/gs-c/GS.h."""

    def __init__(self, path: str):
        vp, cp = ctypes.c_void_p, ctypes.c_char_p
        lib = _paths.load_library(path, {
            "gsContextCreate": ([], vp), "gsContextDestroy": ([vp], None),
            "gsContextGetLastError": ([vp], cp),
            "gsModuleParse": ([vp, cp, ctypes.c_size_t], vp),
            "gsModuleDestroy": ([vp], None),
            "gsModuleRunPipeline": ([vp, cp], ctypes.c_int),
            "gsExecutableCreate": ([vp, ctypes.c_int], vp),
            "gsExecutableDestroy": ([vp], None),
            "gsExecutableLookup": ([vp, cp], vp),
        }, CompilerError)
        self.lib = lib
        self.context = lib.gsContextCreate()

    def error(self, what: str) -> CompilerError:
        message = self.lib.gsContextGetLastError(self.context).decode(errors="replace")
        return CompilerError(f"{what}: {message}")

    def jit(self, module: str, pipeline: str, opt_level: int = 3):
        """Returns (executable handle, this binding) for `module` lowered by
        `pipeline`."""
        text = module.encode()
        handle = self.lib.gsModuleParse(self.context, text, len(text))
        if not handle:
            raise self.error("cannot parse the step module")
        try:
            if self.lib.gsModuleRunPipeline(handle, pipeline.encode()) != 0:
                raise self.error("cannot lower the step module")
            executable = self.lib.gsExecutableCreate(handle, opt_level)
            if not executable:
                raise self.error("cannot JIT-compile the step module")
            return executable
        finally:
            self.lib.gsModuleDestroy(handle)


_capi_instance = None
_runtimes: dict = {}


class GpuRuntime:
    """The host runtime that JIT-compiled GPU steps call, loaded globally so
    that their code resolves its functions: lib/Runtime's CUDA runtime
    (mgpu* over the driver; loads without a GPU) or the GPU emulator (gsEmu*).
    Errors are per thread and read after each step."""

    def __init__(self, library: str, env: str, prefix: str):
        path = _bundled("lib", library, env)
        self.lib = _paths.load_library(path, {
            f"{prefix}GetLastError": (None, ctypes.c_char_p),
            f"{prefix}ClearLastError": (None, None),
        }, CompilerError, global_symbols=True)
        self._get_error = getattr(self.lib, f"{prefix}GetLastError")
        self._clear_error = getattr(self.lib, f"{prefix}ClearLastError")
        self._set_stream = getattr(self.lib, "gsRuntimeSetStream", None)
        if self._set_stream is not None:
            self._set_stream.argtypes = [ctypes.c_void_p]

    def clear_error(self) -> None:
        self._clear_error()

    def last_error(self) -> str | None:
        error = self._get_error()
        return error.decode(errors="replace") if error else None

    def set_stream(self, stream) -> None:
        """Queues this thread's steps on `stream` (the emulator has none)."""
        if self._set_stream is not None:
            self._set_stream(stream)


def cuda_runtime() -> GpuRuntime:
    """lib/Runtime's libgs_cuda_runtime.so."""
    if "cuda" not in _runtimes:
        _runtimes["cuda"] = GpuRuntime("libgs_cuda_runtime.so", "GS_CUDA_RUNTIME_LIB",
                                       "gsRuntime")
    return _runtimes["cuda"]


def gpu_emulator() -> GpuRuntime:
    """lib/Runtime's libgs_gpu_emulator.so."""
    if "emulator" not in _runtimes:
        _runtimes["emulator"] = GpuRuntime("libgs_gpu_emulator.so",
                                           "GS_GPU_EMULATOR_LIB", "gsEmu")
    return _runtimes["emulator"]


def capi() -> _CAPI:
    """The process-wide C API binding (loaded on first use)."""
    global _capi_instance
    if _capi_instance is None:
        _capi_instance = _CAPI(_bundled("lib", "libGSCAPI.so", "GS_CAPI_LIB"))
    return _capi_instance


_jit_fallback_warned = False


def _warn_jit_fallback(error: CompilerError) -> None:
    """GS_COMPILER=auto fell back from the JIT to the toolchain: says why,
    once per process (the toolchain's own errors are raised)."""
    global _jit_fallback_warned
    if not _jit_fallback_warned:
        _jit_fallback_warned = True
        warnings.warn(f"gradient_stabilizer: the in-process JIT failed, compiling with "
                      f"the gs-opt / clang toolchain instead: {error}", stacklevel=4)


class CompiledStep:
    """A compiled step for one `StepSignature`, callable on buffers."""

    def __init__(self, sig: StepSignature, vector_width: int = 8,
                 library: Path | None = None):
        """Compiles `sig`, or, with `library`, loads a shared object that
        was built from emit_step_module(sig) and pipeline(sig) beforehand
        (e.g. on a machine with the toolchain, for one without it)."""
        self.signature = sig
        self.module = emit_step_module(sig)
        n = len(sig.shapes)
        pointers = n * (2 + sig.num_moments) + 3
        argtypes = [ctypes.c_void_p] * pointers + [ctypes.c_double] * 2
        argtypes += [ctypes.c_void_p] * (int(sig.inv_scale) + int(sig.found_inf))
        if len(argtypes) > MAX_CTYPES_ARGUMENTS:
            raise CompilerError(
                f"a step of {n} tensors with {sig.num_moments} moments each takes "
                f"{len(argtypes)} arguments; ctypes calls at most "
                f"{MAX_CTYPES_ARGUMENTS}: split the group")
        mode = os.environ.get("GS_COMPILER", "auto")
        if mode not in ("auto", "jit", "toolchain"):
            raise CompilerError(f"GS_COMPILER must be auto, jit or toolchain, got {mode!r}")
        self._runtime = None
        if sig.target != "cpu":
            mode = "jit"  # the host code needs the runtime of this process
            self._runtime = (gpu_emulator() if sig.target == "gpu-emulator"
                             else cuda_runtime())
        address, self.compiler = None, "toolchain"
        if library is not None:
            mode = "toolchain"
            self.compiler = "prebuilt"
            self.library_path = Path(library)
        if mode != "toolchain":
            try:
                binding = capi()
                self._executable = binding.jit(self.module, pipeline(sig, vector_width))
                self._binding = binding
                address = binding.lib.gsExecutableLookup(self._executable, b"gs_step")
                self.compiler = "jit"
            except CompilerError as error:
                if mode == "jit":
                    raise
                _warn_jit_fallback(error)
        if address is None:
            if library is None:
                self.library_path = compile_module(self.module, vector_width)
            self._library = _paths.load_library(self.library_path,
                                                {"gs_step": (None, None)}, CompilerError)
            address = ctypes.cast(self._library.gs_step, ctypes.c_void_p).value
        self._function = ctypes.CFUNCTYPE(None, *argtypes)(address)

    def __del__(self):
        executable = getattr(self, "_executable", None)
        if executable:
            self._binding.lib.gsExecutableDestroy(executable)

    def __call__(self, params, grads, moments, stats, counts, steps, lr, weight_decay,
                 inv_scale=None, found_inf=None, stream=None):
        """Runs one step in place. Every buffer is given by its address (an int)
        and must be contiguous, of the signature's shape and dtype, in host
        memory for the CPU and device memory for CUDA; the caller keeps the
        buffers alive during the call. For CUDA the kernels are queued on
        `stream` (a CUstream handle; None: a stream the runtime creates and
        waits for), and a failure raises RuntimeError with CUDA's message."""
        sig = self.signature
        n = len(sig.shapes)
        if len(params) != n or len(grads) != n or len(moments) != n * sig.num_moments:
            raise ValueError(f"expected {n} params, {n} grads and "
                             f"{n * sig.num_moments} moments")
        if (inv_scale is None) == sig.inv_scale or (found_inf is None) == sig.found_inf:
            raise ValueError("inv_scale / found_inf do not match the compiled signature")
        buffers = [*params, *grads, *moments, stats, counts, steps]
        scaling = [b for b, given in ((inv_scale, sig.inv_scale),
                                      (found_inf, sig.found_inf)) if given]
        # The kernel dereferences every pointer: a bad one would crash the
        # process, so anything but a positive integer address is refused.
        for buffer in buffers + scaling:
            if isinstance(buffer, bool) or not isinstance(buffer, int) or buffer <= 0:
                raise ValueError(f"buffers are given by their address (a positive "
                                 f"int), got {buffer!r}")
        args = [*buffers, float(lr), float(weight_decay), *scaling]
        if self._runtime is None:
            self._function(*args)
            return
        self._runtime.clear_error()
        self._runtime.set_stream(stream)
        try:
            self._function(*args)
        finally:
            self._runtime.set_stream(None)
        error = self._runtime.last_error()
        if error:
            raise RuntimeError(f"GPU step failed: {error}")


def address(array: np.ndarray) -> int:
    """The data address of a C-contiguous NumPy array."""
    if not isinstance(array, np.ndarray):
        raise ValueError(f"buffers must be NumPy arrays, got {type(array).__name__}")
    if not array.flags.c_contiguous:
        raise ValueError("buffers must be C-contiguous")
    return array.ctypes.data
