"""Where the package finds its binaries (gradient_stabilizer/_paths.py): a
file's own variable, then the build tree (GS_BUILD_DIR, else the checkout's
build/), then the installed package; a missing file is named with every place
looked at."""

import pytest

from gradient_stabilizer import _compiler as C
from gradient_stabilizer import _cpu_kernels as K
from gradient_stabilizer import _paths


def test_the_build_tree_named_by_gs_build_dir(monkeypatch, tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libgs_cpu_kernels.so").write_bytes(b"")
    monkeypatch.delenv("GS_CPU_KERNELS_LIB", raising=False)
    monkeypatch.setenv("GS_BUILD_DIR", str(tmp_path))
    assert K.library_path() == tmp_path / "lib" / "libgs_cpu_kernels.so"
    # The file's own variable wins.
    monkeypatch.setenv("GS_CPU_KERNELS_LIB", str(tmp_path / "other.so"))
    assert K.library_path() == tmp_path / "other.so"


def test_a_missing_file_names_the_places_looked_at(monkeypatch, tmp_path):
    monkeypatch.delenv("GS_OPT", raising=False)
    monkeypatch.setenv("GS_BUILD_DIR", str(tmp_path))
    with pytest.raises(C.CompilerError) as error:
        C.gs_opt()
    message = str(error.value)
    assert str(tmp_path / "bin" / "gs-opt") in message
    assert str(_paths.PACKAGE_DIR / "bin" / "gs-opt") in message
    assert "GS_OPT" in message
    monkeypatch.delenv("GS_CPU_KERNELS_LIB", raising=False)
    with pytest.raises(K.KernelError, match="libgs_cpu_kernels.so not found"):
        K.library_path()


def test_a_checkout_finds_its_build_tree(monkeypatch):
    monkeypatch.delenv("GS_BUILD_DIR", raising=False)
    root = _paths.PACKAGE_DIR.parents[1]
    assert _paths.build_dir() == root / "build"
    assert _paths.candidates("lib", "x.so") == [root / "build" / "lib" / "x.so",
                                                _paths.PACKAGE_DIR / "lib" / "x.so"]


def test_a_variable_naming_the_wrong_library_is_an_error(monkeypatch):
    """A library that loads but is not the kernels: an error naming the path
    and the missing function, not an AttributeError from ctypes."""
    import ctypes.util

    libm = ctypes.util.find_library("m")
    monkeypatch.setenv("GS_CPU_KERNELS_LIB", libm)
    with pytest.raises(K.KernelError, match=f"cannot use {libm}: it has no function gsCpuRunStep"):
        K.CpuKernels()
    monkeypatch.setenv("GS_CPU_KERNELS_LIB", "/nonexistent/libgs_cpu_kernels.so")
    with pytest.raises(K.KernelError, match="cannot load /nonexistent/libgs_cpu_kernels.so"):
        K.CpuKernels()
