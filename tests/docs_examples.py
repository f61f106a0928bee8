#!/usr/bin/env python3
"""Every code block of README.md and docs/*.md runs, so the examples cannot rot.

The conventions (docs/testing.md, "Documentation examples"):

* Every fenced block names its language.  `c`, `python`, `sh` and `console`
  blocks are code and run; `text` blocks (sample output, file contents,
  command synopses) are not code and never run.  A block without a language,
  or with another one, fails the test.
* A code block that cannot run in a test (package installation, network, a
  benchmark, a fragment of a longer program) is preceded by the comment
  `<!-- not-run: REASON -->` on the line just before its fence; the test
  lists it with its reason.  Nothing else is skipped.
* Each block runs in a fresh temporary folder holding a copy of `examples/`
  and `build/examples/onhandpub`, `build/src/libonhandpub.so.1` (links to the
  build under test), with `onhandpub` on PATH and HOME and TMPDIR inside the
  folder.  The `console` blocks of one document share one folder, in order
  (a session the reader follows).
* `c`: compiled with warnings as errors against include/ and the built
  library, then run; it must exit 0.  `python`: run with the binding
  (bindings/python) over the built library; exit 0.  `sh`: run with
  `sh -e`; exit 0.  `console`: each `$ ` line (with its continuation lines:
  after a `\\`, or inside an open quotation) is a command run by `sh`; the lines after it, up to the next `$ `
  line, are its output (standard output and error together) and must match:
  a line `...` stands for any lines, and the figure of an `elapsed N s` line
  is not compared.

The source tree must be unchanged afterwards: a block that writes outside its
folder fails the test.

Environment: OHP_SOURCE_ROOT, OHP_BUILD_ROOT, OHP_CLI (the program), OHP_LIBRARY
(the library), OHP_CC (the C compiler command), OHP_SANITIZE (meson's b_sanitize).
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

SRC = os.environ.get("OHP_SOURCE_ROOT", "")
BUILD = os.environ.get("OHP_BUILD_ROOT", "")
CLI = os.environ.get("OHP_CLI", "")
LIB = os.environ.get("OHP_LIBRARY", "")
CC = shlex.split(os.environ.get("OHP_CC", "cc"))
SANITIZE = os.environ.get("OHP_SANITIZE", "none")
TIMEOUT = 300

RUN = ("c", "python", "sh", "console")
NOT_CODE = ("text",)
FENCE = re.compile(r"^```(.*)$")
NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(\S.*?)\s*-->\s*$")


class Block:
    def __init__(self, doc, line, lang, text, not_run):
        self.doc, self.line, self.lang, self.text, self.not_run = doc, line, lang, text, not_run

    def where(self):
        return f"{self.doc}:{self.line}"


def documents():
    docs = ["README.md"]
    docs += sorted(os.path.join("docs", f) for f in os.listdir(os.path.join(SRC, "docs"))
                   if f.endswith(".md"))
    return docs


def blocks_of(doc):
    with open(os.path.join(SRC, doc), encoding="utf-8") as f:
        lines = f.read().split("\n")
    out = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start = i
        lang = m.group(1).strip()
        body = []
        i += 1
        while i < len(lines) and lines[i].rstrip() != "```":
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise SystemExit(f"{doc}:{start + 1}: code block never closed")
        marker = NOT_RUN.match(lines[start - 1]) if start > 0 else None
        out.append(Block(doc, start + 1, lang, "\n".join(body) + "\n",
                         marker.group(1) if marker else None))
        i += 1
    return out


def tree_state(root):
    """(path, size, mtime) of every file of the source tree, build folders and .git
    excepted."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git" and d != "__pycache__"
                       and not os.path.isdir(os.path.join(dirpath, d, "meson-private"))]
        for name in filenames:
            p = os.path.join(dirpath, name)
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                continue
            state[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns)
    return state


