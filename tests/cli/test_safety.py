#!/usr/bin/env python3
"""Safety of the onhandpub command's files (docs/cli.md).

- Every file the command creates is created in its target directory with
  O_CREAT|O_EXCL|O_NOFOLLOW under a fresh temporary name and renamed into
  place (checked with strace on the real system calls; the lock file,
  which is never replaced, is opened with O_NOFOLLOW).
- A symlink planted at any name the command will use (the ZIP, the
  rejects file, the state file, its lock) never redirects a write: the
  file it points to is untouched.
- Whatever the organization code (`../../x`, `a/b`, `..`, `/etc/x`, ...),
  the ZIP lands in --outdir under a plain name, its entry name is plain,
  and nothing is created anywhere else.
- Files are created with mode 0666 less the umask: umask 027 gives 0640.

Environment: OHP_CLI is the program, OHP_CLI_DATA the sample data.
Python 3 standard library only.
"""
import csv
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile

CLI = os.environ.get("OHP_CLI", "")
DATA = os.environ.get("OHP_CLI_DATA", "")
TIMEOUT = 120
VALGRIND = bool(os.environ.get("OHP_UNDER_VALGRIND"))
VG_LOGS = None

COLUMNS = ("ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|SERIAL_CONTROLLED|SERIAL_NUMBERS|"
           "PRIMARY_QUANTITY|PRIMARY_UOM_CODE|LAST_UPDATE_DATE\n")
ZIP_NAME = re.compile(r"^ONHAND_[A-Za-z0-9_-]+_[A-Za-z0-9_-]+_[0-9]+_[0-9]{14}\.zip$")


def command(args):
    global VG_LOGS
    if not VALGRIND:
        return [CLI] + list(args)
    if VG_LOGS is None:
        VG_LOGS = tempfile.mkdtemp(prefix="ohp-safety-valgrind-")
        os.chmod(VG_LOGS, 0o1777)
    return ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect",
            "--log-file=" + os.path.join(VG_LOGS, "vg.%p.log"), CLI] + list(args)


def psv_field(s):
    if any(c in s for c in '|"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


def balances(org, bad=False):
    rows = [[org, "ITEM-1", "FGI", "N", "", "5", "EA", "2026/01/10 08:00:00"],
            [org, "SER-1", "FGI", "Y", "S1..S3", "3", "EA", "2026/01/10 08:00:00"]]
    if bad:
        rows.append([org, "BAD", "FGI", "N", "", "1,5", "EA", "2026/01/10 08:00:00"])
    return COLUMNS + "".join("|".join(psv_field(f) for f in r) + "\n" for r in rows)


def tree(root):
    """Every path under root (relative), directories included."""
    out = set()
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


class SafetyTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="ohp-safety-")
        # A sandbox two levels deep, so that "../../x" would still land inside the
        # temporary directory, where it can be seen.
        self.root = self._tmp.name
        self.base = os.path.join(self.root, "a", "b")
        os.makedirs(self.base)
        self.out = os.path.join(self.base, "out")
        os.mkdir(self.out)
        self.state = os.path.join(self.base, "state.psv")
        self.rejects = os.path.join(self.base, "rejects.psv")

    def tearDown(self):
        self._tmp.cleanup()

    def write(self, name, text):
        p = os.path.join(self.base, name)
        with open(p, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        return p

    def victim(self):
        p = os.path.join(self.root, "victim.txt")
        with open(p, "w") as f:
            f.write("precious\n")
        return p

    def assertVictim(self, v):
        with open(v) as f:
            self.assertEqual(f.read(), "precious\n")

    def run_cli(self, args, prefix=(), umask=None):
        pre = (lambda: os.umask(umask)) if umask is not None else None
        env = None
        if prefix:
            # LeakSanitizer cannot run under ptrace (strace): leaks are checked elsewhere.
            env = dict(os.environ)
            env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"),
                                                         "detect_leaks=0"]))
        return subprocess.run(list(prefix) + command(args), capture_output=True, text=True,
                              timeout=TIMEOUT, preexec_fn=pre, cwd=self.base, env=env)

    def publish(self, org="M1", extra=(), prefix=(), umask=None, bad=False,
                now="2026/01/15 18:00:00"):
        inp = self.write("in.psv", balances(org, bad))
        args = ["publish", "--input", inp, "--org", org, "--no-auth", "--outdir", self.out,
                "--now", now, "--state", self.state] + list(extra)
        return self.run_cli(args, prefix, umask)


