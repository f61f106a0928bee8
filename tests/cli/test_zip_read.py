#!/usr/bin/env python3
"""End-to-end tests of the archives `onhandpub reconcile` and `onhandpub fetch`
read (docs/psv-format.md, "Reading an archive back"; docs/cli.md).

- Valid ZIP64 archives of a published snapshot, written by Python's zipfile
  (force_zip64), Info-ZIP `zip -fz` and bsdtar (zip:zip64), reconcile clean
  against the published snapshot and are fetched unchanged.
- Archives whose parts disagree (the local header names another entry; the
  end record misses its last byte; a NUL in the entry name) are refused by
  both commands, the message naming the disagreement.
- A document whose listed file name holds a NUL byte is refused, not saved
  under the name cut at the NUL.
- A small archive declaring a 4 GB entry fails without taking memory.

Environment: OHP_CLI is the program, OHP_CLI_DATA the sample data directory,
OHP_CLI_UCM is 1 when the program was built with libcurl (the fetch tests
are skipped otherwise).  Needs Info-ZIP `zip` and `bsdtar` (Debian zip,
libarchive-tools); a missing tool is a failure.
"""

import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

CLI = os.environ.get("OHP_CLI", "")
DATA = os.environ.get("OHP_CLI_DATA", "")
UCM = os.environ.get("OHP_CLI_UCM") == "1"
TIMEOUT = 120
VALGRIND = bool(os.environ.get("OHP_UNDER_VALGRIND"))

USER = "svc_onhand"
PASSWORD = "s3cret-Pa55-w0rd"
ACCOUNT = "inv$/onhand$/export$"

for _var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
    os.environ.pop(_var, None)
os.environ["no_proxy"] = os.environ["NO_PROXY"] = "127.0.0.1,localhost"


def command(args):
    cmd = [CLI] + list(args)
    if VALGRIND:
        cmd = ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
               "--errors-for-leak-kinds=definite,indirect"] + cmd
    return cmd


def run(*args):
    p = subprocess.run(command(args), capture_output=True, text=True,
                       timeout=TIMEOUT * (10 if VALGRIND else 1))
    return p.returncode, p.stdout, p.stderr


def tool(name):
    path = shutil.which(name)
    if path is None:
        raise AssertionError(f"{name} is required (Debian packages zip, libarchive-tools)")
    return path


def local_zip64(data):
    """Whether the first local header carries a ZIP64 extra field."""
    nlen, xlen = struct.unpack_from("<HH", data, 26)
    extra = data[30 + nlen:30 + nlen + xlen]
    o = 0
    while o + 4 <= len(extra):
        tag, n = struct.unpack_from("<HH", extra, o)
        if tag == 1:
            return True
        o += 4 + n
    return False


