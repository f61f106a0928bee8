#!/usr/bin/env python3
"""The files the onhandpub command writes (docs/cli.md, "Files the command writes").

- Every PSV it writes (the discrepancy report, the rejects file, the state
  file) is read back with hostile values: quotes, pipes, CR/LF, leading and
  trailing blanks, UTF-8, empty fields.
- The rejects file echoes every field of a rejected row byte for byte.
- An output path that is a device or a FIFO is written straight into and
  stays what it was; a directory is refused; /dev/stdout works.  Devices
  are private ones made with mknod in a temporary folder.
- State and lock files that are not regular files are refused at once.
- A run killed with SIGKILL leaves nothing in the output folder; where
  O_TMPFILE is not used (ONHANDPUB_NO_TMPFILE=1), the next run removes the
  temporaries of processes that no longer exist, and only those.
- An existing ZIP is never replaced, even by a run racing for the name.
- A file size limit (SIGXFSZ) fails the run cleanly: exit 4, nothing left.

Environment: OHP_CLI is the program, OHP_CLI_DATA the sample data.
Python 3 standard library only.
"""
import csv
import fcntl
import io
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import zipfile

CLI = os.environ.get("OHP_CLI", "")
DATA = os.environ.get("OHP_CLI_DATA", "")
TIMEOUT = 120
VALGRIND = bool(os.environ.get("OHP_UNDER_VALGRIND"))
VG_LOGS = None

INPUT_COLUMNS = [
    "ORGANIZATION_ID", "ORGANIZATION_CODE", "INVENTORY_ITEM_ID", "ITEM_NUMBER", "REVISION",
    "SUBINVENTORY_CODE", "LOCATOR_ID", "LOCATOR_NAME", "LOT_NUMBER", "LOT_EXPIRATION_DATE",
    "SERIAL_CONTROLLED", "SERIAL_NUMBERS", "PRIMARY_QUANTITY", "PRIMARY_UOM_CODE",
    "SECONDARY_QUANTITY", "SECONDARY_UOM_CODE", "CONSIGNED_FLAG", "OWNING_PARTY_ID", "PROJECT_ID",
    "TASK_ID", "MATERIAL_STATUS_CODE", "LAST_UPDATE_DATE",
]
REJECT_COLUMNS = ["ORDINAL", "REASON"] + INPUT_COLUMNS
OUT_COLUMNS = [
    "CLASS", "ORGANIZATION_CODE", "ITEM_NUMBER", "REVISION", "SUBINVENTORY_CODE", "LOCATOR",
    "LOT_NUMBER", "OWNING_PARTY_ID", "SERIAL_NUMBER", "ERP_QUANTITY", "ERP_UOM_CODE",
    "EXTERNAL_QUANTITY", "EXTERNAL_UOM_CODE", "DIFFERENCE", "DUPLICATE_SIDE", "DUPLICATE_COUNT",
    "EXTERNAL_REVISION", "EXTERNAL_SUBINVENTORY_CODE", "EXTERNAL_LOCATOR", "EXTERNAL_LOT_NUMBER",
    "EXTERNAL_OWNING_PARTY_ID",
]

# Values that break a careless PSV writer.
HOSTILE = ['BOLT-3/2"', 'A"B', '"', '""', 'a|b', '|', 'x\ny', 'c\r\nd', '\r', ' lead',
           'trail ', '  ', 'Ωµ€ 東京', '"q|\n"', 'tab\there']


def command(args):
    global VG_LOGS
    if not VALGRIND:
        return [CLI] + list(args)
    if VG_LOGS is None:
        VG_LOGS = tempfile.mkdtemp(prefix="ohp-files-valgrind-")
        os.chmod(VG_LOGS, 0o1777)
    return ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect",
            "--log-file=" + os.path.join(VG_LOGS, "vg.%p.log"), CLI] + list(args)


