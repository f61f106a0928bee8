#!/usr/bin/env python3
"""Sum the results of meson test logs into one line: "N passed, N failed".

Each meson test is a whole test program; where its output shows how many
cases it ran (Check's "Checks: N, Failures: F, Errors: E", unittest's "Ran N
tests"), those cases are counted instead of the program.
"""
import json
import re
import sys

CHECK = re.compile(r"Checks: (\d+), Failures: (\d+), Errors: (\d+)")
UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in", re.M)
UNITTEST_FAILED = re.compile(r"^FAILED \((.*)\)", re.M)


def count_output(out, result):
    checks = CHECK.findall(out)
    if checks:
        passed = failed = 0
        for n, f, e in checks:
            bad = int(f) + int(e)
            passed += int(n) - bad
            failed += bad
        if result not in ("OK", "SKIP") and failed == 0:
            failed = 1  # crashed or leaked after its checks
        return passed, failed
    ran = UNITTEST_RAN.findall(out)
    if ran:
        total = sum(int(n) for n in ran)
        failed = 0
        for m in UNITTEST_FAILED.findall(out):
            for part in m.split(","):
                k, _, v = part.strip().partition("=")
                if k in ("failures", "errors"):
                    failed += int(v)
        if result not in ("OK", "SKIP") and failed == 0:
            failed = 1
        return total - failed, failed
    if result == "SKIP":
        return 0, 0
    return (1, 0) if result == "OK" else (0, 1)


def main(paths):
    passed = failed = 0
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.readlines()
        except OSError as e:
            print(f"missing test log {path}: {e}")
            failed += 1
            continue
        for line in lines:
            t = json.loads(line)
            out = (t.get("stdout") or "") + (t.get("stderr") or "")
            p, q = count_output(out, t.get("result", "FAIL"))
            passed += p
            failed += q
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
