"""Prints one closing line, 'total: N passed, N failed, N skipped', over the
JUnit reports of every test runner.

Each report that is missing, unreadable or empty counts as one failed test (a
runner that crashed or ran nothing has not passed), and so does each step
named with --failed (a failed build, for example), so the closing line never
reads "0 failed" when something did not run. A report may carry its runner's
exit status as REPORT=STATUS: a runner that failed although its report holds
no failure (an error outside any test) counts as one more failure. Exits 1
when anything failed.

    summarize_junit.py [--failed STEP]... REPORT[=STATUS]...
"""

import argparse
import sys
import xml.etree.ElementTree as ET


def count(path):
    """(passed, failed, skipped) of one report; None with a message when
    the report cannot count."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as error:
        return None, f"cannot read test report {path}: {error}"
    passed = failed = skipped = 0
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    if passed + failed + skipped == 0:
        return None, f"{path} holds no test"
    return (passed, failed, skipped), None


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--failed", action="append", default=[], metavar="STEP",
                        help="a step that failed without a report (counts as a failure)")
    parser.add_argument("reports", nargs="*")
    args = parser.parse_args(argv)
    passed = failed = skipped = 0
    for step in args.failed:
        print(f"error: {step} failed")
        failed += 1
    for report in args.reports:
        path, _, status = report.rpartition("=")
        if not status.isdigit():
            path, status = report, ""
        counts, error = count(path)
        if counts is None:
            print(f"error: {error}")
            failed += 1
            continue
        if status not in ("", "0") and counts[1] == 0:
            print(f"error: the runner of {path} exited with status {status}, "
                  "but its report holds no failure")
            failed += 1
        passed, failed, skipped = (a + b for a, b in zip((passed, failed, skipped), counts))
    if not args.failed and not args.reports:
        print("error: no test report given")
        failed += 1
    print(f"total: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
