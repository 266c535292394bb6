"""Where the package finds its binaries: gs-opt (bin/) and the shared
libraries (lib/) that the CMake build makes.

In order:

1. the file's own environment variable (GS_OPT, GS_CPU_KERNELS_LIB, ...);
2. a development build tree: the one GS_BUILD_DIR names, else ``build/`` at
   the root of the checkout this package's sources sit in (none for an
   installed package);
3. the installed package: the wheel puts them in ``gradient_stabilizer/bin``
   and ``gradient_stabilizer/lib``.

The build writes nothing into the source tree; python/tests/conftest.py and
test/lit.cfg.py set GS_BUILD_DIR to the build under test.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Optional

PACKAGE_DIR = Path(__file__).resolve().parent


def build_dir() -> Optional[Path]:
    """The development build tree: GS_BUILD_DIR, or the checkout's build/
    when this package is the checkout's python/gradient_stabilizer."""
    override = os.environ.get("GS_BUILD_DIR")
    if override:
        return Path(override)
    root = PACKAGE_DIR.parents[1]
    if PACKAGE_DIR.parent.name == "python" and (root / "CMakeLists.txt").is_file():
        return root / "build"
    return None


def candidates(folder: str, name: str) -> list:
    """The places (2) and (3) above, in order, whether they exist or not."""
    build = build_dir()
    found = [] if build is None else [build / folder / name]
    return found + [PACKAGE_DIR / folder / name]


def find(folder: str, name: str, env: str) -> Optional[Path]:
    """`name` in `folder` ("bin" or "lib"): the value of `env` when it is set
    (whether or not it exists: the caller names it in its error), else the
    first existing candidate, else None."""
    override = os.environ.get(env)
    if override:
        return Path(override)
    for candidate in candidates(folder, name):
        if candidate.is_file():
            return candidate
    return None


def not_found(folder: str, name: str, env: str) -> str:
    """The message for a file `find` did not find."""
    where = ", ".join(str(p) for p in candidates(folder, name))
    return (f"{name} not found (looked in {where}): install the package's wheel, "
            f"build the project (scripts/setup.sh; GS_BUILD_DIR names a build "
            f"tree other than build/) or set {env}")


def require(folder: str, name: str, env: str, error: type) -> Path:
    """`find`, raising `error` with `not_found`'s message instead of None."""
    path = find(folder, name, env)
    if path is None:
        raise error(not_found(folder, name, env))
    return path


def load_library(path: Path, signatures: dict, error: type, global_symbols: bool = False):
    """Loads the shared library at `path` with ctypes and declares its
    functions: `signatures` maps a name to (argtypes or None, restype).
    A library that does not load, or lacks one of the functions (a variable
    naming the wrong library), raises `error` naming the path.
    `global_symbols`: its symbols resolve the symbols of code loaded later
    (RTLD_GLOBAL; JIT-compiled steps call the GPU runtimes)."""
    try:
        lib = ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL if global_symbols
                          else ctypes.DEFAULT_MODE)
    except OSError as cause:
        raise error(f"cannot load {path}: {cause}") from cause
    for name, (argtypes, restype) in signatures.items():
        try:
            function = getattr(lib, name)
        except AttributeError:
            raise error(f"cannot use {path}: it has no function {name} "
                        f"(is it the library it should be?)") from None
        if argtypes is not None:
            function.argtypes = argtypes
        function.restype = restype
    return lib
