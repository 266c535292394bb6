"""Every failure of the compiler, the C API binding and the package reaches
the caller as a Python exception with a message; none aborts the process."""

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch

from gradient_stabilizer import GSWrapper
from gradient_stabilizer import _compiler as C

SIG = C.StepSignature(shapes=((4,),), dtypes=("f32",), optimizer="#gs.sgd<>",
                      num_moments=0)


@pytest.fixture
def fresh_capi(monkeypatch):
    """Forgets the process-wide C API binding, so GS_CAPI_LIB is read again."""
    monkeypatch.setattr(C, "_capi_instance", None)


def test_missing_gs_opt_is_a_compiler_error(monkeypatch, tmp_path):
    monkeypatch.setenv("GS_COMPILER", "toolchain")
    monkeypatch.setenv("GS_OPT", str(tmp_path / "no-gs-opt"))
    with pytest.raises(C.CompilerError, match="GS_OPT=.*no-gs-opt does not exist"):
        C.CompiledStep(SIG)


def test_missing_capi_library_is_a_compiler_error(monkeypatch, tmp_path, fresh_capi):
    monkeypatch.setenv("GS_COMPILER", "jit")
    monkeypatch.setenv("GS_CAPI_LIB", str(tmp_path / "libGSCAPI.so"))
    with pytest.raises(C.CompilerError, match="GS_CAPI_LIB=.* does not exist"):
        C.CompiledStep(SIG)


def test_a_file_that_is_no_library_is_a_compiler_error(monkeypatch, tmp_path, fresh_capi):
    fake = tmp_path / "libGSCAPI.so"
    fake.write_text("not an ELF file")
    monkeypatch.setenv("GS_COMPILER", "jit")
    monkeypatch.setenv("GS_CAPI_LIB", str(fake))
    with pytest.raises(C.CompilerError, match="cannot load"):
        C.CompiledStep(SIG)


def test_bad_compiler_choice(monkeypatch):
    monkeypatch.setenv("GS_COMPILER", "gpu")
    with pytest.raises(C.CompilerError, match="GS_COMPILER must be"):
        C.CompiledStep(SIG)


@pytest.mark.parametrize("compiler", ["jit", "toolchain"])
def test_invalid_module_reports_the_verifier_message(monkeypatch, compiler):
    monkeypatch.setenv("GS_COMPILER", compiler)
    bad = C.StepSignature(shapes=((4,),), dtypes=("f32",),
                          optimizer="#gs.adam<beta1 = 1.5>", num_moments=2)
    with pytest.raises(C.CompilerError, match=r"adam 'beta1' must be in \[0, 1\)"):
        C.CompiledStep(bad)


def test_capi_errors_come_back_as_messages():
    capi = C.capi()
    with pytest.raises(C.CompilerError, match="(?s)cannot parse.*expected"):
        capi.jit("func.func @f( {", "gs-to-llvm")
    module = C.emit_step_module(SIG)
    with pytest.raises(C.CompilerError, match="gs-to-nowhere"):
        capi.jit(module, "gs-to-nowhere")
    with pytest.raises(C.CompilerError, match="vector-width"):
        capi.jit(module, "gs-to-llvm{vector-width=0}")
    # Not lowered to LLVM: the JIT refuses it with a message.
    with pytest.raises(C.CompilerError, match="cannot JIT-compile"):
        capi.jit(module, "canonicalize")


# Each snippet runs in its own interpreter: an abort would kill it, and the
# test would see the signal instead of the message.
ISOLATED = {
    "nested module pass": """
        capi.jit(module, "func.func(gs-to-llvm)")
    """,
    "nested module pass in builtin.module": """
        capi.jit(module, "builtin.module(func.func(convert-func-to-llvm))")
    """,
    "pass on an op it cannot run on": """
        capi.jit(module, "func.func(builtin.module(canonicalize))")
    """,
    "unbalanced pipeline": """
        capi.jit(module, "builtin.module(canonicalize")
    """,
    "huge vector width": """
        capi.jit(module, "gs-to-llvm{vector-width=4294967295}")
    """,
    # The parser recursed once per level and overflowed the stack (SIGSEGV).
    "deeply nested module": """
        capi.jit("module {" * 100000 + "}" * 100000, "canonicalize")
    """,
    "deeply nested pipeline": """
        capi.jit(module, "builtin.module(" * 100000 + ")" * 100000)
    """,
    # MLIR 22's linalg.reduce parser dereferenced a failed attribute (SIGSEGV,
    # found by gs-fuzz).
    "malformed linalg.reduce dimensions": """
        capi.jit("func.func @f(%x: tensor<2xf32>, %s: tensor<f32>) {\\n"
                 "  %r = linalg.reduce ins(%x : tensor<2xf32>) "
                 "outs(%s : tensor<f32>) dimensions = x0]\\n  return\\n}", "canonicalize")
    """,
}


