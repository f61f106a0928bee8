#!/usr/bin/env python3
"""onhandpub(1), made from the program's own --help, so that the two cannot drift.

usage: make_man.py PROGRAM OUTPUT     write the man page
       make_man.py --check PROGRAM MAN  check that MAN names every option and
                                       command of PROGRAM's --help (exit 1 if not)

The help text is read in parts: the "Usage:" lines become the SYNOPSIS, a
paragraph "CMD: text" starts a subsection of DESCRIPTION, an indented
"--option VALUE  text" line (with its continuation lines) becomes a tagged
paragraph, "Exit status:" becomes EXIT STATUS.  reconcile's own help
(`onhandpub help reconcile`) is added under it.
"""
import re
import subprocess
import sys

OPTION = re.compile(r"^  (-[-A-Za-z0-9]+(?: [^ ].*?)?)(?: {2,}(.*))?$")


def run(program, *args):
    return subprocess.run([program, *args], capture_output=True, text=True, check=True).stdout


def esc(text):
    """Text for troff: backslashes and hyphens escaped, a leading dot or quote guarded."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    if text.startswith((".", "'")):
        text = "\\&" + text
    return text


def body(lines):
    """Help lines after the synopsis: paragraphs and option lists."""
    out, para = [], []

    def flush():
        if para:
            out.append(esc(" ".join(para)))
            para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        m = OPTION.match(line)
        if m and line.startswith("  -"):
            flush()
            tag, text = m.group(1), [m.group(2) or ""]
            while i + 1 < len(lines) and lines[i + 1].startswith(" " * 24):
                i += 1
                text.append(lines[i].strip())
            out.append(".TP\n.B " + esc(tag.strip()) + "\n" + esc(" ".join(t for t in text if t)))
        elif not line.strip():
            flush()
            out.append(".PP")
        elif re.match(r"^[a-z]+: ", line):
            flush()
            cmd, rest = line.split(": ", 1)
            out.append(".SS " + cmd)
            para.append(rest)
        elif re.match(r"^  [0-9]  ", line):
            flush()
            text = [line[5:].strip()]
            while i + 1 < len(lines) and lines[i + 1].startswith("     "):
                i += 1
                text.append(lines[i].strip())
            out.append(".TP\n.B " + line[2] + "\n" + esc(" ".join(text)))
        else:
            if not para and out and out[-1].startswith(".TP"):
                out.append(".PP")  # a paragraph after an option list
            para.append(line.strip())
        i += 1
    flush()
    return out


def page(program):
    help_lines = run(program, "--help").splitlines()
    version = run(program, "--version").split()[1]
    reconcile = run(program, "help", "reconcile").splitlines()
    start = help_lines.index("Usage:") + 1
    end = start
    while end < len(help_lines) and help_lines[end].startswith("  onhandpub"):
        end += 1
    synopsis = [line.strip() for line in help_lines[start:end]]
    rest = help_lines[end:]
    exit_at = rest.index("Exit status:")
    out = ['.TH ONHANDPUB 1 "" "onhandpub %s" "User Commands"' % version,
           ".SH NAME",
           "onhandpub \\- publish on\\-hand inventory balances as a PSV snapshot in a ZIP, "
           "and reconcile snapshots",
           ".SH SYNOPSIS"]
    for s in synopsis:
        out += [".nf", esc(s), ".fi"]
    out.append(".SH DESCRIPTION")
    out += body(rest[:exit_at])
    out.append(".SS reconcile options")
    first = next(i for i, line in enumerate(reconcile) if line.startswith("  -"))
    out += body(reconcile[first:])
    out.append(".SH EXIT STATUS")
    out += body(rest[exit_at + 1:])
    out += [".SH SEE ALSO",
            "The documentation installed with libonhandpub: docs/cli.md (this command), "
            "docs/job.md, docs/psv\\-format.md, docs/reconcile.md."]
    return "\n".join(out) + "\n"


def options_of(text):
    return set(re.findall(r"(?<![A-Za-z0-9-])--[a-z][a-z0-9-]*", text))


def check(program, man_path):
    with open(man_path, encoding="utf-8") as f:
        man = f.read().replace("\\-", "-")
    want = options_of(run(program, "--help")) | options_of(run(program, "help", "reconcile"))
    missing = sorted(o for o in want if o not in man)
    for cmd in ("publish", "systems", "fetch", "reconcile", "inspect"):
        if ".SS " + cmd not in man and "onhandpub " + cmd not in man:
            missing.append(cmd)
    if missing:
        print("man page lacks: " + ", ".join(missing))
        return 1
    print("man page names all %d options of --help" % len(want))
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == "--check":
        return check(argv[2], argv[3])
    if len(argv) != 3:
        print(__doc__)
        return 2
    with open(argv[2], "w", encoding="utf-8") as f:
        f.write(page(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
