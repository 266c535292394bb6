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


def _split_top_level(text: str) -> list:
    """`text` split at the commas outside <>, (), [], {} and strings."""
    parts, depth, start, quoted = [], 0, 0, False
    for i, ch in enumerate(text):
        if ch == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif quoted:
            continue
        elif ch in "<([{":
            depth += 1
        elif ch in ">)]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def name_arguments(text: str, func: str, names) -> str:
    """Gives the arguments of `func` the names in `names` (None: leave one
    unnamed) as `gs.name` string attributes, the names gs-opt's
    `grad-names` option matches. Front ends do not keep argument names:
    torch-mlir numbers them, IREE's input conversion drops their
    locations."""
    header = re.search(rf"^(\s*func\.func (?:public |private )?@{re.escape(func)}\()",
                       text, flags=re.MULTILINE)
    if not header:
        raise FrontendError(f"no function @{func} to name the arguments of")
    start = header.end()
    depth, end = 1, start
    while depth:
        if end >= len(text):
            raise FrontendError(f"unterminated argument list of @{func}")
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        end += 1
    args = _split_top_level(text[start:end - 1])
    names = list(names)
    if len(names) != len(args):
        raise FrontendError(f"@{func} has {len(args)} arguments, got {len(names)} names")
    named = []
    for arg, name in zip(args, names):
        if name is not None:
            if not re.fullmatch(r"[A-Za-z_][\w.]*", name):
                raise FrontendError(f"argument name {name!r}: use letters, digits, "
                                    f"'_' and '.' (gs-opt's grad-names is a "
                                    f"comma-separated list)")
            attr = f'gs.name = "{name}"'
            if "{" in arg:
                arg = arg.replace("{", "{" + attr + ", ", 1)
            else:
                type_end = arg.find(" loc(")
                type_end = len(arg.rstrip()) if type_end < 0 else type_end
                arg = arg[:type_end] + " {" + attr + "}" + arg[type_end:]
        named.append(arg)
    return text[:start] + ",".join(named) + text[end - 1:]


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


def _path_name(prefix: str, path) -> str:
    """`prefix.k1.k2...` for a jax.tree_util key path."""
    parts = [prefix]
    for key in path:
        for attr in ("key", "idx", "name"):
            if hasattr(key, attr):
                parts.append(str(getattr(key, attr)))
                break
        else:
            parts.append(str(key))
    return ".".join(parts)


def export_jax(fn, *example_args, func_name: str = "step") -> str:
    """`fn` (a JAX function of arrays and pytrees of arrays) lowered for
    `example_args` to StableHLO, then to linalg by :func:`stablehlo_to_linalg`.
    Pytrees are flattened: the function's arguments and results are the
    leaves, in `jax.tree_util` order. Each argument is named (`gs.name`)
    after `fn`'s parameter and its path in the pytree: `grads.0`,
    `params.w`, `state.0.mu.1`."""
    import inspect

    import jax

    lowered = jax.jit(fn, keep_unused=True).lower(*example_args)
    text = stablehlo_to_linalg(lowered.as_text(), func_name)
    params = list(inspect.signature(fn).parameters)
    names = []
    for i, arg in enumerate(example_args):
        prefix = params[i] if i < len(params) else f"arg{i}"
        names += [_path_name(prefix, path) for path, _ in
                  jax.tree_util.tree_flatten_with_path(arg)[0]]
    return name_arguments(text, func_name, names)


def export_torch(module, *example_args, func_name: str = "step",
                 arg_names=None) -> str:
    """`module` (a torch.nn.Module whose forward takes and returns tensors)
    exported with torch.export and imported by torch-mlir's FX importer as
    linalg on tensors; `arg_names` (one per tensor argument) become
    `gs.name` attributes."""
    from torch_mlir import fx

    imported = fx.export_and_import(module, *example_args,
                                    output_type="linalg-on-tensors",
                                    func_name=func_name)
    text = check_upstream(str(imported), "torch-mlir output")
    return text if arg_names is None else name_arguments(text, func_name, arg_names)


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
