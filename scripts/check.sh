#!/usr/bin/env bash
# Runs the whole test suite: sets up and builds (scripts/setup.sh), then the
# lit suite (FileCheck, diagnostics, execution tests in the .venv's Python),
# pytest in the .venv (torch 2.x), the compatibility-floor smoke test with
# Debian's Python and torch 1.13, and the lit suite and the native-library
# pytest files again on an ASan + UBSan build (scripts/check-sanitized.sh;
# GS_SKIP_SANITIZED=1 leaves them out).
# Closes with "total: N passed, N failed, N skipped" over every runner; a
# failed setup or build, or a runner that left no report, counts as a failure.
# Exits non-zero when anything failed.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${GS_BUILD_DIR:-$root/build}
python=$root/.venv/bin/python
summarize=("/usr/bin/python3" "$root/scripts/summarize_junit.py")

if ! "$root/scripts/setup.sh"; then
  "${summarize[@]}" --failed "scripts/setup.sh (packages, .venv or build)"
  exit 1
fi

reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
results=()  # REPORT=EXIT_STATUS of each runner, for summarize_junit.py

echo "== lit"
/usr/lib/llvm-22/bin/lit -sv --xunit-xml-output "$reports/lit.xml" "$build/test"
results+=("$reports/lit.xml=$?")

echo "== pytest ($("$python" -c 'import torch; print("torch", torch.__version__)'))"
(cd "$root/python" && "$python" -m pytest -q -p no:cacheprovider \
  --junitxml "$reports/pytest.xml" tests)
results+=("$reports/pytest.xml=$?")

echo "== compatibility floor: Debian's Python and torch"
(cd "$root/python" && GS_FLOOR_TORCH=1.13 /usr/bin/python3 -m pytest -q \
  -p no:cacheprovider --junitxml "$reports/floor.xml" tests/test_floor.py)
results+=("$reports/floor.xml=$?")

if [ "${GS_SKIP_SANITIZED:-0}" != 1 ]; then
  echo "== sanitizers"
  GS_LIT_XUNIT="$reports/lit-sanitized.xml" "$root/scripts/check-sanitized.sh" lit
  results+=("$reports/lit-sanitized.xml=$?")
  GS_PYTEST_XUNIT="$reports/pytest-sanitized.xml" "$root/scripts/check-sanitized.sh" pytest
  results+=("$reports/pytest-sanitized.xml=$?")
fi

# A runner that died before writing its report, or whose build failed,
# counts as failed.
"${summarize[@]}" "${results[@]}"
