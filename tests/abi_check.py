#!/usr/bin/env python3
"""Compare the built library's ABI with the committed baseline (libabigail).

usage: abi_check.py BASELINE.abi LIBRARY HEADERS-DIR

Runs `abidiff` (Debian abigail-tools) between abi/libonhandpub.so.1.abi and
the library just built (with debug information), considering only the types
of the public header.  Fails on an incompatible change: abidiff's own
verdict (a removed symbol), or in its report a struct member removed,
retyped or moved ("offset changed"), an enumerator removed or changed, a
changed function signature.  Added functions and members appended at the
end of a struct are compatible (docs/api-stability.md) and are only listed.
Exit 77 (skipped) when abidiff is not installed.
"""
import os
import re
import shutil
import subprocess
import sys

# abidiff exit status bits
ERROR, USAGE, CHANGE, INCOMPATIBLE = 1, 2, 4, 8

# Report lines that describe an incompatible change even when abidiff only
# says "changed".
BAD = [
    (re.compile(r"offset changed from"), "a struct member moved"),
    (re.compile(r"data member deletion|data members? deleted|was removed"), "a member removed"),
    (re.compile(r"type of '.*' changed"), "a member or parameter retyped"),
    (re.compile(r"enumerator deletion|enumerators? deleted"), "an enumerator removed"),
    (re.compile(r"enumerator '.*' value changed"), "an enumerator renumbered"),
    (re.compile(r"parameter \d+ of type .* changed to|parameter \d+ of type '.*' was"),
     "a parameter changed"),
    (re.compile(r"return type changed:\s*\n\s*type name changed"), "a return type changed"),
    (re.compile(r"parameters? deletion|parameters? insertion"), "the parameter list changed"),
    (re.compile(r"type name changed from"), "a type changed"),
    (re.compile(r"[1-9]\d* Removed"), "a symbol removed"),
]


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    baseline, lib, headers = sys.argv[1:]
    abidiff = shutil.which("abidiff")
    if abidiff is None:
        print("SKIP: abidiff not installed (Debian package abigail-tools)")
        return 77
    if not os.path.exists(baseline):
        print(f"FAIL: no baseline {baseline}")
        return 1
    cmd = [abidiff, "--headers-dir1", headers, "--headers-dir2", headers, baseline, lib]
    r = subprocess.run(cmd, capture_output=True, text=True)
    report = r.stdout + r.stderr
    print(report.rstrip() or "(no report)")
    if r.returncode & (ERROR | USAGE):
        print(f"FAIL: abidiff could not compare (exit {r.returncode})")
        return 1
    problems = []
    if r.returncode & INCOMPATIBLE:
        problems.append("abidiff reports an incompatible change")
    for rx, what in BAD:
        if rx.search(report):
            problems.append(what)
    if problems:
        print("FAIL: incompatible ABI change: " + "; ".join(sorted(set(problems))))
        print("(docs/api-stability.md: append only, new symbols in new version nodes)")
        return 1
    if r.returncode & CHANGE:
        print("ok: compatible additions only")
    else:
        print("ok: the ABI is the baseline's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
