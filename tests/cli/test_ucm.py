#!/usr/bin/env python3
"""End-to-end tests of the content-server hop of the onhandpub command:
`publish --ucm` (upload) and `fetch`, against the stub service of
ucm_stub.py on 127.0.0.1 (docs/cli.md, "Content server").

Environment: OHP_CLI is the program, OHP_CLI_DATA the sample data directory,
OHP_CLI_UCM is 1 when the program was built with libcurl (else every test is
skipped: exit 77).  Python 3 standard library only.
"""

import base64
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ucm_stub import UcmStub  # noqa: E402

CLI = os.environ.get("OHP_CLI", "")
DATA = os.environ.get("OHP_CLI_DATA", "")
TIMEOUT = 120
VALGRIND = bool(os.environ.get("OHP_UNDER_VALGRIND"))
VG_LOGS = None

USER = "svc_onhand"
PASSWORD = "s3cret-Pa55-w0rd"
ACCOUNT = "inv$/onhand$/export$"  # site-specific; any account the stub is given
ACCOUNT_Q = urllib.parse.quote(ACCOUNT, safe="")
SECRETS = [USER, PASSWORD, base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()]


# The stub is on 127.0.0.1: no proxy of the environment may stand in between.
for _var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
    os.environ.pop(_var, None)
os.environ["no_proxy"] = os.environ["NO_PROXY"] = "127.0.0.1,localhost"


def command(args):
    global VG_LOGS
    if not VALGRIND:
        return [CLI] + list(args)
    if VG_LOGS is None:
        VG_LOGS = tempfile.mkdtemp(prefix="ohp-ucm-valgrind-")
        os.chmod(VG_LOGS, 0o1777)
    return ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect",
            "--log-file=" + os.path.join(VG_LOGS, "vg.%p.log"), CLI] + list(args)


def data(name):
    return os.path.join(DATA, name)



