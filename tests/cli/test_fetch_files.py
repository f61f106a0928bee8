#!/usr/bin/env python3
"""The files `onhandpub fetch` writes (docs/cli.md, "Files the command writes").

- The fetch state file reads back with unusual names (blanks, UTF-8).
- A fetched file never replaces anything at its name, a FIFO included.
- A fetch state file (or lock) that is not a regular file is refused at once.
- A killed fetch's named temporaries (ONHANDPUB_NO_TMPFILE=1) are removed by
  the next fetch once their process is gone.

Runs against tests/cli/ucm_stub.py on 127.0.0.1; skipped (77) when the
program was built without libcurl.  Python 3 standard library only.
"""
import csv
import io
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ucm_stub import UcmStub  # noqa: E402

CLI = os.environ.get("OHP_CLI", "")
DATA = os.environ.get("OHP_CLI_DATA", "")
TIMEOUT = 120
VALGRIND = bool(os.environ.get("OHP_UNDER_VALGRIND"))
USER = "svc_onhand"
PASSWORD = "s3cret-Pa55-w0rd"
ACCOUNT = "inv$/onhand$/export$"

for _var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
    os.environ.pop(_var, None)
os.environ["no_proxy"] = os.environ["NO_PROXY"] = "127.0.0.1,localhost"


def command(args):
    if not VALGRIND:
        return [CLI] + list(args)
    return ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect", CLI] + list(args)


def read(path):
    with open(path, "rb") as f:
        return f.read()


class FetchFilesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ohp-fetch-files-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.inbox = os.path.join(self.tmp, "inbox")
        os.mkdir(self.inbox)
        self.state = os.path.join(self.tmp, "fetched.psv")
        self.cred = os.path.join(self.tmp, "cred")
        with open(self.cred, "w") as f:
            f.write("%s:%s\n" % (USER, PASSWORD))
        os.chmod(self.cred, 0o600)
        self.stub = UcmStub(USER, PASSWORD).start()
        self.addCleanup(self.stub.stop)
        out = os.path.join(self.tmp, "out")
        os.mkdir(out)
        r = subprocess.run([CLI, "publish", "--input", os.path.join(DATA, "balances.psv"),
                            "--org", "M1", "--no-auth", "--outdir", out, "--now", "2026/01/15"],
                           capture_output=True, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.content = read(r.stdout.decode().strip())

    def fetch(self, env=None, timeout=TIMEOUT):
        e = dict(os.environ)
        e.pop("ONHANDPUB_UCM_USER", None)
        e.pop("ONHANDPUB_UCM_PASSWORD", None)
        e.update(env or {})
        p = subprocess.run(command(["fetch", "--ucm", self.stub.url, "--ucm-account", ACCOUNT,
                                    "--ucm-credentials", self.cred, "--prefix", "ONHAND_0_M1_",
                                    "--outdir", self.inbox, "--state", self.state,
                                    "--ucm-backoff", "0"]),
                           capture_output=True, timeout=timeout, env=e)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def test_state_reads_back_and_nothing_is_replaced(self):
        names = ["ONHAND_0_M1_ lead Ωµ€ 東京.zip", "ONHAND_0_M1_two  blanks .zip",
                 "ONHAND_0_M1_fifo.zip", "ONHAND_0_M1_taken.zip"]
        for n in names:
            self.stub.add_document(n, self.content, ACCOUNT)
        fifo = os.path.join(self.inbox, "ONHAND_0_M1_fifo.zip")
        os.mkfifo(fifo)
        taken = os.path.join(self.inbox, "ONHAND_0_M1_taken.zip")
        with open(taken, "wb") as f:
            f.write(b"precious")
        rc, out, err = self.fetch()
        self.assertEqual(rc, 4, err)
        self.assertIn("never replaced", err)
        self.assertTrue(stat.S_ISFIFO(os.lstat(fifo).st_mode))
        self.assertEqual(read(taken), b"precious")
        for n in names[:2]:
            self.assertEqual(read(os.path.join(self.inbox, n)), self.content)
        rows = list(csv.reader(io.StringIO(read(self.state).decode("utf-8"), newline=""),
                               delimiter="|", strict=True))
        self.assertEqual(rows[0], ["ONHANDPUB_FETCH", "1"])
        self.assertEqual(rows[1], ["DOCUMENT_ID", "FILE_NAME", "FETCHED_DATE"])
        self.assertEqual(sorted(r[1] for r in rows[2:]), sorted(names[:2]))
        self.assertEqual(sorted(os.listdir(self.inbox)), sorted(names))

    def test_state_fifo_and_symlinked_lock_refused_at_once(self):
        self.stub.add_document("ONHAND_0_M1_1.zip", self.content, ACCOUNT)
        os.mkfifo(self.state)
        rc, out, err = self.fetch(timeout=30)
        self.assertEqual(rc, 4, err)
        self.assertIn("not a regular file", err)
        self.assertTrue(stat.S_ISFIFO(os.lstat(self.state).st_mode))
        os.unlink(self.state)
        victim = os.path.join(self.tmp, "victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        os.symlink(victim, self.state + ".lock")
        rc, out, err = self.fetch(timeout=30)
        self.assertEqual(rc, 4, err)
        self.assertIn("not a regular file", err)
        self.assertEqual(read(victim), b"precious\n")
        self.assertEqual(os.listdir(self.inbox), [])

    def test_named_temporaries_of_dead_fetches_removed(self):
        self.stub.add_document("ONHAND_0_M1_1.zip", self.content, ACCOUNT)
        p = subprocess.Popen(["true"])
        p.wait()
        dead = os.path.join(self.inbox, ".ONHAND_0_M1_1.zip.tmp.%d.0123456789abcdef" % p.pid)
        dead_state = os.path.join(self.tmp, ".fetched.psv.tmp.%d.0123456789abcdef" % p.pid)
        for path in (dead, dead_state):
            with open(path, "w") as f:
                f.write("partial")
        rc, out, err = self.fetch(env={"ONHANDPUB_NO_TMPFILE": "1"})
        self.assertEqual(rc, 0, err)
        self.assertEqual(os.listdir(self.inbox), ["ONHAND_0_M1_1.zip"])
        self.assertFalse(os.path.exists(dead_state))


if __name__ == "__main__":
    if os.environ.get("OHP_CLI_UCM") != "1":
        print("onhandpub was built without content-server support (libcurl): skipped")
        sys.exit(77)
    if not CLI or not DATA:
        print("OHP_CLI and OHP_CLI_DATA must be set", file=sys.stderr)
        sys.exit(1)
    unittest.main(verbosity=2)