def sandbox():
    """A fresh folder laid out like a checkout with a build, and its environment."""
    box = tempfile.mkdtemp(prefix="ohp-docs-")
    shutil.copytree(os.path.join(SRC, "examples"), os.path.join(box, "examples"),
                    symlinks=True)
    os.makedirs(os.path.join(box, "build", "examples"))
    os.makedirs(os.path.join(box, "build", "src"))
    os.makedirs(os.path.join(box, "bin"))
    os.makedirs(os.path.join(box, "tmp"))
    os.symlink(CLI, os.path.join(box, "build", "examples", "onhandpub"))
    os.symlink(CLI, os.path.join(box, "bin", "onhandpub"))
    os.symlink(LIB, os.path.join(box, "build", "src", "libonhandpub.so.1"))
    env = {
        "PATH": os.path.join(box, "bin") + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": box,
        "TMPDIR": os.path.join(box, "tmp"),
        "LANG": "C.UTF-8",
        "OHP_LIBRARY": LIB,
        "PYTHONPATH": os.path.join(SRC, "bindings", "python"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for keep in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if keep in os.environ:
            env[keep] = os.environ[keep]
    return box, env


def run(cmd, box, env, stdin=None):
    return subprocess.run(cmd, cwd=box, env=env, input=stdin, capture_output=True,
                          timeout=TIMEOUT)


def shown(r):
    return (r.stdout + r.stderr).decode("utf-8", "replace")


def run_c(block, box, env):
    src = os.path.join(box, "example.c")
    with open(src, "w", encoding="utf-8") as f:
        f.write(block.text)
    exe = os.path.join(box, "example")
    cmd = CC + ["-std=c11", "-Wall", "-Wextra", "-Werror", "-D_POSIX_C_SOURCE=200809L",
                "-I", os.path.join(SRC, "include"), src, "-o", exe,
                "-L", os.path.dirname(LIB), "-l:" + os.path.basename(LIB),
                "-Wl,-rpath," + os.path.dirname(LIB)]
    if SANITIZE not in ("", "none"):
        cmd.insert(len(CC), "-fsanitize=" + SANITIZE)
    r = run(cmd, box, env)
    if r.returncode != 0:
        return f"does not compile:\n{shown(r)}"
    r = run([exe], box, env)
    if r.returncode != 0:
        return f"exits {r.returncode}:\n{shown(r)}"
    return None


def python_env(env):
    env = dict(env)
    if "address" in SANITIZE:
        # A sanitized library in the interpreter needs the ASan runtime first.
        lib = subprocess.run(CC + ["-print-file-name=libasan.so"], capture_output=True,
                             text=True).stdout.strip()
        env["LD_PRELOAD"] = lib
        env["ASAN_OPTIONS"] = "detect_leaks=0"
    return env


def run_python(block, box, env):
    path = os.path.join(box, "example.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(block.text)
    r = run([sys.executable, path], box, python_env(env))
    if r.returncode != 0:
        return f"exits {r.returncode}:\n{shown(r)}"
    return None


def run_sh(block, box, env):
    r = run(["sh", "-e"], box, env, stdin=block.text.encode("utf-8"))
    if r.returncode != 0:
        return f"exits {r.returncode}:\n{shown(r)}"
    return None


def unclosed_quote(cmd):
    """The command continues on the next line: a quotation is still open."""
    try:
        shlex.split(cmd, comments=True)
        return False
    except ValueError:
        return True


def session(text):
    """[(command, expected output lines)] of a console block."""
    steps = []
    lines = text.rstrip("\n").split("\n")
    i = 0
    while i < len(lines):
        if not lines[i].startswith("$ "):
            raise ValueError(f"line {i + 1} of the block is neither a command nor output")
        cmd = [lines[i][2:]]
        while (cmd[-1].endswith("\\") or unclosed_quote("\n".join(cmd))) and i + 1 < len(lines):
            i += 1
            cmd.append(lines[i])
        i += 1
        out = []
        while i < len(lines) and not lines[i].startswith("$ "):
            out.append(lines[i])
            i += 1
        while out and out[-1].strip() == "":
            out.pop()
        steps.append(("\n".join(cmd), out))
    return steps


ELAPSED = re.compile(r"elapsed \d+(\.\d+)? s")


def matches(expected, actual):
    exp = [ELAPSED.sub("elapsed N s", l.rstrip()) for l in expected]
    act = [ELAPSED.sub("elapsed N s", l.rstrip()) for l in actual]

    def at(i, j):
        if i == len(exp):
            return j == len(act)
        if exp[i].strip() == "...":
            return any(at(i + 1, k) for k in range(j, len(act) + 1))
        return j < len(act) and exp[i] == act[j] and at(i + 1, j + 1)

    return at(0, 0)


def run_console(block, box, env):
    try:
        steps = session(block.text)
    except ValueError as exc:
        return str(exc)
    for cmd, expected in steps:
        r = subprocess.run(["sh", "-c", "exec 2>&1\n" + cmd], cwd=box, env=env, capture_output=True,
                           timeout=TIMEOUT)
        out = r.stdout.decode("utf-8", "replace").rstrip("\n")
        actual = out.split("\n") if out else []
        if not matches(expected, actual):
            return ("output differs for\n  $ " + cmd.replace("\n", "\n  ") + "\nexpected:\n"
                    + "\n".join("  | " + l for l in expected) + "\nactual:\n"
                    + "\n".join("  | " + l for l in actual))
    return None


RUNNERS = {"c": run_c, "python": run_python, "sh": run_sh, "console": run_console}


def package_list_problems():
    """The README's quick start and .ci/run install the one list .ci/packages.txt."""
    problems = []
    with open(os.path.join(SRC, ".ci", "packages.txt"), encoding="utf-8") as f:
        names = f.read().split()
    if not names or any(not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", n) for n in names):
        problems.append(".ci/packages.txt: expected Debian package names, one a line")
    if len(set(names)) != len(names):
        problems.append(".ci/packages.txt: a package is listed twice")
    quick = [b for b in blocks_of("README.md") if b.lang == "sh" and "apt-get" in b.text]
    if not quick or any("$(cat .ci/packages.txt)" not in b.text for b in quick):
        problems.append("README.md: the quick start must install $(cat .ci/packages.txt)")
    with open(os.path.join(SRC, ".ci", "run"), encoding="utf-8") as f:
        if "< .ci/packages.txt" not in f.read():
            problems.append(".ci/run: must install the packages of .ci/packages.txt")
    return problems


def main():
    for name, value in (("OHP_SOURCE_ROOT", SRC), ("OHP_CLI", CLI), ("OHP_LIBRARY", LIB)):
        if not value:
            print(f"{name} is not set", file=sys.stderr)
            return 2
    before = tree_state(SRC)
    failures = package_list_problems()
    ran = not_run = 0
    boxes = []
    try:
        for doc in documents():
            shared = None
            for b in blocks_of(doc):
                if b.lang not in RUN + NOT_CODE:
                    failures.append(f"{b.where()}: block language {b.lang or '(none)'!r}: tag it "
                                    f"{', '.join(RUN)} (code, run) or text (not code)")
                    continue
                if b.lang in NOT_CODE:
                    continue
                if b.not_run:
                    not_run += 1
                    print(f"not run  {b.where()} ({b.lang}): {b.not_run}")
                    continue
                if b.lang == "console":
                    if shared is None:
                        shared = sandbox()
                        boxes.append(shared[0])
                    box, env = shared
                else:
                    box, env = sandbox()
                    boxes.append(box)
                try:
                    problem = RUNNERS[b.lang](b, box, env)
                except subprocess.TimeoutExpired:
                    problem = f"still running after {TIMEOUT} s"
                ran += 1
                if problem:
                    failures.append(f"{b.where()} ({b.lang}): {problem}")
                    print(f"FAIL     {b.where()} ({b.lang})")
                else:
                    print(f"ok       {b.where()} ({b.lang})")
    finally:
        for box in boxes:
            shutil.rmtree(box, ignore_errors=True)
    after = tree_state(SRC)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    if changed:
        failures.append("the examples wrote into the source tree: " + ", ".join(changed[:20]))
    print(f"{ran} blocks run, {not_run} marked not-run")
    for f in failures:
        print("\n" + f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