def watermark_rows(path):
    """The state file's data rows ([] when there is no file): what a failed run
    leaves as it was (its run id is reserved, so the counter may move)."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()[3:]

class UcmTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ohp-ucm-")
        self.out = os.path.join(self.tmp, "out")
        self.inbox = os.path.join(self.tmp, "inbox")
        os.mkdir(self.out)
        os.mkdir(self.inbox)
        self.state = os.path.join(self.tmp, "state.psv")
        self.cred = os.path.join(self.tmp, "ucm.cred")
        self.write_cred(self.cred, "%s:%s\n" % (USER, PASSWORD))
        self.stub = UcmStub(USER, PASSWORD).start()
        self.outputs = []  # every stdout and stderr, for the secrecy checks

    def tearDown(self):
        self.stub.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_cred(self, path, text, mode=0o600):
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)

    def run_cli(self, args, env=None, timeout=TIMEOUT):
        e = dict(os.environ)
        e.pop("ONHANDPUB_UCM_USER", None)
        e.pop("ONHANDPUB_UCM_PASSWORD", None)
        if env:
            e.update(env)
        p = subprocess.run(command(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, env=e)
        out, err = p.stdout.decode(), p.stderr.decode()
        self.outputs += [out, err]
        self.assertNotEqual(p.returncode, 99, "valgrind: " + err)
        return p.returncode, out, err

    def publish(self, now, extra=(), cred=True, input_name="balances.psv", org="M1",
                backoff="0"):
        args = ["publish", "--input", input_name if os.path.isabs(input_name) else
                data(input_name), "--org", org, "--no-auth", "--state", self.state,
                "--outdir", self.out, "--now", now, "--ucm", self.stub.url,
                "--ucm-account", ACCOUNT, "--ucm-backoff", backoff]
        if cred:
            args += ["--ucm-credentials", self.cred]
        return self.run_cli(args + list(extra))

    def fetch(self, extra=()):
        return self.run_cli(["fetch", "--ucm", self.stub.url, "--ucm-account", ACCOUNT,
                             "--ucm-credentials", self.cred, "--prefix", "ONHAND_0_M1_",
                             "--outdir", self.inbox, "--state",
                             os.path.join(self.tmp, "fetched.psv"), "--ucm-backoff", "0"]
                            + list(extra))

    def read(self, path):
        with open(path, "rb") as f:
            return f.read()

    def zips(self, folder):
        return sorted(n for n in os.listdir(folder) if n.endswith(".zip"))

    def assert_no_temp(self, folder):
        self.assertEqual([n for n in os.listdir(folder) if n.startswith(".")], [])

    def uploads(self):
        return self.stub.operations("uploadFileToUCM")

    def make_cert(self):
        """A self-signed certificate for 127.0.0.1 (subjectAltName IP): (cert, key)."""
        openssl = shutil.which("openssl")
        if openssl is None:
            self.skipTest("no openssl command to make a certificate")
        cert, key = (os.path.join(self.tmp, n) for n in ("cert.pem", "key.pem"))
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=60)
        return cert, key

    def stub_get(self, query):
        """GET the stub's resource with this raw query; (status, decoded JSON answer)."""
        req = urllib.request.Request(
            self.stub.url + "/fscmRestApi/resources/11.13.18.05/erpintegrations?" + query,
            headers={"Authorization": "Basic " + SECRETS[2]})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    # ---- publish --ucm ----

    def test_upload_is_the_local_zip_byte_for_byte(self):
        rc, out, err = self.publish("2026/01/15 18:00:00")
        self.assertEqual(rc, 0, err)
        path = out.strip()
        self.assertEqual(os.path.dirname(path), self.out)
        self.assertEqual(len(self.stub.documents), 1)
        (doc_id, doc), = self.stub.documents.items()
        self.assertEqual(doc["name"], os.path.basename(path))
        self.assertEqual(doc["account"], ACCOUNT)
        self.assertEqual(doc["content"], self.read(path))  # the local copy is kept, identical
        self.assertIn("document id %s" % doc_id, err)
        self.assertIn("0|M1|NONSERIAL|2026/01/15 18:00:00|2026/01/15 18:00:00|1",
                      self.read(self.state).decode())
        self.assertEqual(len(self.uploads()), 1)

    def test_wrong_credentials_exit_3_watermark_unchanged(self):
        self.assertEqual(self.publish("2026/01/15 18:00:00")[0], 0)
        before = watermark_rows(self.state)
        self.write_cred(self.cred, "%s:not-the-password\n" % USER)
        rc, out, err = self.publish("2026/01/16 18:00:00")
        self.assertEqual(rc, 3, err)
        self.assertIn("not authorized", err)
        self.assertIn("401", err)
        self.assertEqual(out, "")
        self.assertEqual(watermark_rows(self.state), before)
        self.assertEqual(len(self.zips(self.out)), 1)  # the failed run's ZIP is not left
        self.assert_no_temp(self.out)
        self.assertEqual(len(self.uploads()), 1 + 1)  # no retry after 401
        self.assertEqual(len(self.stub.documents), 1)

    def test_other_4xx_fails_at_once_with_the_service_message(self):
        self.stub.fail_uploads = [400]
        rc, out, err = self.publish("2026/01/15 18:00:00")
        self.assertEqual(rc, 4, err)
        self.assertIn("HTTP 400", err)
        self.assertIn("injected failure 400", err)
        self.assertEqual(len(self.uploads()), 1)
        self.assertEqual(watermark_rows(self.state), [])
        self.assertEqual(self.zips(self.out), [])

    def test_500_then_success_one_document(self):
        self.stub.fail_uploads = [500]
        rc, out, err = self.publish("2026/01/15 18:00:00")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(self.stub.documents), 1)
        ops = [e[1] for e in self.stub.log]
        self.assertEqual(ops, ["uploadFileToUCM", "list", "uploadFileToUCM"])
        (doc_id, doc), = self.stub.documents.items()
        self.assertIn("document id %s" % doc_id, err)
        self.assertEqual(doc["content"], self.read(out.strip()))

    def test_500_until_the_retries_run_out(self):
        self.stub.fail_uploads = [500, 502, 503, 500]
        rc, out, err = self.publish("2026/01/15 18:00:00", ["--ucm-retries", "2"])
        self.assertEqual(rc, 4, err)
        self.assertIn("gave up after 3 attempts", err)
        ops = [e[1] for e in self.stub.log]
        self.assertEqual(ops, ["uploadFileToUCM", "list", "uploadFileToUCM", "list",
                               "uploadFileToUCM"])
        self.assertEqual(self.stub.documents, {})
        self.assertEqual(watermark_rows(self.state), [])
        self.assertEqual(self.zips(self.out), [])
        self.assert_no_temp(self.out)

    def test_dropped_answer_after_store_no_duplicate(self):
        self.stub.drop_after_store = 1
        rc, out, err = self.publish("2026/01/15 18:00:00")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(self.stub.documents), 1)
        (doc_id, doc), = self.stub.documents.items()
        self.assertIn("document id %s" % doc_id, err)
        self.assertIn("found by listing", err)
        self.assertEqual([e[1] for e in self.stub.log], ["uploadFileToUCM", "list"])
        self.assertEqual(doc["content"], self.read(out.strip()))
        self.assertIn("|1\n", self.read(self.state).decode())

    def test_stall_hits_the_timeout(self):
        self.assertEqual(self.publish("2026/01/15 18:00:00")[0], 0)
        before = watermark_rows(self.state)
        self.stub.stall_seconds = 8
        t0 = time.monotonic()
        rc, out, err = self.publish("2026/01/16 18:00:00",
                                    ["--ucm-timeout", "1", "--ucm-retries", "1"])
        elapsed = time.monotonic() - t0
        self.assertEqual(rc, 4, err)
        self.assertRegex(err, "(?i)timed? ?out")
        self.assertLess(elapsed, 7 if not VALGRIND else 60)
        self.assertEqual(watermark_rows(self.state), before)
        self.assertEqual(len(self.zips(self.out)), 1)
        self.assertEqual(len(self.stub.documents), 1)

    def test_credentials_never_shown(self):
        # Error answers that echo the credentials, a refused login, a success, a fetch.
        self.stub.fail_uploads = [500]
        rc, out, err = self.publish("2026/01/15 18:00:00", ["--ucm-retries", "0"])
        self.assertEqual(rc, 4, err)
        self.stub.fail_uploads = []
        self.assertEqual(self.publish("2026/01/16 18:00:00")[0], 0)
        self.assertEqual(self.fetch()[0], 0)
        # The environment instead of a file.
        rc, out, err = self.publish("2026/01/17 18:00:00", cred=False,
                                    extra=["--ucm-retries", "0"])
        self.assertEqual(rc, 2, err)
        self.assertIn("ONHANDPUB_UCM_USER", err)
        env = {"ONHANDPUB_UCM_USER": USER, "ONHANDPUB_UCM_PASSWORD": PASSWORD}

        def env_args(now):
            return ["publish", "--input", data("balances.psv"), "--org", "M1", "--no-auth",
                    "--state", self.state, "--outdir", self.out, "--now", now,
                    "--ucm", self.stub.url, "--ucm-account", ACCOUNT]

        rc, out, err = self.run_cli(env_args("2026/01/17 18:00:00"), env=env)
        self.assertEqual(rc, 0, err)
        env["ONHANDPUB_UCM_PASSWORD"] = "wrong-" + PASSWORD
        rc, out, err = self.run_cli(env_args("2026/01/18 18:00:00"), env=env)
        self.assertEqual(rc, 3, err)
        # Server errors until the retries run out.
        self.stub.force_status = 500
        rc, out, err = self.publish("2026/01/19 18:00:00", ["--ucm-retries", "1"])
        self.assertEqual(rc, 4, err)
        for text in self.outputs:
            for s in SECRETS:
                self.assertNotIn(s, text)
        for folder in (self.tmp, self.out, self.inbox):
            for name in os.listdir(folder):
                p = os.path.join(folder, name)
                if os.path.isfile(p) and p != self.cred:
                    content = self.read(p)
                    for s in SECRETS:
                        self.assertNotIn(s.encode(), content, p)

    def test_service_message_is_scrubbed(self):
        # A 4xx whose text contains the user name and password: shown, but without them.
        self.stub.fail_uploads = [422]
        import ucm_stub
        orig_send = ucm_stub._Handler._send

        def send(handler, status, obj, headers=None):
            if status == 422:
                obj = {"title": "Unprocessable", "detail": "user %s password %s rejected"
                       % (USER, PASSWORD)}
            orig_send(handler, status, obj, headers)

        ucm_stub._Handler._send = send
        try:
            rc, out, err = self.publish("2026/01/15 18:00:00")
        finally:
            ucm_stub._Handler._send = orig_send
        self.assertEqual(rc, 4, err)
        self.assertIn("HTTP 422", err)
        self.assertIn("rejected", err)
        self.assertIn("***", err)
        for s in SECRETS:
            self.assertNotIn(s, err + out)

    def test_credentials_file_with_group_or_other_bits_refused(self):
        for mode in (0o640, 0o604, 0o660, 0o644):
            os.chmod(self.cred, mode)
            rc, out, err = self.publish("2026/01/15 18:00:00")
            self.assertEqual(rc, 2, "%o: %s" % (mode, err))
            self.assertIn("readable by its owner only", err)
        self.assertEqual(self.stub.log, [])
        self.assertEqual(self.zips(self.out), [])
        self.assertEqual(watermark_rows(self.state), [])
        os.chmod(self.cred, 0o400)
        self.assertEqual(self.publish("2026/01/15 18:00:00")[0], 0)

    def test_bad_credentials_files(self):
        for text in ("", "no-colon\n", ":password\n", "a:b\nc:d\n"):
            self.write_cred(self.cred, text)
            rc, out, err = self.publish("2026/01/15 18:00:00")
            self.assertEqual(rc, 2, repr(text) + err)
        self.assertEqual(self.stub.log, [])

    def test_usage_errors(self):
        base = ["publish", "--input", data("balances.psv"), "--org", "M1", "--no-auth",
                "--outdir", self.out]
        cases = [
            base + ["--ucm", self.stub.url],  # no account
            base + ["--ucm-account", ACCOUNT],  # no --ucm
            base + ["--ucm", "ftp://127.0.0.1/", "--ucm-account", ACCOUNT,
                    "--ucm-credentials", self.cred],
            base + ["--ucm", "http://u:p@127.0.0.1/", "--ucm-account", ACCOUNT,
                    "--ucm-credentials", self.cred],
            base + ["--ucm", self.stub.url, "--ucm-account", ACCOUNT, "--ucm-credentials",
                    self.cred, "--ucm-timeout", "0"],
            base + ["--ucm", self.stub.url, "--ucm-account", ACCOUNT, "--ucm-credentials",
                    self.cred, "--ucm-retries", "x"],
            base + ["--ucm", self.stub.url, "--ucm-account", ACCOUNT, "--ucm-credentials",
                    self.cred, "--ucm-backoff", "-1"],
            base + ["--ucm", self.stub.url, "--ucm-account", ACCOUNT, "--ucm-credentials",
                    os.path.join(self.tmp, "missing")],
            ["fetch", "--ucm", self.stub.url, "--ucm-account", ACCOUNT,
             "--ucm-credentials", self.cred],  # no prefix
            ["fetch", "--prefix", "X", "--ucm-account", ACCOUNT],  # no --ucm
        ]
        for args in cases:
            rc, out, err = self.run_cli(args)
            self.assertEqual(rc, 2, "%s: %s" % (args, err))
            self.assertEqual(len(err.strip().splitlines()), 1, err)
            self.assertNotIn("u:p@", err)
        self.assertEqual(self.stub.log, [])

    def test_insecure_warns(self):
        rc, out, err = self.publish("2026/01/15 18:00:00", ["--ucm-insecure"])
        self.assertEqual(rc, 0, err)
        self.assertIn("warning: --ucm-insecure", err)

    def test_tls_verified_by_default(self):
        # A plain-HTTP server given as https: the TLS handshake fails, nothing is published.
        url = self.stub.url.replace("http://", "https://")
        rc, out, err = self.run_cli(
            ["publish", "--input", data("balances.psv"), "--org", "M1", "--no-auth",
             "--outdir", self.out, "--ucm", url, "--ucm-account", ACCOUNT,
             "--ucm-credentials", self.cred, "--ucm-retries", "0", "--ucm-timeout", "5"])
        self.assertEqual(rc, 4, err)
        self.assertEqual(self.zips(self.out), [])

    def test_tls_certificate_verified_unless_insecure(self):
        openssl = shutil.which("openssl")
        if openssl is None:
            self.skipTest("no openssl command to make a certificate")
        cert, key = (os.path.join(self.tmp, n) for n in ("cert.pem", "key.pem"))
        subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=60)
        self.stub.stop()
        self.stub = UcmStub(USER, PASSWORD, tls=(cert, key)).start()
        self.assertTrue(self.stub.url.startswith("https://"))
        # A self-signed certificate: refused at once (no retry), nothing published.
        rc, out, err = self.publish("2026/01/15 18:00:00")
        self.assertEqual(rc, 4, err)
        self.assertIn("certificate", err)
        self.assertNotIn("retrying", err)
        self.assertEqual(self.stub.documents, {})
        self.assertEqual(self.zips(self.out), [])
        self.assertEqual(watermark_rows(self.state), [])
        # Turned off explicitly: a warning, and the upload goes through TLS.
        rc, out, err = self.publish("2026/01/15 18:00:00", ["--ucm-insecure"])
        self.assertEqual(rc, 0, err)
        self.assertIn("warning: --ucm-insecure", err)
        self.assertEqual(len(self.stub.documents), 1)

    # ---- fetch ----

    def test_fetch_downloads_only_new_documents(self):
        self.assertEqual(self.publish("2026/01/15 18:00:00")[0], 0)
        self.assertEqual(self.publish("2026/01/16 18:00:00",
                                      input_name="balances-update.psv")[0], 0)
        # A document of another organization (another prefix) is not fetched.
        self.assertEqual(self.publish("2026/01/16 19:00:00", org="M2")[0], 0)
        rc, out, err = self.fetch()
        self.assertEqual(rc, 0, err)
        first = out.split()
        self.assertEqual(len(first), 2)
        for p in first:
            name = os.path.basename(p)
            self.assertEqual(self.read(p), self.read(os.path.join(self.out, name)))
        self.assertIn("fetched 2 documents, 0 fetched before", err)
        # Nothing new: nothing downloaded.
        downloads = len(self.stub.operations("getDocumentForDocumentId"))
        rc, out, err = self.fetch()
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "")
        self.assertIn("fetched 0 documents, 2 fetched before", err)
        self.assertEqual(len(self.stub.operations("getDocumentForDocumentId")), downloads)
        # One more published: exactly that one.
        self.assertEqual(self.publish("2026/01/17 18:00:00",
                                      input_name="balances-update.psv")[0], 0)
        rc, out, err = self.fetch()
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(out.split()), 1)
        self.assertIn("_4_20260117180000.zip", out)  # run id 3 went to organization M2
        self.assertEqual(len(self.stub.operations("getDocumentForDocumentId")), downloads + 1)
        state = self.read(os.path.join(self.tmp, "fetched.psv")).decode().splitlines()
        self.assertEqual(state[0], "ONHANDPUB_FETCH|1")
        self.assertEqual(state[1], "DOCUMENT_ID|FILE_NAME|FETCHED_DATE")
        self.assertEqual(len(state), 5)
        self.assertEqual(len(self.zips(self.inbox)), 3)
        self.assert_no_temp(self.inbox)

    def test_fetch_reads_every_page_of_the_listing(self):
        self.assertEqual(self.publish("2026/01/15 18:00:00")[0], 0)
        content = self.read(os.path.join(self.out, self.zips(self.out)[0]))
        for i in range(2, 8):
            self.stub.add_document("ONHAND_0_M1_%d_20260116180000.zip" % i, content, ACCOUNT)
        self.stub.max_page = 2
        rc, out, err = self.fetch()
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(out.split()), 7)
        self.assertEqual(len(self.zips(self.inbox)), 7)
        self.assertEqual(len(self.stub.operations("list")), 4)

    def test_fetch_refuses_corrupted_documents(self):
        self.assertEqual(self.publish("2026/01/15 18:00:00")[0], 0)
        good = self.read(os.path.join(self.out, self.zips(self.out)[0]))
        # Stored (level 0) so that a flipped data byte breaks the CRC, not the inflater.
        self.assertEqual(self.publish("2026/01/16 18:00:00", ["--level", "0"])[0], 0)
        stored = self.read(os.path.join(self.out, self.zips(self.out)[1]))
        bad_crc = bytearray(stored)
        pos = stored.index(b"EXTERNAL_SYSTEM_CODE")
        bad_crc[pos] ^= 0x01
        two = io.BytesIO()
        with zipfile.ZipFile(two, "w") as z:
            z.writestr("a.psv", "A\n")
            z.writestr("b.psv", "B\n")
        not_psv = io.BytesIO()
        with zipfile.ZipFile(not_psv, "w") as z:
            z.writestr("a.txt", "A\n")
        bad = {
            "ONHAND_0_M1_7_20260120180000.zip": b"this is not a zip file",
            "ONHAND_0_M1_8_20260120180000.zip": bytes(bad_crc),
            "ONHAND_0_M1_9_20260120180000.zip": two.getvalue(),
            "ONHAND_0_M1_10_20260120180000.zip": not_psv.getvalue(),
            "ONHAND_0_M1_11_20260120180000.zip": good[: len(good) // 2],
        }
        for name, content in bad.items():
            self.stub.add_document(name, content, ACCOUNT)
        rc, out, err = self.fetch()
        self.assertEqual(rc, 4, err)
        self.assertEqual(sorted(os.path.basename(p) for p in out.split()), self.zips(self.out))
        self.assertIn("CRC", err)
        self.assertIn("2 entries", err)
        self.assertIn("not a .psv", err)
        self.assertIn("fetched 2 documents, 0 fetched before, 5 refused", err)
        for name in bad:
            self.assertFalse(os.path.exists(os.path.join(self.inbox, name)), name)
        self.assert_no_temp(self.inbox)
        # Refused documents are not recorded: they are tried again (and refused again).
        rc, out, err = self.fetch()
        self.assertEqual(rc, 4, err)
        self.assertIn("fetched 0 documents, 2 fetched before, 5 refused", err)
        # Not valid base64 in the answer.
        self.stub.documents.clear()
        self.stub.add_document("ONHAND_0_M1_12_20260120180000.zip", good, ACCOUNT)
        import ucm_stub
        orig_send = ucm_stub._Handler._send

        def send(handler, status, obj, headers=None):
            if isinstance(obj, dict) and obj.get("DocumentContent"):
                obj = dict(obj, DocumentContent="@@" + obj["DocumentContent"])
            orig_send(handler, status, obj, headers)

        ucm_stub._Handler._send = send
        try:
            rc, out, err = self.fetch()
        finally:
            ucm_stub._Handler._send = orig_send
        self.assertEqual(rc, 4, err)
        self.assertIn("base64", err)
        self.assertFalse(os.path.exists(os.path.join(self.inbox,
                                                     "ONHAND_0_M1_12_20260120180000.zip")))
        self.assert_no_temp(self.inbox)

    def test_fetch_state_file_strict(self):
        path = os.path.join(self.tmp, "fetched.psv")
        for text in ("garbage\n", "ONHANDPUB_FETCH|1\n",
                     "ONHANDPUB_FETCH|1\nDOCUMENT_ID|FILE_NAME|FETCHED_DATE\n1001|x.zip\n",
                     "ONHANDPUB_FETCH|1\nDOCUMENT_ID|FILE_NAME|FETCHED_DATE\n"
                     "1001|x.zip|2026/01/01 00:00:00\n1001|y.zip|2026/01/01 00:00:00\n",
                     "ONHANDPUB_FETCH|1\nDOCUMENT_ID|FILE_NAME|FETCHED_DATE\n"
                     "1001|x.zip|yesterday\n"):
            with open(path, "w") as f:
                f.write(text)
            rc, out, err = self.fetch()
            self.assertEqual(rc, 4, text + err)
            self.assertIn("fetch state file", err)
            with open(path) as f:
                self.assertEqual(f.read(), text)
        self.assertEqual(self.stub.log, [])

    def test_fetch_wrong_credentials(self):
        self.write_cred(self.cred, "%s:nope\n" % USER)
        rc, out, err = self.fetch()
        self.assertEqual(rc, 3, err)

    def test_large_file_memory_stays_flat(self):
        if VALGRIND:
            self.skipTest("too slow under valgrind")
        # About 40 MB of PSV stored without compression: the upload's base64 alone would
        # be 53 MB, so a peak well under that shows the body is streamed both ways.
        big = os.path.join(self.tmp, "big.psv")
        cols = ("ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|SERIAL_CONTROLLED|"
                "PRIMARY_QUANTITY|PRIMARY_UOM_CODE|LAST_UPDATE_DATE|MATERIAL_STATUS_CODE\n")
        with open(big, "w") as f:
            f.write(cols)
            filler = "X" * 100
            for i in range(220000):
                f.write("M1|ITEM-%07d|STORES|N|%d|EA|2026/01/10 08:00:00|%s\n"
                        % (i, i % 97 + 1, filler))
        def args(path, now):
            return ["publish", "--input", path, "--org", "M1", "--no-auth", "--outdir",
                    self.out, "--now", now, "--level", "0", "--ucm", self.stub.url,
                    "--ucm-account", ACCOUNT, "--ucm-credentials", self.cred]

        # The same command on the small sample gives the baseline (sanitizers and all).
        rc, out, err, base = self.run_measured(args(data("balances.psv"), "2026/01/14 18:00:00"))
        self.assertEqual(rc, 0, err)
        self.stub.documents.clear()
        limit = base + 16 * 1024
        rc, out, err, peak = self.run_measured(args(big, "2026/01/15 18:00:00"))
        self.assertEqual(rc, 0, err)
        self.assertLess(peak, limit, "peak RSS of the upload: %d KiB, small run %d KiB"
                        % (peak, base))
        local = out.strip()
        self.assertGreater(os.path.getsize(local), 40 << 20)
        (doc_id, doc), = self.stub.documents.items()
        self.assertEqual(doc["content"], self.read(local))
        rc, out, err, peak = self.run_measured(
            ["fetch", "--ucm", self.stub.url, "--ucm-account", ACCOUNT, "--ucm-credentials",
             self.cred, "--prefix", "ONHAND_0_M1_1_20260115", "--outdir", self.inbox])
        self.assertEqual(rc, 0, err)
        self.assertLess(peak, limit, "peak RSS of the download: %d KiB, small run %d KiB"
                        % (peak, base))
        self.assertEqual(self.read(out.strip()), self.read(local))

    # ---- the listing finder (DocumentIdsByFilePrefixRF) ----

    def test_listing_sends_every_finder_variable_absent_ones_as_null(self):
        self.stub.fail_uploads = [500]  # the retry lists the account by the file name
        rc, out, err = self.publish("2026/01/15 18:00:00")
        self.assertEqual(rc, 0, err)
        name = os.path.basename(out.strip())
        self.assertEqual(self.fetch()[0], 0)
        self.assertEqual(len(self.zips(self.inbox)), 1)
        self.assertEqual(self.stub.queries, [
            "finder=DocumentIdsByFilePrefixRF;filePrefix=%s,docAccount=%s,comment=%%23NULL"
            "&limit=500&offset=0" % (name, ACCOUNT_Q),
            "finder=DocumentIdsByFilePrefixRF;filePrefix=ONHAND_0_M1_,docAccount=%s,"
            "comment=%%23NULL&limit=500&offset=0" % ACCOUNT_Q])
        self.assertNotIn(400, [e[2] for e in self.stub.log])

    def test_stub_refuses_what_the_service_refuses(self):
        self.stub.add_document("ONHAND_0_M1_1_20260115180000.zip", b"x", ACCOUNT)
        self.stub.add_document("ONHAND_0_M1_2_20260115180000.zip", b"x", "other$/account$")
        base = "finder=DocumentIdsByFilePrefixRF;filePrefix=ONHAND_0_M1_,"
        status, answer = self.stub_get(base + "docAccount=%s,comment=%%23NULL" % ACCOUNT_Q)
        self.assertEqual(status, 200, answer)
        self.assertEqual([i["DocumentAccount"] for i in answer["items"]], [ACCOUNT])
        # #NULL for the account: no filter on it.
        status, answer = self.stub_get(base + "docAccount=%23NULL,comment=%23NULL")
        self.assertEqual((status, len(answer["items"])), (200, 2))
        for query in (base + "docAccount=%s,comment=" % ACCOUNT_Q,  # an empty value
                      base + "docAccount=%s" % ACCOUNT_Q + ",comment",  # no '='
                      base + "docAccount=%s,comment=%%23NULL,comment=%%23NULL" % ACCOUNT_Q,
                      base + "docAccount=%s,remark=%%23NULL" % ACCOUNT_Q,
                      "finder=DocumentIdsByFilePrefixRF;docAccount=%s,comment=%%23NULL"
                      % ACCOUNT_Q,  # no filePrefix
                      "finder=NoSuchFinder;filePrefix=X",
                      base + "docAccount=%s,comment=%%23NULL&limit=x" % ACCOUNT_Q):
            status, answer = self.stub_get(query)
            self.assertEqual(status, 400, query)

    def test_finder_values_that_cannot_be_sent_are_usage_errors(self):
        fetch = ["fetch", "--ucm", self.stub.url, "--ucm-credentials", self.cred,
                 "--outdir", self.inbox]
        for account, prefix in ((ACCOUNT, "ONHAND,0"), (ACCOUNT, "ONHAND;0"), (ACCOUNT, ""),
                                (ACCOUNT, "#NULL"), ("a,b", "ONHAND_"), ("a;b", "ONHAND_"),
                                ("", "ONHAND_"), ("#null", "ONHAND_")):
            rc, out, err = self.run_cli(fetch + ["--ucm-account", account, "--prefix", prefix])
            self.assertEqual(rc, 2, "%r %r: %s" % (account, prefix, err))
            self.assertEqual(len(err.strip().splitlines()), 1, err)
            self.assertIn("--prefix" if account == ACCOUNT else "--ucm-account", err)
        self.assertEqual(self.stub.log, [])

    # ---- http:// only to loopback ----

    def publish_to(self, url, extra=(), now="2026/01/15 18:00:00"):
        return self.run_cli(["publish", "--input", data("balances.psv"), "--org", "M1",
                             "--no-auth", "--state", self.state, "--outdir", self.out,
                             "--now", now, "--ucm", url, "--ucm-account", ACCOUNT,
                             "--ucm-credentials", self.cred, "--ucm-backoff", "0"]
                            + list(extra))

    def test_http_refused_for_a_host_that_is_not_loopback(self):
        port = self.stub.server.server_address[1]
        for url in ("http://192.0.2.10:%d" % port, "http://erp.example.com",
                    "http://10.0.0.1/", "http://[2001:db8::1]:%d" % port,
                    "http://127.1:%d" % port,  # not written as a dotted quad
                    "http://localhost.example.com:%d" % port):
            rc, out, err = self.publish_to(url)
            self.assertEqual(rc, 2, url + err)
            self.assertIn("unencrypted", err)
            self.assertIn("--ucm-insecure", err)
            self.assertEqual(len(err.strip().splitlines()), 1, err)
            rc, out, err = self.run_cli(["fetch", "--ucm", url, "--ucm-account", ACCOUNT,
                                         "--ucm-credentials", self.cred, "--prefix", "X",
                                         "--outdir", self.inbox])
            self.assertEqual(rc, 2, url + err)
            self.assertIn("unencrypted", err)
        self.assertEqual(self.stub.log, [])
        self.assertEqual(self.zips(self.out), [])
        self.assertEqual(watermark_rows(self.state), [])

    def test_http_allowed_to_loopback(self):
        port = self.stub.server.server_address[1]
        rc, out, err = self.publish_to("http://localhost:%d" % port)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("warning", err)
        self.assertEqual(len(self.stub.documents), 1)
        # Other loopback forms pass the check (nothing listens there: a network error).
        for url in ("http://127.0.0.2:%d" % port, "http://[::1]:%d" % port,
                    "http://LOCALHOST:1", "http://[::ffff:127.0.0.1]:1"):
            rc, out, err = self.publish_to(url, ["--ucm-retries", "0"], "2026/01/16 18:00:00")
            self.assertNotEqual(rc, 2, url + err)
            self.assertNotIn("unencrypted", err)

    def test_http_to_loopback_never_goes_through_a_proxy(self):
        # A proxy that does not exist: used, every request would fail.
        env = {"http_proxy": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
               "all_proxy": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": ""}
        rc, out, err = self.run_cli(
            ["publish", "--input", data("balances.psv"), "--org", "M1", "--no-auth",
             "--outdir", self.out, "--ucm", self.stub.url, "--ucm-account", ACCOUNT,
             "--ucm-credentials", self.cred, "--ucm-retries", "0"], env=env)
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(self.stub.documents), 1)

    def test_http_to_other_hosts_with_insecure_warns(self):
        # 127.1 is the stub's address to libcurl, but not a dotted quad to the check.
        url = "http://127.1:%d" % self.stub.server.server_address[1]
        rc, out, err = self.publish_to(url, ["--ucm-insecure"])
        self.assertEqual(rc, 0, err)
        self.assertIn("warning: --ucm-insecure", err)
        self.assertIn("unencrypted", err)
        (doc_id, doc), = self.stub.documents.items()
        self.assertEqual(doc["content"], self.read(out.strip()))
        rc, out, err = self.run_cli(["fetch", "--ucm", url, "--ucm-account", ACCOUNT,
                                     "--ucm-credentials", self.cred, "--prefix", "ONHAND_",
                                     "--outdir", self.inbox, "--ucm-insecure"])
        self.assertEqual(rc, 0, err)
        self.assertIn("unencrypted", err)
        self.assertEqual(len(self.zips(self.inbox)), 1)

    # ---- --ucm-cacert ----

    def test_cacert_verifies_against_the_given_bundle(self):
        cert, key = self.make_cert()
        self.stub.stop()
        self.stub = UcmStub(USER, PASSWORD, tls=(cert, key)).start()
        rc, out, err = self.publish("2026/01/15 18:00:00", ["--ucm-cacert", cert])
        self.assertEqual(rc, 0, err)
        self.assertNotIn("warning", err)
        (doc_id, doc), = self.stub.documents.items()
        self.assertEqual(doc["content"], self.read(out.strip()))
        rc, out, err = self.fetch(["--ucm-cacert", cert])
        self.assertEqual(rc, 0, err)
        # Another CA's bundle: refused, nothing more stored.
        other = os.path.join(self.tmp, "other")
        os.mkdir(other)
        shutil.move(cert, os.path.join(other, "stub.pem"))
        other_cert, _ = self.make_cert()
        rc, out, err = self.publish("2026/01/16 18:00:00", ["--ucm-cacert", other_cert])
        self.assertEqual(rc, 4, err)
        self.assertIn("certificate", err)
        self.assertEqual(len(self.stub.documents), 1)

    def test_cacert_usage_errors(self):
        cert = os.path.join(self.tmp, "ca.pem")
        with open(cert, "w") as f:
            f.write("not used\n")
        https = self.stub.url.replace("http://", "https://")
        base = ["publish", "--input", data("balances.psv"), "--org", "M1", "--no-auth",
                "--outdir", self.out, "--ucm-account", ACCOUNT, "--ucm-credentials", self.cred]
        for args in (["--ucm", https, "--ucm-cacert", cert, "--ucm-insecure"],
                     ["--ucm", https, "--ucm-cacert", os.path.join(self.tmp, "missing.pem")],
                     ["--ucm", https, "--ucm-cacert", self.tmp],
                     ["--ucm", self.stub.url, "--ucm-cacert", cert],
                     ["--ucm-cacert", cert]):
            rc, out, err = self.run_cli(base + args)
            self.assertEqual(rc, 2, "%s: %s" % (args, err))
            self.assertIn("--ucm", err)
            self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertEqual(self.stub.log, [])

    # ---- 429 and Retry-After ----

    def test_429_with_retry_after_is_waited_then_retried(self):
        self.stub.fail_uploads = [(429, {"Retry-After": "2"})]
        t0 = time.monotonic()
        rc, out, err = self.publish("2026/01/15 18:00:00")
        elapsed = time.monotonic() - t0
        self.assertEqual(rc, 0, err)
        self.assertIn("HTTP 429", err)
        self.assertIn("retrying in 2.0 s (as the service asked with Retry-After)", err)
        self.assertGreaterEqual(elapsed, 1.9)
        self.assertEqual([e[1:] for e in self.stub.log],
                         [("uploadFileToUCM", 429), ("list", 200), ("uploadFileToUCM", 200)])
        (doc_id, doc), = self.stub.documents.items()
        self.assertEqual(doc["content"], self.read(out.strip()))

    def test_429_without_retry_after_uses_the_backoff_and_gives_up(self):
        self.stub.fail_uploads = [429, 429, 429]
        rc, out, err = self.publish("2026/01/15 18:00:00", ["--ucm-retries", "2"],
                                    backoff="0.2")
        self.assertEqual(rc, 4, err)
        self.assertIn("retrying in 0.2 s\n", err)
        self.assertIn("retrying in 0.4 s\n", err)
        self.assertIn("gave up after 3 attempts", err)
        self.assertEqual(self.stub.documents, {})
        self.assertEqual(watermark_rows(self.state), [])

    def test_retry_after_is_bounded(self):
        self.stub.fail_uploads = [(429, {"Retry-After": "86400"})]
        args = ["publish", "--input", data("balances.psv"), "--org", "M1", "--no-auth",
                "--outdir", self.out, "--ucm", self.stub.url, "--ucm-account", ACCOUNT,
                "--ucm-credentials", self.cred]
        p = subprocess.Popen([CLI] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            line = b""
            deadline = time.monotonic() + 60
            while b"retrying in" not in line and time.monotonic() < deadline:
                line = p.stderr.readline()
                if not line:
                    break
        finally:
            p.kill()
            p.communicate()
        text = line.decode()
        self.assertIn("HTTP 429", text)
        self.assertIn("retrying in 300.0 s (the service asked for 86400 s with Retry-After; "
                      "waiting at most 300 s)", text)

    def test_fetch_listing_429_and_503_honour_retry_after(self):
        self.assertEqual(self.publish("2026/01/15 18:00:00")[0], 0)
        self.stub.fail_lists = [(429, {"Retry-After": "1"}), (503, {"Retry-After": "1"})]
        t0 = time.monotonic()
        rc, out, err = self.fetch()
        self.assertEqual(rc, 0, err)
        self.assertGreaterEqual(time.monotonic() - t0, 1.9)
        self.assertEqual(err.count("retrying in 1.0 s (as the service asked with Retry-After)"),
                         2, err)
        self.assertEqual(len(self.zips(self.inbox)), 1)

    # ---- the upload's answer echoes the content ----

    def test_upload_answer_echo_is_skipped_whatever_the_order(self):
        self.stub.id_after_content = True  # DocumentId only after the whole echo
        rc, out, err = self.publish("2026/01/15 18:00:00")
        self.assertEqual(rc, 0, err)
        (doc_id, doc), = self.stub.documents.items()
        self.assertIn("document id %s," % doc_id, err)

    def answer_upload_with(self, body, keep=True):
        """Publish while the stub stores each upload (or, keep=False, drops it) and
        answers 200 with body (%s: the new id)."""
        import ucm_stub
        orig = ucm_stub._Handler._send_upload_answer

        def answer(handler, req, doc_id):
            if not keep:
                with handler.stub.lock:
                    del handler.stub.documents[doc_id]
            raw = (body % doc_id).encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(raw)))
            handler.end_headers()
            handler.wfile.write(raw)

        ucm_stub._Handler._send_upload_answer = answer
        try:
            return self.publish("2026/01/15 18:00:00")
        finally:
            ucm_stub._Handler._send_upload_answer = orig

    def test_unusable_answer_after_store_found_by_listing(self):
        for body in ('{"DocumentId":"%s","DocumentContent":null,"DocumentId":"9999"}',
                     '{"DocumentId":"%s","DocumentContent":"UEsDBBQ',  # cut short
                     '{"DocumentContent":"UEsDBBQ=","x":"%s"}',  # no DocumentId
                     '<html>%s</html>'):
            self.stub.documents.clear()
            del self.stub.log[:]
            if os.path.exists(self.state):
                os.remove(self.state)
            for name in self.zips(self.out):
                os.remove(os.path.join(self.out, name))
            rc, out, err = self.answer_upload_with(body)
            self.assertEqual(rc, 0, body + err)
            (doc_id, doc), = self.stub.documents.items()
            self.assertIn("document id %s," % doc_id, err)
            self.assertIn("found by listing after a lost or unusable answer", err)
            self.assertEqual(doc["content"], self.read(out.strip()))
            self.assertEqual([e[1] for e in self.stub.log], ["uploadFileToUCM", "list"])
            self.assertIn("|1\n", self.read(self.state).decode())

    def test_unusable_answer_not_stored_fails_without_second_upload(self):
        rc, out, err = self.answer_upload_with(
            '{"DocumentId":"%s","DocumentContent":null,"DocumentId":"9999"}', keep=False)
        self.assertEqual(rc, 4, err)
        self.assertIn("more than one DocumentId", err)
        self.assertIn("the account holds no document of that name", err)
        self.assertEqual([e[1] for e in self.stub.log], ["uploadFileToUCM", "list"])
        self.assertEqual(self.stub.documents, {})
        self.assertEqual(watermark_rows(self.state), [])
        self.assertEqual(self.zips(self.out), [])

    def test_upload_of_a_100_mb_archive(self):
        if VALGRIND:
            self.skipTest("too slow under valgrind")
        # Random base64 text compresses to about 3/4: some 140 MB of PSV make a ZIP of
        # more than 100 MB, whose upload answer echoes 140 MB of base64.
        big = os.path.join(self.tmp, "big.psv")
        cols = ("ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|SERIAL_CONTROLLED|"
                "PRIMARY_QUANTITY|PRIMARY_UOM_CODE|LAST_UPDATE_DATE|MATERIAL_STATUS_CODE\n")
        rows, width = 47000, 3000
        with open(big, "wb") as f:
            f.write(cols.encode())
            for i in range(0, rows, 1000):
                noise = base64.b64encode(os.urandom(width * 3 // 4 * 1000))
                f.write(b"".join(
                    b"M1|ITEM-%07d|STORES|N|%d|EA|2026/01/10 08:00:00|%s\n"
                    % (i + k, (i + k) % 97 + 1, noise[k * width:(k + 1) * width])
                    for k in range(1000)))
        args = ["publish", "--input", big, "--org", "M1", "--no-auth", "--outdir", self.out,
                "--now", "2026/01/15 18:00:00", "--level", "1", "--state", self.state,
                "--ucm", self.stub.url, "--ucm-account", ACCOUNT, "--ucm-credentials",
                self.cred, "--ucm-timeout", "300"]
        rc, out, err, base = self.run_measured(
            ["publish", "--input", data("balances.psv"), "--org", "M1", "--no-auth",
             "--outdir", self.inbox, "--ucm", self.stub.url, "--ucm-account", ACCOUNT,
             "--ucm-credentials", self.cred])
        self.assertEqual(rc, 0, err)
        self.stub.documents.clear()
        before = len(self.uploads())
        rc, out, err, peak = self.run_measured(args)
        self.assertEqual(rc, 0, err)
        local = out.strip()
        self.assertGreater(os.path.getsize(local), 100 * 1000 * 1000)
        (doc_id, doc), = self.stub.documents.items()
        self.assertEqual(doc["content"], self.read(local))
        self.assertIn("document id %s," % doc_id, err)
        self.assertEqual(len(self.uploads()), before + 1, err)  # no retry, no duplicate
        self.assertIn("|1\n", self.read(self.state).decode())  # the watermark advanced
        self.assertLess(peak, base + 16 * 1024, "peak RSS %d KiB, small run %d KiB"
                        % (peak, base))

    def run_measured(self, args):
        """Run the program; also return its peak resident size in KiB.

        A child of this process starts from this process's memory (the stub
        holds the documents), so the program runs under a small, fresh
        Python that reports the peak of its only child (wait4)."""
        helper = ("import os, sys\n"
                  "pid = os.fork()\n"
                  "if pid == 0:\n"
                  "    os.execv(sys.argv[1], sys.argv[1:])\n"
                  "_, st, ru = os.wait4(pid, 0)\n"
                  "sys.stderr.write('\\nPEAK_KIB %d\\n' % ru.ru_maxrss)\n"
                  "sys.exit(os.waitstatus_to_exitcode(st))\n")
        p = subprocess.run([sys.executable, "-c", helper, CLI] + args, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=TIMEOUT)
        out, err = p.stdout.decode(), p.stderr.decode()
        err, _, peak = err.rpartition("\nPEAK_KIB ")
        self.outputs += [out, err]
        return p.returncode, out, err, int(peak)

if __name__ == "__main__":
    if os.environ.get("OHP_CLI_UCM") != "1":
        print("onhandpub was built without content-server support (libcurl): skipped")
        sys.exit(77)
    if not CLI or not DATA:
        print("OHP_CLI and OHP_CLI_DATA must be set", file=sys.stderr)
        sys.exit(2)
    unittest.main(verbosity=2)
