"""Prints the PTX embedded in the gpu.binary ops of an MLIR file (stdin)."""
import re
import sys

text = sys.stdin.read()
found = False
for match in re.finditer(r'assembly = "((?:[^"\\]|\\.)*)"', text):
    found = True
    sys.stdout.write(
        re.sub(r"\\([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)),
               match.group(1)))
if not found:
    sys.exit("no PTX (gpu.binary with an assembly) in the input")
