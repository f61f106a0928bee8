#!/usr/bin/env python3
"""The version script, the public header and the documentation agree.

- The functions exported by src/libonhandpub.map, the functions declared in
  include/onhandpub.h and the symbol table of docs/api-stability.md are the
  same set, and each function's version node in the table is its node in
  the map.
- Every ohp_* name that docs/*.md or README.md mentions is an exported
  function or a type (typedef, struct, enum) of the header.
- The enumerated constants with explicit values in the header (error codes,
  rules, statuses, ...) are those of the table in docs/api-stability.md,
  with the same values: codes are never renumbered.

Environment: OHP_SOURCE_ROOT (the source tree).
"""
import glob
import os
import re
import sys

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def map_symbols(path):
    """{symbol: version node} of the map's global lists."""
    text = re.sub(r"#[^\n]*", "", open(path, encoding="utf-8").read())
    out = {}
    for m in re.finditer(r"([A-Za-z_][A-Za-z0-9_.]*)\s*\{(.*?)\}\s*[A-Za-z0-9_.]*\s*;", text, re.S):
        node, scope = m.group(1), None
        for tok in re.findall(r"[^\s;]+:|[^\s;:]+", m.group(2)):
            if tok.endswith(":"):
                scope = tok[:-1]
            elif scope == "global":
                if tok in out:
                    fail(f"map: {tok} is in both {out[tok]} and {node}")
                out[tok] = node
    return out


def strip_c(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    # preprocessor lines, continuations included
    text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)
    return text


def header_api(path):
    """(declared functions, type names, {constant: value})."""
    raw = open(path, encoding="utf-8").read()
    code = strip_c(raw)
    # A declaration: ohp_name( not preceded by "(*" (function pointer typedefs).
    funcs = set(re.findall(r"(?<!\(\*)\b(ohp_[a-z0-9_]+)\s*\(", code))
    types = set(re.findall(r"\b(ohp_[a-z0-9_]+)\s*;", code))  # typedef ... name;
    types |= set(re.findall(r"\b(?:struct|enum)\s+(ohp_[a-z0-9_]+)", code))
    types |= set(re.findall(r"\(\*(ohp_[a-z0-9_]+)\)", code))  # callback types
    types -= funcs
    consts = {n: int(v) for n, v in re.findall(r"\b(OHP_[A-Z0-9_]+)\s*=\s*(-?\d+)", code)}
    return funcs, types, consts


def doc_tables(path):
    text = open(path, encoding="utf-8").read()
    funcs = {}
    for name, node in re.findall(r"^\|\s*`(ohp_[a-z0-9_]+)`\s*\|\s*(OHP_[0-9.]+)\s*\|", text, re.M):
        if name in funcs:
            fail(f"{os.path.basename(path)}: {name} listed twice")
        funcs[name] = node
    consts = {n: int(v)
              for n, v in re.findall(r"^\|\s*`(OHP_[A-Z0-9_]+)`\s*\|\s*(-?\d+)\s*\|", text, re.M)}
    return funcs, consts


def main():
    source = os.environ.get("OHP_SOURCE_ROOT") or os.path.join(os.path.dirname(__file__), "..")
    mapped = map_symbols(os.path.join(source, "src", "libonhandpub.map"))
    funcs, types, consts = header_api(os.path.join(source, "include", "onhandpub.h"))
    stability = os.path.join(source, "docs", "api-stability.md")
    if not os.path.exists(stability):
        fail("docs/api-stability.md is missing")
        return 1
    doc_funcs, doc_consts = doc_tables(stability)

    for s in sorted(set(mapped) - funcs):
        fail(f"{s} is exported by the map but not declared in the header")
    for s in sorted(funcs - set(mapped)):
        fail(f"{s} is declared in the header but not exported by the map")
    for s in sorted(set(mapped) - set(doc_funcs)):
        fail(f"{s} ({mapped[s]}) is missing from the symbol table of docs/api-stability.md")
    for s in sorted(set(doc_funcs) - set(mapped)):
        fail(f"docs/api-stability.md lists {s}, which the map does not export")
    for s in sorted(set(doc_funcs) & set(mapped)):
        if doc_funcs[s] != mapped[s]:
            fail(f"{s}: docs/api-stability.md says {doc_funcs[s]}, the map {mapped[s]}")

    for n in sorted(set(consts) - set(doc_consts)):
        fail(f"{n} = {consts[n]} is missing from the table of docs/api-stability.md")
    for n in sorted(set(doc_consts) - set(consts)):
        fail(f"docs/api-stability.md lists {n}, which the header does not define")
    for n in sorted(set(consts) & set(doc_consts)):
        if consts[n] != doc_consts[n]:
            fail(f"{n} is {consts[n]} in the header but {doc_consts[n]} in the docs: "
                 "values are never renumbered")

    docs = sorted(glob.glob(os.path.join(source, "docs", "*.md")))
    readme = os.path.join(source, "README.md")
    if os.path.exists(readme):
        docs.append(readme)
    known = set(mapped) | types
    mentioned = 0
    for path in docs:
        text = open(path, encoding="utf-8").read()
        for name in sorted(set(re.findall(r"\b(ohp_[a-z0-9_]+)\s*\(", text))):
            mentioned += 1
            if name not in mapped:
                fail(f"{os.path.relpath(path, source)} mentions {name}(), which is not exported")
        for name in sorted(set(re.findall(r"`(ohp_[a-z0-9_]+)`", text))):
            if name not in known:
                fail(f"{os.path.relpath(path, source)} mentions `{name}`, neither an exported "
                     "function nor a type of the header")

    print(f"{len(mapped)} exported functions, {len(funcs)} declared, {len(doc_funcs)} documented; "
          f"{len(consts)} constants; {mentioned} function mentions in {len(docs)} documents")
    if failures:
        print(f"{len(failures)} failure(s)")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