@pytest.mark.parametrize("name", sorted(ISOLATED))
def test_bad_pipelines_never_abort(name):
    code = textwrap.dedent("""
        import sys
        from gradient_stabilizer import _compiler as C
        capi = C.capi()
        module = C.emit_step_module(C.StepSignature(
            shapes=((4,),), dtypes=("f32",), optimizer="#gs.sgd<>", num_moments=0))
        try:
    """) + textwrap.indent(textwrap.dedent(ISOLATED[name]), "    ") + textwrap.dedent("""
        except C.CompilerError as error:
            print("error:", error)
            sys.exit(0)
        print("no error")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=C.Path(__file__).resolve().parents[1], timeout=300)
    assert proc.returncode == 0, f"{name}: exit {proc.returncode}\n{proc.stderr}"
    assert proc.stdout.startswith("error: "), proc.stdout


def run_isolated(code: str) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh interpreter with the package importable."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=300,
                          cwd=C.Path(__file__).resolve().parents[1])


def test_capi_reasons_reach_the_message_not_stderr():
    proc = run_isolated(r"""
        from gradient_stabilizer import _compiler as C
        capi = C.capi()
        module = C.emit_step_module(C.StepSignature(
            shapes=((4,),), dtypes=("f32",), optimizer="#gs.sgd<>", num_moments=0))
        for pipeline in ["gs-to-llvm{vector-width=abc}", "gs-to-llvm{bare-ptr-abi=maybe}"]:
            try:
                capi.jit(module, pipeline)
            except C.CompilerError as error:
                print(error)
        # A declared function nothing defines: refused by name, not linked to 0.
        try:
            capi.jit("llvm.func @gs_nowhere()\n"
                     "llvm.func @f() {\n  llvm.call @gs_nowhere() : () -> ()\n"
                     "  llvm.return\n}\n", "canonicalize")
        except C.CompilerError as error:
            print(error)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "'abc' value invalid for uint argument" in proc.stdout
    assert "'maybe' is invalid value for boolean argument" in proc.stdout
    assert "unresolved symbols" in proc.stdout and "gs_nowhere" in proc.stdout


def test_deep_nesting_is_refused_with_a_message():
    with pytest.raises(C.CompilerError, match="nested deeper than 4096 levels"):
        C.capi().jit("module {" * 5000 + "}" * 5000, "canonicalize")


def test_deep_nesting_under_the_limit_runs_on_a_small_python_stack():
    """The C API parses and transforms on a stack of its own: 4000 levels
    need more than 8 MiB, this thread has 256 KiB."""
    import threading
    capi = C.capi()
    text = ("module {" * 4000 + "}" * 4000).encode()
    results = []

    def parse():
        handle = capi.lib.gsModuleParse(capi.context, text, len(text))
        results.append(bool(handle))
        if handle:
            results.append(capi.lib.gsModuleRunPipeline(handle, b"canonicalize") == 0)
            capi.lib.gsModuleDestroy(handle)

    old = threading.stack_size(256 << 10)
    try:
        thread = threading.Thread(target=parse)
        thread.start()
        thread.join()
    finally:
        threading.stack_size(old)
    assert results == [True, True]


def test_wrong_buffers_raise_instead_of_crashing():
    step = C.CompiledStep(SIG)
    p, g = np.zeros(4, np.float32), np.ones(4, np.float32)
    stats, counts, steps = np.zeros((1, 2)), np.zeros((1, 2), np.int64), np.zeros(1, np.int64)
    good = dict(params=[C.address(p)], grads=[C.address(g)], moments=[],
                stats=C.address(stats), counts=C.address(counts), steps=C.address(steps),
                lr=0.1, weight_decay=0.0)
    with pytest.raises(ValueError, match="expected 1 params"):
        step(**{**good, "grads": [C.address(g), C.address(g)]})
    with pytest.raises(ValueError, match="inv_scale"):
        step(**good, inv_scale=C.address(g))
    for name, bad in [("params", [0]), ("grads", [None]), ("stats", 0),
                      ("steps", "0x1234"), ("params", [1.5])]:
        with pytest.raises(ValueError, match="address"):
            step(**{**good, name: bad})
    with pytest.raises(ValueError, match="C-contiguous"):
        C.address(np.zeros((4, 4))[:, 0])
    step(**good)
    assert counts[0, 0] == 1 and np.isfinite(p).all()


def model():
    return torch.nn.Linear(3, 2)


def test_compiled_backend_names_unsupported_tensors():
    net = model().double()
    with pytest.raises(ValueError, match="float64"):
        GSWrapper(torch.optim.SGD(net.parameters(), lr=0.1), backend="compiled")

    net = model()
    opt = GSWrapper(torch.optim.Adam(net.parameters()), backend="compiled")
    net(torch.randn(4, 3)).sum().backward()
    weight = net.weight
    opt.state[weight]["exp_avg"] = torch.zeros(2, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="exp_avg"):
        opt.step()


def test_compiled_backend_without_compiler(monkeypatch, tmp_path):
    """CPU steps need the prebuilt kernels' library only; without it the
    compiled backend is unavailable."""
    from gradient_stabilizer import _cpu_kernels as K
    monkeypatch.setattr(K, "_loaded", None)
    monkeypatch.setenv("GS_CPU_KERNELS_LIB", str(tmp_path / "libgs_cpu_kernels.so"))
    net = model()
    opt = GSWrapper(torch.optim.SGD(net.parameters(), lr=0.1), backend="compiled")
    net(torch.randn(4, 3)).sum().backward()
    before = net.weight.detach().clone()
    with pytest.raises(C.CompilerError, match="cannot load .*libgs_cpu_kernels.so"):
        opt.step()
    assert torch.equal(before, net.weight)
    # "auto" falls back to the eager backend, once, with a warning.
    opt = GSWrapper(torch.optim.SGD(net.parameters(), lr=0.1), backend="auto")
    before = net.weight.detach().clone()
    with pytest.warns(UserWarning, match="compiler is unavailable"):
        opt.step()
    assert not torch.equal(before, net.weight)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()


def test_too_many_tensors_for_one_call_is_a_compiler_error():
    sig = C.StepSignature(shapes=((2,),) * 300, dtypes=("f32",) * 300,
                          optimizer="#gs.adam<>", num_moments=2)
    with pytest.raises(C.CompilerError, match="at most 1024"):
        C.CompiledStep(sig)


def test_large_groups_run_as_several_kernels():
    params = [torch.nn.Parameter(torch.randn(3)) for _ in range(300)]
    opt = GSWrapper(torch.optim.SGD(params, lr=0.1), backend="compiled")
    for p in params:
        p.grad = torch.randn(3)
    opt.step()
    assert all(opt.scaler.state[p]["k"] == 1 for p in params)


def test_toolchain_cache_is_keyed_by_cpu(monkeypatch, tmp_path):
    """The toolchain compiles with -march=native: a cache shared between
    machines must not hand one CPU another's code."""
    monkeypatch.setenv("GS_CACHE_DIR", str(tmp_path))
    module = C.emit_step_module(SIG)
    monkeypatch.setattr(C, "_cpu_features", lambda: "cpu A|avx2")
    first = C.compile_module(module)
    assert C.compile_module(module) == first  # a cache hit
    monkeypatch.setattr(C, "_cpu_features", lambda: "cpu B|avx512f")
    assert C.compile_module(module) != first


@pytest.mark.parametrize("backend", ["auto", "eager"])
def test_complex_parameters_raise_a_type_error_naming_the_parameter(backend):
    """They failed deep in torch (linalg.vector_norm: dtype should be
    complex), naming neither the cause nor the parameter."""
    real = torch.nn.Parameter(torch.randn(3))
    complex_ = torch.nn.Parameter(torch.randn(4, 2, dtype=torch.complex64))
    opt = GSWrapper(torch.optim.SGD([real, complex_], lr=0.1), backend=backend)
    real.grad, complex_.grad = torch.randn(3), torch.randn(4, 2, dtype=torch.complex64)
    before = real.detach().clone(), real.grad.clone()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "auto" notes the eager fallback
        with pytest.raises(TypeError, match=r"real floating-point parameters; parameter 1 "
                                            r"\(shape \(4, 2\)\) is torch.complex64"):
            opt.step()
    # Checked before anything ran.
    assert torch.equal(real, before[0]) and torch.equal(real.grad, before[1])