class TestCreationFlags(SafetyTest):
    """The real open calls, as strace sees them.

    Every file is created in its target directory, unnamed (O_TMPFILE) and
    linked into place with linkat, or, where O_TMPFILE is not available
    (ONHANDPUB_NO_TMPFILE=1 here), under a fresh temporary name with
    O_CREAT|O_EXCL|O_NOFOLLOW and renamed (or linked) into place.
    """

    NO_TMPFILE = False

    def setUp(self):
        super().setUp()
        if VALGRIND:
            self.skipTest("strace of the program itself, not of valgrind")
        self.strace = shutil.which("strace")
        if self.strace is None:
            self.skipTest("strace is not installed (Debian package strace)")

    def traced(self, extra=(), bad=False, now="2026/01/15 18:00:00"):
        log = os.path.join(self.root, "strace.log")
        old = os.environ.get("ONHANDPUB_NO_TMPFILE")
        if self.NO_TMPFILE:
            os.environ["ONHANDPUB_NO_TMPFILE"] = "1"
        try:
            r = self.publish(extra=extra, bad=bad, now=now, prefix=[
                self.strace, "-f", "-qq", "-o", log, "-e",
                "trace=open,openat,creat,rename,renameat,renameat2,link,linkat,symlink,symlinkat"])
        finally:
            if old is None:
                os.environ.pop("ONHANDPUB_NO_TMPFILE", None)
            else:
                os.environ["ONHANDPUB_NO_TMPFILE"] = old
        with open(log) as f:
            return r, f.read().splitlines()

    def check_creations(self, lines, expect_finals):
        created, renamed, linked, unnamed = [], [], [], set()
        for line in lines:
            m = re.search(r'\bopenat\((\w+|-?\d+), "([^"]*)", ([A-Z_|]+)[^=]*= (-?\d+)', line)
            if m and "O_TMPFILE" in m.group(3):
                # an unnamed file in the directory dirfd: nothing to follow, nothing to replace
                self.assertEqual(m.group(2), ".", line)
                self.assertNotIn("O_CREAT", m.group(3), line)
                if int(m.group(4)) >= 0:
                    unnamed.add(m.group(4))
                continue
            ml = re.search(r'\blinkat\((\w+|-?\d+), "([^"]*)", (\w+|-?\d+), "([^"]*)", '
                           r'([A-Z_]+)\) = 0', line)
            if ml:
                src_fd, src, dst_dir, dst = ml.groups()[:4]
                if src == "":
                    self.assertIn(src_fd, unnamed, "linked a file it did not create: " + line)
                elif src.startswith("/proc/self/fd/"):
                    self.assertIn(src[len("/proc/self/fd/"):], unnamed, line)
                else:
                    self.assertEqual(src_fd, dst_dir, "linked across directories: " + line)
                    self.assertIn(src, created, "linked a file it did not create: " + line)
                self.assertNotIn("/", dst, line)
                if dst.startswith(".") and ".tmp." in dst:
                    created.append(dst)  # the name of the moment before a rename
                else:
                    linked.append(dst)
                continue
            if m is None:
                m2 = re.search(r'\bopen\("([^"]*)", ([A-Z_|]+)', line)
                if m2 is None:
                    if re.search(r"\bcreat\(", line):
                        self.fail("creat() used: " + line)
                    mr = re.search(r'\brenameat2?\((\d+), "([^"]*)", (\d+), "([^"]*)"', line)
                    if mr and not line.rstrip().endswith("= -1"):
                        renamed.append((mr.group(2), mr.group(4), mr.group(1) == mr.group(3)))
                    elif re.search(r'\brename\("', line):
                        self.fail("rename() by path instead of in the directory: " + line)
                    continue
                path, flags = m2.group(1), m2.group(2).split("|")
                dirfd = None
            else:
                dirfd, path, flags = m.group(1), m.group(2), m.group(3).split("|")
            if "O_CREAT" not in flags:
                continue
            if path.startswith("/dev/") or "/ld.so" in path or path.endswith(".so.1"):
                continue
            created.append(path)
            self.assertIn("O_NOFOLLOW", flags, line)
            if path.endswith(".lock"):
                self.assertNotIn("O_TRUNC", flags, line)
                continue
            # everything else: a fresh temporary name in the target directory
            self.assertIn("O_EXCL", flags, line)
            self.assertIsNotNone(dirfd, "created by path, not in its directory: " + line)
            self.assertNotIn("/", path, line)
            self.assertTrue(path.startswith(".") and ".tmp." in path, line)
        finals = sorted([os.path.basename(new) for _, new, _ in renamed] + linked)
        for old, new, same_dir in renamed:
            self.assertTrue(same_dir, "renamed across directories: %s -> %s" % (old, new))
            self.assertIn(old, created, "renamed a file it did not create: " + old)
            self.assertNotIn("/", new)
        self.assertEqual(finals, sorted(expect_finals))
        if not self.NO_TMPFILE:
            self.assertTrue(unnamed, "no O_TMPFILE file was created")
        return created

    def test_publish_creates_with_excl_nofollow(self):
        r, lines = self.traced(extra=["--on-error", "reject", "--rejects", self.rejects],
                               bad=True)
        self.assertEqual(r.returncode, 1, r.stderr)  # succeeded with a rejected record
        zipname = os.path.basename(r.stdout.strip())
        # the state file is written twice: the run id reserved, then the run recorded
        created = self.check_creations(lines, [zipname, "state.psv", "state.psv",
                                               "rejects.psv"])
        self.assertTrue(any(c.endswith("state.psv.lock") for c in created), created)
        self.assertEqual(sorted(os.listdir(self.out)), [zipname])

    def test_second_run_still_excl(self):
        r, _ = self.traced()
        self.assertEqual(r.returncode, 0, r.stderr)
        # the state file and its lock exist now: they are still never written in place
        r, lines = self.traced(now="2026/01/16 18:00:00")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.check_creations(lines, [os.path.basename(r.stdout.strip()), "state.psv",
                                     "state.psv"])


