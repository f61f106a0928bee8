#!/usr/bin/env python3
"""Check that the library's dependencies point one way (docs/architecture.md).

Each object file of the library belongs to the folder of src/ its source is
in.  A folder may call only what the folders below it define:

    source/   -> publish/, common/
    file/     -> publish/, common/
    publish/  -> common/
    read/     -> common/
    common/   -> (nothing of the library's)

The check reads the symbols each object file uses (nm -u) and finds which
folder defines them; a call upward or sideways fails, naming the object, the
symbol and the folder that defines it.  It also checks the includes: a file
includes private headers only from its own folder and the ones below it.
"""
import glob
import os
import re
import shutil
import subprocess
import sys

BELOW = {
    "common": {"common"},
    "publish": {"publish", "common"},
    "source": {"source", "publish", "common"},
    "read": {"read", "common"},
    "file": {"file", "publish", "common"},
}


def folder_of_object(path):
    name = os.path.basename(path)
    folder = name.split("_", 1)[0]
    return folder if folder in BELOW else None


def symbols(nm, obj, *flags):
    out = subprocess.run([nm, *flags, obj], check=True, capture_output=True, text=True).stdout
    syms = set()
    for line in out.splitlines():
        parts = line.split()
        if not parts:
            continue
        if "-u" in flags:
            syms.add(parts[-1])
        elif len(parts) >= 3 and parts[1] in "TDBRCtdbrcV":
            syms.add(parts[2])
    return syms


def check_objects(build):
    nm = shutil.which("nm")
    if nm is None:
        print("nm (binutils) is required")
        return ["no nm"]
    objs = glob.glob(os.path.join(build, "src", "libonhandpub.so*.p", "*.o"))
    if not objs:
        return [f"no object files of the library under {build}/src"]
    defined = {}
    for obj in objs:
        folder = folder_of_object(obj)
        if folder is None:
            return [f"{os.path.basename(obj)}: not in a known folder of src/ ({', '.join(BELOW)})"]
        for s in symbols(nm, obj, "--defined-only", "-g"):
            defined[s] = (folder, os.path.basename(obj))
    errors = []
    for obj in sorted(objs):
        folder = folder_of_object(obj)
        for s in sorted(symbols(nm, obj, "-u")):
            if s in defined and defined[s][0] not in BELOW[folder]:
                errors.append(f"{os.path.basename(obj)} ({folder}/) calls {s}, defined in "
                              f"{defined[s][1]} ({defined[s][0]}/)")
    return errors


def check_includes(source):
    src = os.path.join(source, "src")
    homes = {}
    for folder in BELOW:
        for h in glob.glob(os.path.join(src, folder, "*.h")):
            homes[os.path.basename(h)] = folder
    errors = []
    for folder in BELOW:
        for f in sorted(glob.glob(os.path.join(src, folder, "*.[ch]"))):
            for n, line in enumerate(open(f, encoding="utf-8"), 1):
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if not m or m.group(1) == "onhandpub.h":
                    continue
                home = homes.get(os.path.basename(m.group(1)))
                if home is None:
                    errors.append(f"{os.path.relpath(f, source)}:{n}: includes {m.group(1)}, "
                                  "which is no header of src/")
                elif home not in BELOW[folder]:
                    errors.append(f"{os.path.relpath(f, source)}:{n}: includes {m.group(1)} "
                                  f"from {home}/")
    return errors


def main():
    build = os.environ.get("OHP_BUILD_ROOT")
    source = os.environ.get("OHP_SOURCE_ROOT")
    if not build or not source:
        print("OHP_BUILD_ROOT and OHP_SOURCE_ROOT must be set")
        return 1
    errors = check_includes(source) + check_objects(build)
    for e in errors:
        print(e)
    if errors:
        print(f"{len(errors)} dependencies point the wrong way")
        return 1
    print("dependencies point one way")
    return 0


if __name__ == "__main__":
    sys.exit(main())
