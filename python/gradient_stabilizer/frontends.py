"""Optimizer update steps from PyTorch and JAX as the linalg-on-tensors IR that
``gs-opt`` reads (docs/linking.md, "Front ends").

* PyTorch: :func:`export_torch` runs torch-mlir's FX importer
  (``torch_mlir.fx.export_and_import``, output ``linalg-on-tensors``). Its
  output is upstream MLIR (func, linalg, tensor, arith, math, cf) and needs
  no adapter.
* JAX: :func:`export_jax` lowers a function to StableHLO
  (``jax.jit(f).lower(...)``) and :func:`stablehlo_to_linalg` converts that
  with IREE's input conversion (``iree-compile --iree-input-type=stablehlo
  --compile-to=input``). IREE wraps the result in its own ``util`` dialect
  (``util.func`` / ``util.return`` / ``util.call``, its ABI-carrying
  function ops), which MLIR 22 without IREE cannot parse: the adapter
  renames those three ops to their ``func`` equivalents, which have the same
  syntax, and refuses any other op of a dialect gs-opt does not know.

Run as a tool, ``python -m gradient_stabilizer.frontends stablehlo-to-linalg
IN [-o OUT]`` applies the JAX half to a StableHLO file (``-`` is stdin).

torch-mlir, jax and iree-base-compiler are optional dependencies
(python/requirements-frontends.txt); they are imported on first use.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Dialects whose ops gs-opt parses (lib/Registration/InitGS.cpp registers
# them); everything a front end hands over must be one of these.
UPSTREAM_DIALECTS = frozenset({
    "affine", "arith", "bufferization", "builtin", "cf", "func", "index",
    "linalg", "math", "memref", "scf", "tensor", "vector"})

# IREE's function ops and their upstream twins (same assembly format).
_IREE_FUNCTION_OPS = {"util.func": "func.func", "util.return": "func.return",
                      "util.call": "func.call"}

# An op name at the start of a statement: `%a, %b = dialect.op` or `dialect.op`.
_OP = re.compile(r"^\s*(?:%[^=]*=\s*)?([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_.]*)",
                 re.MULTILINE)


class FrontendError(RuntimeError):
    """A front end is missing or produced IR gs-opt cannot take."""


def check_upstream(text: str, origin: str) -> str:
    """Returns `text` if every op in it belongs to a dialect gs-opt knows;
    otherwise raises FrontendError naming the first foreign op."""
    for match in _OP.finditer(text):
        dialect = match.group(1)
        if dialect not in UPSTREAM_DIALECTS:
            line = text.count("\n", 0, match.start()) + 1
            raise FrontendError(
                f"{origin}: line {line}: op '{dialect}.{match.group(2)}' is not in "
                f"an upstream dialect gs-opt parses ({', '.join(sorted(UPSTREAM_DIALECTS))})")
    return text


def iree_to_upstream(text: str) -> str:
    """The adapter for IREE's input-conversion output: `util.func`,
    `util.return` and `util.call` become `func.func`, `func.return` and
    `func.call`; a `util.func`'s `public` keyword (func's default) is
    dropped. Any other IREE op is an error."""
    def rename(match: re.Match) -> str:
        return match.group(1) + _IREE_FUNCTION_OPS[match.group(2)]

    text = re.sub(r"^(\s*(?:%[^=\n]*=\s*)?)(util\.func|util\.return|util\.call)\b",
                  rename, text, flags=re.MULTILINE)
    text = re.sub(r"^(\s*func\.func) public ", r"\1 ", text, flags=re.MULTILINE)
    return check_upstream(text, "IREE input conversion output")


def _iree_compile() -> str:
    """iree-compile from iree-base-compiler: IREE_COMPILE, next to this
    Python (a virtual environment's bin/), or on PATH."""
    override = os.environ.get("IREE_COMPILE")
    if override:
        return override
    candidate = Path(sys.executable).parent / "iree-compile"
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("iree-compile")
    if found:
        return found
    raise FrontendError("cannot find iree-compile: pip install iree-base-compiler "
                        "(python/requirements-frontends.txt) or set IREE_COMPILE")


def stablehlo_to_linalg(stablehlo: str, func_name: str | None = None) -> str:
    """StableHLO text (as `jax.jit(f).lower(...).as_text()` prints it) to
    linalg on tensors in upstream dialects, through IREE's input conversion.
    With `func_name`, the public function is renamed to it."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "input.mlir"
        source.write_text(stablehlo)
        result = subprocess.run(
            [_iree_compile(), "--iree-input-type=stablehlo", "--compile-to=input",
             str(source)], capture_output=True, text=True)
    if result.returncode != 0:
        raise FrontendError(f"iree-compile --compile-to=input failed:\n{result.stderr}")
    text = iree_to_upstream(result.stdout)
    if func_name is not None:
        public = re.findall(r"^\s*func\.func @([\w$.-]+)", text, flags=re.MULTILINE)
        if len(public) != 1:
            raise FrontendError(f"expected one public function to rename to "
                                f"@{func_name}, found {public or 'none'}")
        text = re.sub(rf"@{re.escape(public[0])}\b", f"@{func_name}", text)
    return text


def export_jax(fn, *example_args, func_name: str = "step") -> str:
    """`fn` (a JAX function of arrays and pytrees of arrays) lowered for
    `example_args` to StableHLO, then to linalg by :func:`stablehlo_to_linalg`.
    Pytrees are flattened: the function's arguments and results are the
    leaves, in `jax.tree_util` order."""
    import jax

    return stablehlo_to_linalg(jax.jit(fn).lower(*example_args).as_text(), func_name)


def export_torch(module, *example_args, func_name: str = "step") -> str:
    """`module` (a torch.nn.Module whose forward takes and returns tensors)
    exported with torch.export and imported by torch-mlir's FX importer as
    linalg on tensors."""
    from torch_mlir import fx

    imported = fx.export_and_import(module, *example_args,
                                    output_type="linalg-on-tensors",
                                    func_name=func_name)
    return check_upstream(str(imported), "torch-mlir output")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gradient_stabilizer.frontends",
        description="Bring a front end's IR to the linalg-on-tensors gs-opt reads.")
    sub = parser.add_subparsers(dest="command", required=True)
    hlo = sub.add_parser("stablehlo-to-linalg",
                         help="StableHLO (e.g. from jax) through IREE's input "
                              "conversion, then the util-to-func adapter")
    hlo.add_argument("input", help="StableHLO file, '-' for stdin")
    hlo.add_argument("-o", "--output", default="-", help="output file ('-': stdout)")
    hlo.add_argument("--func-name", help="rename the public function to this")
    args = parser.parse_args(argv)
    try:
        text = sys.stdin.read() if args.input == "-" else Path(args.input).read_text()
        out = stablehlo_to_linalg(text, args.func_name)
    except (OSError, FrontendError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.output == "-":
        sys.stdout.write(out)
    else:
        Path(args.output).write_text(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