class TestCreationFlagsNamed(TestCreationFlags):
    """The same where O_TMPFILE is not available: named temporaries."""

    NO_TMPFILE = True


class TestPlantedSymlinks(SafetyTest):
    def test_symlink_at_zip_name(self):
        v = self.victim()
        name = "ONHAND_0_M1_1_20260115180000.zip"
        os.symlink(v, os.path.join(self.out, name))
        r = self.publish()
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("already exists", r.stderr)
        self.assertVictim(v)
        self.assertTrue(os.path.islink(os.path.join(self.out, name)))
        # nothing recorded but the reserved run id
        with open(self.state, encoding="utf-8") as f:
            self.assertEqual(f.read().splitlines()[3:], [])

    def test_symlink_at_rejects_file(self):
        v = self.victim()
        os.symlink(v, self.rejects)
        r = self.publish(extra=["--on-error", "reject", "--rejects", self.rejects], bad=True)
        self.assertIn(r.returncode, (1, 4), r.stderr)
        self.assertVictim(v)
        if os.path.lexists(self.rejects) and not os.path.islink(self.rejects):
            # replaced by rename: the link itself, never its target
            with open(self.rejects) as f:
                self.assertTrue(f.read().startswith("ORDINAL|REASON|"))

    def test_symlink_at_state_and_lock(self):
        v = self.victim()
        os.symlink(v, self.state)
        r = self.publish()
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertVictim(v)
        self.assertEqual(os.listdir(self.out), [])
        os.unlink(self.state)
        if os.path.lexists(self.state + ".lock"):
            os.unlink(self.state + ".lock")
        os.symlink(v, self.state + ".lock")
        r = self.publish()
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertVictim(v)
        self.assertEqual(os.listdir(self.out), [])

    def test_dangling_symlink_at_state(self):
        # A dangling link must not be followed to create its target.
        target = os.path.join(self.root, "created-through-link")
        os.symlink(target, self.state)
        r = self.publish()
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertFalse(os.path.exists(target))
        os.unlink(self.state)
        if os.path.lexists(self.state + ".lock"):
            os.unlink(self.state + ".lock")
        os.symlink(target, self.state + ".lock")
        r = self.publish()
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertFalse(os.path.exists(target))


