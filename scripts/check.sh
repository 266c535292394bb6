#!/usr/bin/env bash
# Runs the whole test suite: sets up and builds (as scripts/setup.sh), then the
# lit suite (FileCheck, diagnostics, execution tests), the Python tests, and
# the lit suite again on an ASan + UBSan build (scripts/check-sanitized.sh;
# GS_SKIP_SANITIZED=1 leaves it out). Exits non-zero when any test fails.
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${GS_BUILD_DIR:-$root/build}
"$root/scripts/setup.sh" || exit 1

reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
status=0

echo "== lit"
/usr/lib/llvm-22/bin/lit -sv --xunit-xml-output "$reports/lit.xml" \
  "$build/test" || status=1

echo "== pytest"
(cd "$root/python" && /usr/bin/python3 -m pytest -q -p no:cacheprovider \
  --junitxml "$reports/pytest.xml" tests) || status=1

if [ "${GS_SKIP_SANITIZED:-0}" != 1 ]; then
  echo "== sanitizers"
  GS_LIT_XUNIT="$reports/lit-sanitized.xml" "$root/scripts/check-sanitized.sh" ||
    status=1
fi

/usr/bin/python3 "$root/scripts/summarize_junit.py" "$reports"/*.xml ||
  status=1
exit $status
