"""Writes the device code of one `gpu.binary` of an MLIR file (the output of
gs-opt --gs-to-nvvm) to a file: the PTX text of `format=isa`, or the binary
of `format=bin` / `fatbin`. The build ships the kernel library this way,
without a host module around it.

    python3 extract_gpu_binary.py IN.mlir SYMBOL OUT
"""

from __future__ import annotations

import re
import sys


def decode_mlir_string(text: str) -> bytes:
    """The bytes of an MLIR string literal's body: `\\XX` is a hex byte,
    `\\\\`, `\\"`, `\\n` and `\\t` are what they say."""
    out = bytearray()
    i = 0
    simple = {"\\": b"\\", '"': b'"', "n": b"\n", "t": b"\t"}
    while i < len(text):
        c = text[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        nxt = text[i + 1]
        if nxt in simple:
            out += simple[nxt]
            i += 2
        else:
            out.append(int(text[i + 1:i + 3], 16))
            i += 3
    return bytes(out)


def extract(mlir: str, symbol: str) -> bytes:
    start = mlir.find(f"gpu.binary @{symbol} ")
    if start < 0:
        raise SystemExit(f"no gpu.binary @{symbol} in the input")
    # The object's payload is the first string literal after `assembly =`
    # (isa) or the last one of the #gpu.object (bin, fatbin).
    rest = mlir[start:]
    literal = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
    marker = rest.find("assembly = ")
    if marker >= 0:
        match = literal.search(rest, marker)
    else:
        end = rest.find(">]")
        match = None
        for match in literal.finditer(rest, 0, end):
            pass
    if match is None:
        raise SystemExit(f"gpu.binary @{symbol} holds no object")
    return decode_mlir_string(match.group(1))


def main() -> int:
    source, symbol, output = sys.argv[1:]
    with open(source, encoding="utf-8") as f:
        payload = extract(f.read(), symbol)
    with open(output, "wb") as f:
        f.write(payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
