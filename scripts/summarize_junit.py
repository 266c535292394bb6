"""Prints one closing line, 'total: N passed, N failed, N skipped', over the
JUnit reports of every test runner, and fails when a report is missing or
empty (a runner that ran nothing is a failure, not a pass)."""

import sys
import xml.etree.ElementTree as ET


def main(paths):
    passed = failed = skipped = 0
    for path in paths:
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as error:
            print(f"error: cannot read test report {path}: {error}")
            return 1
        cases = root.iter("testcase")
        count = 0
        for case in cases:
            count += 1
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
        if count == 0:
            print(f"error: {path} holds no test")
            return 1
    print(f"total: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
