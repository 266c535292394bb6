"""scripts/summarize_junit.py, the closing line of scripts/check.sh: every
runner's results are added up, and a missing or empty report, a step that
failed without one (a failed build) or a runner that failed outside its tests
counts as a failure."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "summarize_junit.py"


def report(path, passed=0, failed=0, skipped=0, errors=0):
    cases = (["<testcase name='p'/>"] * passed
             + ["<testcase name='f'><failure/></testcase>"] * failed
             + ["<testcase name='e'><error/></testcase>"] * errors
             + ["<testcase name='s'><skipped/></testcase>"] * skipped)
    path.write_text(f"<testsuites><testsuite>{''.join(cases)}</testsuite></testsuites>")
    return str(path)


def summarize(*args):
    run = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                         text=True)
    return run.returncode, run.stdout.strip().splitlines()


def test_reports_add_up(tmp_path):
    a = report(tmp_path / "a.xml", passed=3, skipped=1)
    b = report(tmp_path / "b.xml", passed=2)
    assert summarize(a, b) == (0, ["total: 5 passed, 0 failed, 1 skipped"])


def test_failures_and_errors_fail(tmp_path):
    a = report(tmp_path / "a.xml", passed=1, failed=1, errors=1)
    status, lines = summarize(a + "=1")
    assert status == 1 and lines[-1] == "total: 1 passed, 2 failed, 0 skipped"


def test_a_missing_report_counts_as_a_failure(tmp_path):
    a = report(tmp_path / "a.xml", passed=4)
    status, lines = summarize(a, str(tmp_path / "lit-sanitized.xml") + "=1")
    assert status == 1
    assert "lit-sanitized.xml" in lines[0]
    assert lines[-1] == "total: 4 passed, 1 failed, 0 skipped"


def test_an_empty_or_broken_report_counts_as_a_failure(tmp_path):
    empty = report(tmp_path / "empty.xml")
    broken = tmp_path / "broken.xml"
    broken.write_text("<testsuites><testsuite>")
    status, lines = summarize(empty, str(broken))
    assert status == 1 and lines[-1] == "total: 0 passed, 2 failed, 0 skipped"


def test_a_failed_build_counts_as_a_failure():
    status, lines = summarize("--failed", "scripts/setup.sh (packages, .venv or build)")
    assert status == 1
    assert lines == ["error: scripts/setup.sh (packages, .venv or build) failed",
                     "total: 0 passed, 1 failed, 0 skipped"]


def test_a_runner_failing_outside_its_tests_counts(tmp_path):
    a = report(tmp_path / "a.xml", passed=2)
    status, lines = summarize(a + "=2")
    assert status == 1 and lines[-1] == "total: 2 passed, 1 failed, 0 skipped"
    assert summarize(a + "=0")[0] == 0


def test_nothing_to_summarize_is_a_failure():
    status, lines = summarize()
    assert status == 1 and lines[-1] == "total: 0 passed, 1 failed, 0 skipped"
