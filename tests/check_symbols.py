#!/usr/bin/env python3
"""Check the exported ABI of libonhandpub.so against src/libonhandpub.map.

Fails when a defined dynamic symbol lacks the ohp_ prefix, is not bound to
a version node of the map, or when the exported set differs from the map's
global list.
"""
import os
import re
import shutil
import subprocess
import sys


def parse_map(path):
    text = re.sub(r"#[^\n]*", "", open(path, encoding="utf-8").read())
    nodes, globals_ = [], set()
    for m in re.finditer(r"([A-Za-z_][A-Za-z0-9_.]*)\s*\{(.*?)\}\s*[A-Za-z0-9_.]*\s*;", text, re.S):
        nodes.append(m.group(1))
        body = m.group(2)
        scope = None
        for tok in re.findall(r"[^\s;]+:|[^\s;:]+", body):
            if tok.endswith(":"):
                scope = tok[:-1]
            elif scope == "global":
                globals_.add(tok)
    return nodes, globals_


def main():
    build = os.environ.get("OHP_BUILD_ROOT")
    source = os.environ.get("OHP_SOURCE_ROOT")
    if not build or not source:
        print("OHP_BUILD_ROOT and OHP_SOURCE_ROOT must be set")
        return 1
    lib = os.path.join(build, "src", "libonhandpub.so")
    mapfile = os.path.join(source, "src", "libonhandpub.map")
    nm = shutil.which("nm")
    if nm is None:
        print("nm (binutils) is required")
        return 1
    if not os.path.exists(lib):
        print(f"{lib} does not exist")
        return 1
    nodes, wanted = parse_map(mapfile)
    if not nodes or not wanted:
        print(f"{mapfile}: no version node with a global list found")
        return 1
    out = subprocess.run([nm, "-D", "--defined-only", lib], check=True, capture_output=True,
                         text=True).stdout
    problems = []
    exported = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        kind, name = parts[1], parts[2]
        sym, _, version = name.partition("@")
        version = version.lstrip("@")
        if kind == "A" and sym in nodes:
            continue  # the version node's own definition
        if not sym.startswith("ohp_"):
            problems.append(f"exported symbol without the ohp_ prefix: {name}")
        if version not in nodes:
            problems.append(f"exported symbol not in a version node of the map: {name}")
        exported.add(sym)
    for sym in sorted(exported - wanted):
        problems.append(f"exported but missing from the map's global list: {sym}")
    for sym in sorted(wanted - exported):
        problems.append(f"listed in the map but not exported: {sym}")
    for p in problems:
        print(p)
    print(f"{len(exported)} symbols exported, {len(wanted)} listed in {os.path.basename(mapfile)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