def psv_field(s):
    if any(c in s for c in '|"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


def psv_line(fields):
    return "|".join(psv_field(f) for f in fields) + "\n"


def parse_psv(data):
    """Layout v1 quoting, read strictly (bytes in, rows of str out)."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter="|", quotechar='"',
                           doublequote=True, strict=True))
    return rows


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def rec(org="M1", item="ITEM-1", qty="1", **kw):
    r = {"ORGANIZATION_ID": "204", "ORGANIZATION_CODE": org, "ITEM_NUMBER": item,
         "SUBINVENTORY_CODE": "STORES", "SERIAL_CONTROLLED": "N", "PRIMARY_QUANTITY": qty,
         "PRIMARY_UOM_CODE": "EA", "CONSIGNED_FLAG": "N",
         "LAST_UPDATE_DATE": "2026/01/10 08:00:00"}
    r.update(kw)
    return r


def make_input(rows, columns=INPUT_COLUMNS):
    return psv_line(columns) + "".join(psv_line([r.get(c, "") for c in columns]) for r in rows)


def dead_pid():
    """The pid of a process that has ended (and been reaped)."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def writing_into(pid, directory):
    """Has process pid a file open in directory (an unnamed O_TMPFILE file included)?"""
    fds = "/proc/%d/fd" % pid
    try:
        names = os.listdir(fds)
    except OSError:
        return False
    for n in names:
        try:
            if os.readlink(os.path.join(fds, n)).startswith(directory + "/"):
                return True
        except OSError:
            pass
    return False


def wait_for(cond, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return False


class FilesTest(unittest.TestCase):
    def setUp(self):
        if not CLI or not os.path.exists(CLI):
            self.skipTest("OHP_CLI not set")
        self._tmp = tempfile.TemporaryDirectory(prefix="ohp-files-")
        self.tmp = self._tmp.name
        self.out = os.path.join(self.tmp, "out")
        os.mkdir(self.out)
        self.state = os.path.join(self.tmp, "state.psv")

    def tearDown(self):
        self._tmp.cleanup()

    def write(self, name, text):
        p = os.path.join(self.tmp, name)
        with open(p, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        return p

    def run_cli(self, *args, env=None, preexec=None, timeout=TIMEOUT):
        e = dict(os.environ)
        if env:
            e.update(env)
        return subprocess.run(command(args), capture_output=True, timeout=timeout, env=e,
                              preexec_fn=preexec)

    def publish(self, *args, org="M1", inp=None, outdir=None, env=None, preexec=None,
                timeout=TIMEOUT):
        a = ["publish", "--org", org, "--no-auth", "--input", inp or os.path.join(DATA,
                                                                                 "balances.psv"),
             "--outdir", outdir or self.out] + list(args)
        return self.run_cli(*a, env=env, preexec=preexec, timeout=timeout)

    def mknod_null(self, name):
        """A private character device with /dev/null's numbers (1, 3), in the temp folder."""
        p = os.path.join(self.tmp, name)
        try:
            os.mknod(p, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        except PermissionError:
            self.skipTest("mknod of a character device needs privileges")
        return p

    def assertCharDevice(self, p):
        st = os.lstat(p)
        self.assertTrue(stat.S_ISCHR(st.st_mode), "%s is no longer a character device" % p)
        self.assertEqual(st.st_rdev, os.makedev(1, 3))

    def assertOneLine(self, r, status, *fragments):
        err = r.stderr.decode("utf-8", "replace")
        self.assertEqual(r.returncode, status, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        for f in fragments:
            self.assertIn(f, err)

    # A snapshot whose item numbers are the hostile values, and an external side that
    # has none of them but hostile values of its own.
    def hostile_reconcile_inputs(self):
        rows = [rec(item=v, qty=str(i + 1), REVISION=v if i % 3 == 0 else "",
                    LOT_NUMBER=v if i % 4 == 1 else "")
                for i, v in enumerate(HOSTILE)]
        erp = self.write("erp.psv", make_input(rows))
        r = self.publish("--full", "--now", "2026/01/15 18:00:00", inp=erp)
        self.assertEqual(r.returncode, 0, r.stderr)
        zip_path = r.stdout.decode().strip()
        ext_rows = [rec(item="EXT" + v, qty="2", SUBINVENTORY_CODE=v) for v in HOSTILE]
        ext = self.write("ext.psv", make_input(ext_rows))
        expect = set()
        for i, v in enumerate(HOSTILE):
            expect.add(("MISSING_EXTERNAL", v, v if i % 3 == 0 else "", "STORES",
                        v if i % 4 == 1 else "", str(i + 1), ""))
            expect.add(("MISSING_ERP", "EXT" + v, "", v, "", "", "2"))
        return zip_path, ext, expect

    def check_report(self, data, expect):
        rows = parse_psv(data)
        self.assertEqual(rows[0], OUT_COLUMNS)
        got = set()
        for r in rows[1:]:
            self.assertEqual(len(r), len(OUT_COLUMNS), r)
            d = dict(zip(OUT_COLUMNS, r))
            got.add((d["CLASS"], d["ITEM_NUMBER"], d["REVISION"], d["SUBINVENTORY_CODE"],
                     d["LOT_NUMBER"], d["ERP_QUANTITY"], d["EXTERNAL_QUANTITY"]))
        self.assertEqual(got, expect)


class TestReportQuoting(FilesTest):
    """Issue: the discrepancy report wrote the byte after each quote instead of doubling it."""

    def test_report_file_reads_back(self):
        z, ext, expect = self.hostile_reconcile_inputs()
        out = os.path.join(self.tmp, "report.psv")
        r = self.run_cli("reconcile", "--snapshot", z, "--external", ext, "--out", out)
        self.assertEqual(r.returncode, 1, r.stderr)
        data = read_bytes(out)
        self.assertNotIn(b"\0", data)
        self.assertIn(b'"BOLT-3/2"""', data)
        self.assertIn(b'"A""B"', data)
        self.check_report(data, expect)

    def test_report_on_standard_output_reads_back(self):
        z, ext, expect = self.hostile_reconcile_inputs()
        r = self.run_cli("reconcile", "--snapshot", z, "--external", ext)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.check_report(r.stdout, expect)
        # --out - and --out /dev/stdout: the same bytes
        for name in ("-", "/dev/stdout"):
            r2 = self.run_cli("reconcile", "--snapshot", z, "--external", ext, "--out", name)
            self.assertEqual(r2.returncode, 1, r2.stderr)
            self.assertTrue(r2.stdout.startswith(r.stdout), name)


class TestRejectsEcho(FilesTest):
    def test_rejected_rows_are_echoed_byte_for_byte(self):
        rows = []
        for i, v in enumerate(HOSTILE):
            # a bad quantity rejects the row; every other field is hostile or unusual
            r = {c: v for c in INPUT_COLUMNS}
            r.update(ORGANIZATION_CODE="M1", PRIMARY_QUANTITY="1.2.3" + v,
                     SERIAL_CONTROLLED="N", CONSIGNED_FLAG="")
            rows.append(r)
        rows.append(rec(item="FLAG", SERIAL_CONTROLLED=" N ", CONSIGNED_FLAG="n"))
        rows.append(rec(item="EMPTY-CONSIGNED", qty="x", CONSIGNED_FLAG=""))
        rows.append(rec(item="GOOD", qty="4", CONSIGNED_FLAG=""))
        inp = self.write("in.psv", make_input(rows))
        rejects = os.path.join(self.tmp, "rejects.psv")
        r = self.publish("--on-error", "reject", "--rejects", rejects, "--max-rejects", "100%",
                         "--full", "--now", "2026/01/15", inp=inp)
        self.assertEqual(r.returncode, 1, r.stderr)
        got = parse_psv(read_bytes(rejects))
        self.assertEqual(got[0], REJECT_COLUMNS)
        self.assertEqual(len(got), 1 + len(rows) - 1)
        for k, (line, want) in enumerate(zip(got[1:], rows)):
            self.assertEqual(len(line), len(REJECT_COLUMNS), line)
            self.assertEqual(line[0], str(k + 1))
            self.assertEqual(line[2:], [want.get(c, "") for c in INPUT_COLUMNS], k)
        # the empty CONSIGNED_FLAG stays empty, the odd flags stay as they were
        idx = REJECT_COLUMNS.index("CONSIGNED_FLAG")
        self.assertEqual(got[-1][idx], "")
        self.assertEqual(got[-2][idx], "n")
        self.assertEqual(got[-2][REJECT_COLUMNS.index("SERIAL_CONTROLLED")], " N ")

    def test_rejects_into_a_device_and_a_fifo(self):
        inp = self.write("in.psv", make_input([rec(item='Q"1', qty="x"), rec(item="OK")]))
        dev = self.mknod_null("null")
        r = self.publish("--on-error", "reject", "--rejects", dev, "--now", "2026/01/15",
                         inp=inp)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertCharDevice(dev)
        self.assertEqual([f for f in os.listdir(self.tmp) if ".tmp." in f], [])

        fifo = os.path.join(self.tmp, "fifo")
        os.mkfifo(fifo)
        got = []
        t = threading.Thread(target=lambda: got.append(read_bytes(fifo)), daemon=True)
        t.start()
        r = self.publish("--on-error", "reject", "--rejects", fifo, "--now", "2026/01/16",
                         inp=inp)
        t.join(TIMEOUT)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertTrue(stat.S_ISFIFO(os.lstat(fifo).st_mode))
        rows = parse_psv(got[0])
        self.assertEqual(rows[0], REJECT_COLUMNS)
        self.assertEqual(rows[1][REJECT_COLUMNS.index("ITEM_NUMBER")], 'Q"1')

    def test_rejects_to_standard_output(self):
        inp = self.write("in.psv", make_input([rec(item="A|B", qty="x"), rec(item="OK")]))
        r = self.publish("--on-error", "reject", "--rejects", "/dev/stdout", "--now",
                         "2026/01/15", inp=inp)
        self.assertEqual(r.returncode, 1, r.stderr)
        lines = r.stdout.decode().splitlines(True)
        rows = parse_psv("".join(lines[:-1]))
        self.assertEqual(rows[0], REJECT_COLUMNS)
        self.assertEqual(rows[1][REJECT_COLUMNS.index("ITEM_NUMBER")], "A|B")
        self.assertTrue(lines[-1].strip().endswith(".zip"), lines[-1])

    def test_rejects_directory_refused(self):
        d = os.path.join(self.tmp, "adir")
        os.mkdir(d)
        r = self.publish("--on-error", "reject", "--rejects", d, "--now", "2026/01/15")
        self.assertOneLine(r, 2, "is a directory")
        self.assertTrue(os.path.isdir(d))
        self.assertEqual(os.listdir(self.out), [])


class TestStateQuoting(FilesTest):
    # Organization codes are at most 18 characters, no control characters.
    ORGS = ['a|b', 'q"q', '"', '""', '|"|', ' M1 ', 'Ωµ€ 東京', 'trail ']

    def test_state_reads_back(self):
        for i, org in enumerate(self.ORGS):
            inp = self.write("in.psv", make_input([rec(org=org, item="I")]))
            r = self.publish("--state", self.state, "--now", "2026/01/%02d" % (i + 10), org=org,
                             inp=inp)
            self.assertEqual(r.returncode, 0, r.stderr)
        rows = parse_psv(read_bytes(self.state))
        self.assertEqual(rows[0], ["ONHANDPUB_STATE", "2"])
        self.assertEqual(rows[1], ["LAST_RUN_ID", str(len(self.ORGS))])
        self.assertEqual(rows[2], ["SYSTEM_CODE", "ORGANIZATION_CODE", "ITEM_CLASS", "WATERMARK",
                                   "LAST_SNAPSHOT_DATE", "LAST_RUN_ID"])
        got = {}
        for r in rows[3:]:
            self.assertEqual(len(r), 6, r)
            got.setdefault(r[1], {})[r[2]] = (r[0], r[3], r[4], r[5])
        self.assertEqual(set(got), set(self.ORGS))
        for i, org in enumerate(self.ORGS):
            date = "2026/01/%02d 00:00:00" % (i + 10)
            want = ("0", date, date, str(i + 1))
            self.assertEqual(got[org], {"SERIAL": want, "NONSERIAL": want}, org)
        # and the command reads them back: the next run of each is incremental from its date
        for i, org in enumerate(self.ORGS):
            inp = self.write("in.psv", make_input([rec(org=org, item="I",
                                                       LAST_UPDATE_DATE="2026/02/01")]))
            r = self.publish("--state", self.state, "--now", "2026/03/01", org=org, inp=inp)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("window from 2026/01/%02d 00:00:00" % (i + 10), r.stderr.decode())


class TestSpecialPaths(FilesTest):
    def reconcile_args(self):
        z = self.publish("--full", "--now", "2026/01/15 18:00:00")
        self.assertEqual(z.returncode, 0, z.stderr)
        ext = self.write("ext.psv", make_input([rec(item='EXT"1')]))
        return ["reconcile", "--snapshot", z.stdout.decode().strip(), "--external", ext]

    def test_out_device_is_written_not_replaced(self):
        args = self.reconcile_args()
        dev = self.mknod_null("null")
        r = self.run_cli(*(args + ["--out", dev]))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertCharDevice(dev)
        self.assertIn(b"discrepancies:", r.stdout)  # the summary, on standard output
        self.assertEqual(sorted(os.listdir(self.tmp)), ["ext.psv", "null", "out"])

    def test_out_fifo_is_written_not_replaced(self):
        args = self.reconcile_args()
        ref = os.path.join(self.tmp, "ref.psv")
        r = self.run_cli(*(args + ["--out", ref]))
        self.assertEqual(r.returncode, 1, r.stderr)
        fifo = os.path.join(self.tmp, "fifo")
        os.mkfifo(fifo)
        got = []
        t = threading.Thread(target=lambda: got.append(read_bytes(fifo)), daemon=True)
        t.start()
        r = self.run_cli(*(args + ["--out", fifo]))
        t.join(TIMEOUT)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertTrue(stat.S_ISFIFO(os.lstat(fifo).st_mode))
        self.assertEqual(got[0], read_bytes(ref))
        self.assertIn(b'"EXT""1"', got[0])

    def test_out_directory_refused(self):
        args = self.reconcile_args()
        d = os.path.join(self.tmp, "adir")
        os.mkdir(d)
        r = self.run_cli(*(args + ["--out", d]))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(b"is a directory", r.stderr)
        self.assertEqual(os.listdir(d), [])

    def test_out_regular_file_replaced_atomically(self):
        args = self.reconcile_args()
        out = self.write("report.psv", "old\n")
        os.link(out, os.path.join(self.tmp, "other-name"))
        r = self.run_cli(*(args + ["--out", out]))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(parse_psv(read_bytes(out))[0], OUT_COLUMNS)
        # replaced by a new file, not rewritten in place
        self.assertEqual(read_bytes(os.path.join(self.tmp, "other-name")), b"old\n")

    def test_state_fifo_refused_at_once(self):
        os.mkfifo(self.state)
        r = self.publish("--state", self.state, timeout=20)
        self.assertOneLine(r, 4, "not a regular file", self.state)
        self.assertTrue(stat.S_ISFIFO(os.lstat(self.state).st_mode))
        self.assertEqual(os.listdir(self.out), [])
        os.unlink(self.state)
        os.mkfifo(self.state + ".lock")
        r = self.publish("--state", self.state, timeout=20)
        self.assertOneLine(r, 4, "not a regular file", self.state + ".lock")
        self.assertTrue(stat.S_ISFIFO(os.lstat(self.state + ".lock").st_mode))
        self.assertFalse(os.path.exists(self.state))

    def test_state_device_refused(self):
        dev = self.mknod_null("state.psv")
        r = self.publish("--state", dev, timeout=20)
        self.assertOneLine(r, 4, "not a regular file")
        self.assertCharDevice(dev)

    def test_symlinked_state_and_lock_not_regular_at_once(self):
        victim = self.write("victim", "precious\n")
        os.symlink(victim, self.state)
        # another run holds the lock: the refusal must not wait for it
        lock = open(self.state + ".lock", "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            r = self.publish("--state", self.state, timeout=20)
        finally:
            lock.close()
        self.assertOneLine(r, 4, "not a regular file", "state file")
        os.unlink(self.state)
        os.unlink(self.state + ".lock")
        os.symlink(victim, self.state + ".lock")
        r = self.publish("--state", self.state, timeout=20)
        self.assertOneLine(r, 4, "not a regular file", "lock file")
        self.assertEqual(read_bytes(victim), b"precious\n")
        self.assertEqual(os.listdir(self.out), [])


def big_input(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write(psv_line(INPUT_COLUMNS))
        chunk = []
        for i in range(rows):
            chunk.append("204|M1|%d|ITEM-%08d|A|STORES|%d|LOC-%d|LOT-%d||N||%d.%03d|EA||||||||"
                         "2026/01/10 08:00:00\n" % (i, i, i % 977, i % 977, i % 31, i % 5000,
                                                    i % 1000))
            if len(chunk) == 10000:
                f.write("".join(chunk))
                chunk = []
        f.write("".join(chunk))


class TestKilled(FilesTest):
    ROWS = 400000

    def setUp(self):
        super().setUp()
        if VALGRIND:
            self.skipTest("timing of signals, not under valgrind")
        self.big = os.path.join(self.tmp, "big.psv")
        big_input(self.big, self.ROWS)

    def start(self, env=None, extra=()):
        e = dict(os.environ)
        if env:
            e.update(env)
        return subprocess.Popen(command(["publish", "--org", "M1", "--no-auth", "--input",
                                         self.big, "--outdir", self.out, "--state", self.state,
                                         "--full", "--level", "9", "--threads", "1",
                                         "--on-error", "reject", "--rejects",
                                         os.path.join(self.tmp, "rejects.psv")] + list(extra)),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)

    def kill_while_writing(self, env=None, extra=()):
        p = self.start(env, extra)
        try:
            self.assertTrue(wait_for(lambda: writing_into(p.pid, self.out)
                                     or p.poll() is not None))
            time.sleep(0.05)
            self.assertIsNone(p.poll(), "the run ended before it could be killed")
            os.kill(p.pid, signal.SIGKILL)
        finally:
            p.communicate()
        self.assertEqual(p.returncode, -signal.SIGKILL)
        return p

    def test_sigkill_leaves_nothing(self):
        for _ in range(3):
            self.kill_while_writing()
            self.assertEqual(os.listdir(self.out), [])
            # the state file holds the reserved run ids, nothing else is there
            self.assertEqual(sorted(os.listdir(self.tmp)),
                             ["big.psv", "out", "state.psv", "state.psv.lock"])
            self.assertNotIn("|M1|", open(self.state, encoding="utf-8").read())

    def test_named_temporaries_removed_by_the_next_run(self):
        env = {"ONHANDPUB_NO_TMPFILE": "1"}
        p = self.kill_while_writing(env)
        left = os.listdir(self.out)
        self.assertEqual(len(left), 1, left)
        self.assertTrue(left[0].startswith(".ONHAND_0_M1_1_") and
                        (".tmp.%d." % p.pid) in left[0], left)
        # Temporaries of the state and rejects files of a dead process, and one of a live
        # process (this one, holding its lock) that must stay.
        gone = dead_pid()
        dead_state = os.path.join(self.tmp, ".state.psv.tmp.%d.0123456789abcdef" % gone)
        dead_rejects = os.path.join(self.tmp, ".rejects.psv.tmp.%d.fedcba9876543210" % gone)
        live = os.path.join(self.out, ".ONHAND_0_M1_9_20260101000000.zip.tmp.%d.00000000000000aa"
                            % os.getpid())
        for path in (dead_state, dead_rejects, live):
            with open(path, "w") as f:
                f.write("partial")
        holder = open(live)
        fcntl.flock(holder, fcntl.LOCK_EX)
        try:
            small = self.write("small.psv", make_input([rec(item="I1")]))
            r = self.run_cli("publish", "--org", "M1", "--no-auth", "--input", small, "--outdir",
                             self.out, "--state", self.state, "--on-error", "reject",
                             "--rejects", os.path.join(self.tmp, "rejects.psv"), env=env)
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            holder.close()
        zip_name = os.path.basename(r.stdout.decode().strip())
        self.assertEqual(sorted(os.listdir(self.out)), sorted([zip_name, os.path.basename(live)]))
        self.assertFalse(os.path.exists(dead_state))
        self.assertFalse(os.path.exists(dead_rejects))

    def test_file_size_limit_fails_cleanly(self):
        limit = 1 << 20

        def pre():
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        for env in ({}, {"ONHANDPUB_NO_TMPFILE": "1"}):
            r = subprocess.run(command(["publish", "--org", "M1", "--no-auth", "--input", self.big,
                                        "--outdir", self.out, "--state", self.state, "--full",
                                        "--level", "0"]),
                               capture_output=True, timeout=TIMEOUT, preexec_fn=pre,
                               env=dict(os.environ, **env))
            err = r.stderr.decode()
            self.assertEqual(r.returncode, 4, err)
            self.assertIn("File too large", err)
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertEqual(os.listdir(self.out), [])
            self.assertEqual([n for n in os.listdir(self.tmp) if ".tmp." in n], [])
            if os.path.exists(self.state):  # the reserved run id only, no watermark
                self.assertNotIn("|M1|", open(self.state, encoding="utf-8").read())


class TestNoReplace(FilesTest):
    def test_existing_zip_never_replaced(self):
        args = ["--run-id", "7", "--now", "2026/01/15 18:00:00"]
        r = self.publish(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        path = r.stdout.decode().strip()
        first = read_bytes(path)
        other = self.write("other.psv", make_input([rec(item="OTHER")]))
        r = self.publish(*args, inp=other)
        self.assertOneLine(r, 4, "already exists")
        self.assertEqual(read_bytes(path), first)
        self.assertEqual(os.listdir(self.out), [os.path.basename(path)])

    def test_commit_never_renames_over_the_zip(self):
        """The commit itself refuses an existing name: linkat, or renameat2 RENAME_NOREPLACE,
        never a check followed by a plain rename (which a racing run can slip between)."""
        strace = shutil.which("strace")
        if strace is None or VALGRIND:
            self.skipTest("needs strace, and the program itself rather than valgrind")
        for env in ({}, {"ONHANDPUB_NO_TMPFILE": "1"}):
            for f in os.listdir(self.out):
                os.unlink(os.path.join(self.out, f))
            log = os.path.join(self.tmp, "strace.log")
            # LeakSanitizer cannot run under ptrace: leaks are checked by the other tests.
            env = dict(env, ASAN_OPTIONS=":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                                                "detect_leaks=0"])))
            r = subprocess.run([strace, "-f", "-qq", "-o", log, "-e",
                                "trace=rename,renameat,renameat2,link,linkat", CLI, "publish",
                                "--org", "M1", "--no-auth", "--input",
                                os.path.join(DATA, "balances.psv"), "--outdir", self.out,
                                "--now", "2026/01/15"],
                               capture_output=True, timeout=TIMEOUT, env=dict(os.environ, **env))
            self.assertEqual(r.returncode, 0, r.stderr)
            name = os.path.basename(r.stdout.decode().strip())
            with open(log) as f:
                calls = [line for line in f if '"%s"' % name in line]
            self.assertEqual(len(calls), 1, calls)
            call = calls[0]
            self.assertTrue("linkat(" in call or "RENAME_NOREPLACE" in call, call)
            self.assertNotIn("renameat(", call.replace("renameat2(", ""))

    def test_racing_runs_one_wins(self):
        inputs = []
        for k in range(2):
            inputs.append(self.write("in%d.psv" % k, make_input(
                [rec(item="RUN%d-%d" % (k, i)) for i in range(2000)])))
        for n in range(4):
            for f in os.listdir(self.out):
                os.unlink(os.path.join(self.out, f))
            procs = [subprocess.Popen(command(["publish", "--org", "M1", "--no-auth", "--input",
                                               inputs[k], "--outdir", self.out, "--run-id", "3",
                                               "--now", "2026/01/15", "--level", "0"]),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                     for k in range(2)]
            outs = [p.communicate(timeout=TIMEOUT) for p in procs]
            codes = sorted(p.returncode for p in procs)
            self.assertEqual(codes, [0, 4], outs)
            winner = [k for k in range(2) if procs[k].returncode == 0][0]
            names = os.listdir(self.out)
            self.assertEqual(len(names), 1, names)
            with zipfile.ZipFile(os.path.join(self.out, names[0])) as z:
                text = z.read(z.namelist()[0]).decode()
            self.assertIn("RUN%d-0|" % winner, text)
            self.assertNotIn("RUN%d-0|" % (1 - winner), text)
            self.assertIn(b"already exists", outs[1 - winner][1])


if __name__ == "__main__":
    if not CLI or not os.path.exists(CLI):
        print("OHP_CLI must name the onhandpub program")
        sys.exit(1)
    unittest.main(verbosity=2)