class ZipArchives(unittest.TestCase):
    def setUp(self):
        if not CLI or not DATA:
            self.skipTest("OHP_CLI and OHP_CLI_DATA not set")
        self.dir = tempfile.mkdtemp(prefix="ohp-cli-zip-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        out = os.path.join(self.dir, "out")
        os.mkdir(out)
        rc, stdout, err = run("publish", "--input", os.path.join(DATA, "balances.psv"), "--org",
                              "M1", "--no-auth", "--outdir", out, "--full", "--now",
                              "2026/01/15 18:00:00")
        self.assertEqual(rc, 0, err)
        self.published = stdout.strip()
        with zipfile.ZipFile(self.published) as z:
            (self.entry,) = z.namelist()
            self.psv = z.read(self.entry)
        self.zip_name = os.path.basename(self.published)

    # ---- archives ----

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def foreign(self):
        """{writer: bytes} for the published entry archived as ZIP64 by other writers."""
        src = os.path.join(self.dir, "src")
        os.makedirs(src, exist_ok=True)
        with open(os.path.join(src, self.entry), "wb") as f:
            f.write(self.psv)
        out = {}
        b = io.BytesIO()
        with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
            with z.open(self.entry, "w", force_zip64=True) as f:
                f.write(self.psv)
        out["python zipfile force_zip64"] = b.getvalue()
        target = os.path.join(self.dir, "tool.zip")
        for what, args in (
                ("Info-ZIP zip -fz", [tool("zip"), "-q", "-X", "-fz", target, self.entry]),
                ("bsdtar zip64", [tool("bsdtar"), "--format", "zip", "--options", "zip:zip64",
                                  "-cf", target, self.entry])):
            if os.path.exists(target):
                os.unlink(target)
            p = subprocess.run(args, cwd=src, capture_output=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            out[what] = self.read(target)
        for what, data in out.items():
            self.assertTrue(local_zip64(data), what + ": not a ZIP64 archive")
        return out

    def python_zip(self, name=None):
        b = io.BytesIO()
        with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(name or self.entry, self.psv)
        return bytearray(b.getvalue())

    def damaged(self):
        """{what: (bytes, the words the message must hold)}."""
        out = {}
        z = self.python_zip()
        # the local header names another entry (same length, last byte)
        z[30 + len(self.entry) - 1] = ord("w")
        other = self.entry[:-1] + "w"
        out["local name differs"] = (bytes(z), [
            "the local header names the entry '%s', the central directory '%s'" % (other,
                                                                                  self.entry)])
        # the end record misses its last byte
        out["end record cut"] = (bytes(self.python_zip()[:-1]),
                                 ["end of central directory record is cut short (21 of its 22 "
                                  "bytes)"])
        # a NUL in the entry name, in both headers
        z = self.python_zip()
        cd = z.rfind(b"PK\x01\x02")
        z[30 + 6] = 0
        z[cd + 46 + 6] = 0
        out["NUL in the entry name"] = (bytes(z), ["holds a NUL byte"])
        return out

    # ---- reconcile ----

    def test_reconcile_reads_zip64_archives_of_other_writers(self):
        for what, data in self.foreign().items():
            path = self.write("foreign.zip", data)
            for args in (["--snapshot", path, "--external", self.published],
                         ["--snapshot", self.published, "--external", path]):
                rc, out, err = run("reconcile", *args)
                self.assertEqual(rc, 0, f"{what}: {err}")
                self.assertIn("discrepancies:       0", err, what)
                self.assertNotIn("external 0", err.split("lines read:")[1].splitlines()[0], what)

    def test_reconcile_refuses_inconsistent_archives(self):
        for what, (data, words) in self.damaged().items():
            path = self.write("damaged.zip", data)
            for args in (["--snapshot", path, "--external", self.published],
                         ["--snapshot", self.published, "--external", path]):
                rc, out, err = run("reconcile", *args)
                self.assertEqual(rc, 4, f"{what}: {err}")
                for w in words:
                    self.assertIn(w, err, what)
                self.assertIn("damaged.zip", err, what)

    def test_declared_size_takes_no_memory(self):
        # the ERP side out of key order, so that the reconciler hashes its keys
        lines = self.psv.decode().splitlines(keepends=True)
        erp = self.write("erp.zip", self.zip_of(lines[0] + "".join(reversed(lines[1:]))))
        z = bytearray(self.zip_of("".join(lines)))
        cd = z.rfind(b"PK\x01\x02")
        struct.pack_into("<I", z, 22, 4000000000)  # local header
        struct.pack_into("<I", z, cd + 24, 4000000000)  # central directory
        self.assertLess(len(z), 4096)
        ext = self.write("declares-4gb.zip", bytes(z))
        # run it alone, to have its own resource usage
        with open(os.path.join(self.dir, "err.txt"), "w+b") as errf:
            p = subprocess.Popen(command(["reconcile", "--snapshot", erp, "--external", ext]),
                                 stdout=subprocess.DEVNULL, stderr=errf)
            _, status, rusage = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            errf.seek(0)
            err = errf.read()
        self.assertEqual(p.returncode, 4, err)
        self.assertIn(b"its size is 4000000000", err)
        if not VALGRIND:
            # ru_maxrss in KiB; it took about 1 GiB before
            self.assertLess(rusage.ru_maxrss, 64 * 1024, "max RSS %d KiB" % rusage.ru_maxrss)

    def zip_of(self, text):
        b = io.BytesIO()
        with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(self.entry, text)
        return b.getvalue()

    # ---- fetch ----

    def fetch(self, stub):
        cred = os.path.join(self.dir, "ucm.cred")
        with open(cred, "w") as f:
            f.write("%s:%s\n" % (USER, PASSWORD))
        os.chmod(cred, 0o600)
        inbox = os.path.join(self.dir, "inbox")
        os.makedirs(inbox, exist_ok=True)
        rc, out, err = run("fetch", "--ucm", stub.url, "--ucm-account", ACCOUNT,
                           "--ucm-credentials", cred, "--prefix", "ONHAND_0_M1_", "--outdir",
                           inbox, "--ucm-backoff", "0")
        return rc, out, err, inbox

    def stub(self):
        if not UCM:
            self.skipTest("built without libcurl")
        from ucm_stub import UcmStub
        s = UcmStub(USER, PASSWORD).start()
        self.addCleanup(s.stop)
        return s

    def test_fetch_accepts_zip64_archives_of_other_writers(self):
        stub = self.stub()
        docs = {}
        for i, (what, data) in enumerate(sorted(self.foreign().items()), start=2):
            name = "ONHAND_0_M1_%d_20260116180000.zip" % i
            stub.add_document(name, data, ACCOUNT)
            docs[name] = data
        rc, out, err, inbox = self.fetch(stub)
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(os.listdir(inbox)), sorted(docs))
        for name, data in docs.items():
            self.assertEqual(self.read(os.path.join(inbox, name)), data, name)

    def test_fetch_refuses_inconsistent_archives(self):
        stub = self.stub()
        cases = sorted(self.damaged().items())
        for i, (what, (data, words)) in enumerate(cases, start=2):
            stub.add_document("ONHAND_0_M1_%d_20260116180000.zip" % i, data, ACCOUNT)
        rc, out, err, inbox = self.fetch(stub)
        self.assertEqual(rc, 4, err)
        for what, (data, words) in cases:
            for w in words:
                self.assertIn(w, err, what)
        self.assertIn("%d refused" % len(cases), err)
        self.assertEqual(os.listdir(inbox), [])

    def test_fetch_refuses_a_file_name_holding_a_nul(self):
        stub = self.stub()
        good = self.read(self.published)
        stub.add_document("ONHAND_0_M1_2_20260116180000.zip\x00.sh", good, ACCOUNT)
        stub.add_document("ONHAND_0_M1_3_20260116180000.zip", good, ACCOUNT)
        rc, out, err, inbox = self.fetch(stub)
        self.assertEqual(rc, 4, err)
        self.assertIn("holds a NUL byte", err)
        self.assertIn("1 refused", err)
        # the good one is fetched, nothing under the name cut at the NUL
        self.assertEqual(os.listdir(inbox), ["ONHAND_0_M1_3_20260116180000.zip"])


if __name__ == "__main__":
    if not CLI or not DATA:
        print("OHP_CLI and OHP_CLI_DATA must be set", file=sys.stderr)
        sys.exit(2)
    unittest.main(verbosity=2)
