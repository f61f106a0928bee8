#!/usr/bin/env python3
"""The public header compiles on its own as strict C99 and C11 (and C++11
when a C++ compiler is available), also when included twice."""
import os
import shutil
import subprocess
import sys
import tempfile

ONLY = "#include <onhandpub.h>\n"
TWICE = (
    "#include <onhandpub.h>\n#include <onhandpub.h>\n"
    "int main(void) { ohp_params p = OHP_PARAMS_INIT; "
    "ohp_lookup_value v = OHP_LOOKUP_VALUE_INIT; (void)p; (void)v; return 0; }\n"
)
FLAGS = ["-pedantic", "-Wall", "-Wextra", "-Werror", "-fsyntax-only"]


def main():
    src = os.environ.get("OHP_SOURCE_ROOT")
    if not src:
        print("OHP_SOURCE_ROOT must be set")
        return 1
    inc = "-I" + os.path.join(src, "include")
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        print("no C compiler (cc) found")
        return 1
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        jobs = []
        for name, text in (("only", ONLY), ("twice", TWICE)):
            for ext in ("c", "cc"):
                with open(os.path.join(tmp, f"{name}.{ext}"), "w") as f:
                    f.write(text)
            for std in ("c99", "c11"):
                jobs.append([cc, f"-std={std}"] + FLAGS + [inc, os.path.join(tmp, f"{name}.c")])
        cxx = shutil.which("c++")
        if cxx:
            jobs.append([cxx, "-std=c++11"] + FLAGS + [inc, os.path.join(tmp, "twice.cc")])
        for cmd in jobs:
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                failed += 1
                print("FAIL:", " ".join(cmd))
                print(r.stdout + r.stderr)
    if failed:
        return 1
    print(f"onhandpub.h compiles alone ({len(jobs)} configurations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
