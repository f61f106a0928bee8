#!/usr/bin/env python3
"""`meson install` into a temporary DESTDIR gives a working installation.

Installs the build under test with `meson install --destdir`, then checks
what a user gets: the library and its header and pkg-config file, the
onhandpub command (it runs), onhandpub(1) naming every option of --help,
the documentation, and the Python package with every module of
bindings/python/onhandpub and py.typed (it imports and loads the installed
library).  The Python package is checked only when the build installs it
(meson option python).

Environment: OHP_BUILD_ROOT, OHP_SOURCE_ROOT.
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

BUILD = os.environ["OHP_BUILD_ROOT"]
SOURCE = os.environ["OHP_SOURCE_ROOT"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def main():
    info = json.loads(subprocess.run(["meson", "introspect", "--buildoptions", BUILD],
                                     capture_output=True, text=True, check=True).stdout)
    opts = {o["name"]: o["value"] for o in info}
    prefix, libdir = opts["prefix"], opts["libdir"]
    with tempfile.TemporaryDirectory(prefix="ohp-install-") as dest:
        r = subprocess.run(["meson", "install", "-C", BUILD, "--destdir", dest, "--no-rebuild",
                            "--quiet"], capture_output=True, text=True)
        check(r.returncode == 0, "meson install: %s %s" % (r.stdout, r.stderr))
        root = dest + prefix
        lib = os.path.join(root, libdir) if not os.path.isabs(libdir) else dest + libdir
        check(os.path.exists(os.path.join(lib, "libonhandpub.so.1")), "libonhandpub.so.1")
        check(os.path.isfile(os.path.join(root, "include", "onhandpub.h")), "onhandpub.h")
        check(os.path.isfile(os.path.join(lib, "pkgconfig", "libonhandpub.pc")), "pkg-config file")
        exe = os.path.join(root, "bin", "onhandpub")
        env = dict(os.environ, LD_LIBRARY_PATH=lib)
        r = subprocess.run([exe, "--version"], capture_output=True, text=True, env=env)
        check(r.returncode == 0 and r.stdout.startswith("onhandpub "), "onhandpub --version")
        man = os.path.join(root, opts["mandir"], "man1", "onhandpub.1")
        check(os.path.isfile(man), "onhandpub.1 installed")
        if os.path.isfile(man):
            r = subprocess.run([sys.executable,
                                os.path.join(SOURCE, "examples", "onhandpub", "make_man.py"),
                                "--check", exe, man], capture_output=True, text=True, env=env)
            check(r.returncode == 0, "man page: " + r.stdout)
        docs = os.path.join(root, opts["datadir"], "doc", "libonhandpub")
        check(os.path.isfile(os.path.join(docs, "docs", "cli.md")), "docs installed")
        pkgs = glob.glob(os.path.join(root, "**", "onhandpub", "__init__.py"), recursive=True)
        if opts.get("python") == "disabled":
            check(pkgs == [], "no Python package with -Dpython=disabled")
        else:
            check(len(pkgs) == 1, "one Python package installed: %s" % pkgs)
        if len(pkgs) == 1:
            pkg = os.path.dirname(pkgs[0])
            src = os.path.join(SOURCE, "bindings", "python", "onhandpub")
            want = sorted(n for n in os.listdir(src) if n.endswith(".py") or n == "py.typed")
            got = sorted(n for n in os.listdir(pkg) if n.endswith(".py") or n == "py.typed")
            check(got == want, "Python package files: missing %s" % sorted(set(want) - set(got)))
            penv = dict(env, PYTHONPATH=os.path.dirname(pkg),
                        OHP_LIBRARY=os.path.join(lib, "libonhandpub.so.1"))
            if "address" in str(opts.get("b_sanitize", "")):
                # a sanitized library in the interpreter needs the ASan runtime first
                cc = os.environ.get("CC", "cc")
                asan = subprocess.run([cc, "-print-file-name=libasan.so"], capture_output=True,
                                      text=True).stdout.strip()
                penv.update(LD_PRELOAD=asan, ASAN_OPTIONS="detect_leaks=0")
            penv.pop("OHP_SOURCE_ROOT", None)
            r = subprocess.run([sys.executable, "-c",
                                "import onhandpub, sys; print(onhandpub.library_version(), "
                                "onhandpub.__file__)"],
                               capture_output=True, text=True, env=penv, cwd=dest)
            check(r.returncode == 0 and r.stdout.startswith("1."),
                  "import the installed package: %s %s" % (r.stdout, r.stderr))
            check(pkg in r.stdout, "the installed package was imported: " + r.stdout)
    print("%d failure(s)" % len(failures) if failures else "install: ok")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