class TestOutputNames(SafetyTest):
    ORGS = ["../../x", "a/b", "..", ".", "/etc/passwd", "../../../../../../tmp/ohp-escape",
            "M1/../../..", "x\\y", ".hidden", "-", "~", "Ω/…", "a b", "a|b", '"q"', "x\ny"]

    def test_org_cannot_escape_outdir(self):
        before = tree(self.root)
        outside_before = set(os.listdir(tempfile.gettempdir()))
        for i, org in enumerate(self.ORGS):
            with self.subTest(org=org):
                for n in os.listdir(self.out):
                    os.unlink(os.path.join(self.out, n))
                if os.path.exists(self.state):
                    os.unlink(self.state)
                r = self.publish(org=org, extra=["--run-id", str(i + 1)])
                if r.returncode != 0:
                    # a refusal is fine (a usage error or a bad value), a file elsewhere is not
                    self.assertIn(r.returncode, (2, 3, 4), r.stderr)
                    self.assertEqual(os.listdir(self.out), [])
                    continue
                path = r.stdout.strip()
                self.assertEqual(os.path.dirname(os.path.realpath(path)),
                                 os.path.realpath(self.out))
                names = os.listdir(self.out)
                self.assertEqual(len(names), 1, names)
                self.assertRegex(names[0], ZIP_NAME)
                with zipfile.ZipFile(os.path.join(self.out, names[0])) as z:
                    entries = z.namelist()
                    self.assertEqual(len(entries), 1)
                    self.assertNotIn("/", entries[0])
                    self.assertNotIn("\\", entries[0])
                    self.assertFalse(entries[0].startswith("."))
                    text = z.read(entries[0]).decode("utf-8")
                    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter="|"))
                    self.assertEqual(len(rows), 1 + 4, text)  # header, 1 + 3 serials
                    self.assertTrue(all(row[5] == org for row in rows[1:]), rows)
        after = tree(self.root)
        allowed = {os.path.relpath(p, self.root) for p in
                   (self.state, self.state + ".lock", os.path.join(self.base, "in.psv"))}
        new = {p for p in after - before if not p.startswith(os.path.relpath(self.out, self.root))}
        self.assertEqual(new - allowed, set())
        self.assertFalse(os.path.exists("/tmp/ohp-escape"))
        outside_after = set(os.listdir(tempfile.gettempdir()))
        self.assertFalse(any("escape" in n for n in outside_after - outside_before))


class TestUmask(SafetyTest):
    def test_modes_follow_umask(self):
        for mask, mode in ((0o027, 0o640), (0o077, 0o600), (0o022, 0o644), (0o002, 0o664)):
            with self.subTest(umask=oct(mask)):
                for n in os.listdir(self.out):
                    os.unlink(os.path.join(self.out, n))
                for p in (self.state, self.state + ".lock", self.rejects):
                    if os.path.exists(p):
                        os.unlink(p)
                r = self.publish(extra=["--on-error", "reject", "--rejects", self.rejects],
                                 bad=True, umask=mask)
                self.assertEqual(r.returncode, 1, r.stderr)
                zip_path = r.stdout.strip()
                for p in (zip_path, self.state, self.rejects, self.state + ".lock"):
                    st = os.lstat(p)
                    self.assertEqual(st.st_mode & 0o7777, mode,
                                     "%s: %o" % (os.path.basename(p), st.st_mode & 0o7777))


if __name__ == "__main__":
    if not CLI or not os.path.exists(CLI):
        print("OHP_CLI must name the onhandpub program")
        sys.exit(1)
    unittest.main(verbosity=2)
