#!/usr/bin/env python3
"""End-to-end tests of the onhandpub command (examples/onhandpub/, docs/cli.md).

Environment: OHP_CLI is the program, OHP_CLI_DATA the sample data directory
(examples/data).  Python 3 standard library only.
"""

import csv
import io
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import zipfile
import zlib
from decimal import Decimal

CLI = os.environ.get("OHP_CLI", "")
DATA = os.environ.get("OHP_CLI_DATA", "")
TIMEOUT = 120
# Under `meson test --setup valgrind` every run of the program goes through valgrind too;
# errors and leaks turn into exit status 99, which no test expects.
VALGRIND = bool(os.environ.get("OHP_UNDER_VALGRIND"))
VG_LOGS = None


def command(args):
    global VG_LOGS
    if not VALGRIND:
        return [CLI] + list(args)
    if VG_LOGS is None:
        VG_LOGS = tempfile.mkdtemp(prefix="ohp-cli-valgrind-")
        os.chmod(VG_LOGS, 0o1777)
    return ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect",
            "--log-file=" + os.path.join(VG_LOGS, "vg.%p.log"), CLI] + list(args)

PRIV = "INV_PUBLISH_ONHAND_TO_EXT_SYSTEMS_PRIV"
INPUT_COLUMNS = [
    "ORGANIZATION_ID", "ORGANIZATION_CODE", "INVENTORY_ITEM_ID", "ITEM_NUMBER", "REVISION",
    "SUBINVENTORY_CODE", "LOCATOR_ID", "LOCATOR_NAME", "LOT_NUMBER", "LOT_EXPIRATION_DATE",
    "SERIAL_CONTROLLED", "SERIAL_NUMBERS", "PRIMARY_QUANTITY", "PRIMARY_UOM_CODE",
    "SECONDARY_QUANTITY", "SECONDARY_UOM_CODE", "CONSIGNED_FLAG", "OWNING_PARTY_ID", "PROJECT_ID",
    "TASK_ID", "MATERIAL_STATUS_CODE", "LAST_UPDATE_DATE",
]
OUTPUT_COLUMNS = (["EXTERNAL_SYSTEM_CODE", "PUBLISH_RUN_ID", "PUBLISH_MODE", "SNAPSHOT_DATE"] +
                  [("SERIAL_NUMBER" if c == "SERIAL_NUMBERS" else c) for c in INPUT_COLUMNS])
REJECT_COLUMNS = ["ORDINAL", "REASON"] + INPUT_COLUMNS
STATE_HEAD = ("ONHANDPUB_STATE|2\nLAST_RUN_ID|{n}\n"
              "SYSTEM_CODE|ORGANIZATION_CODE|ITEM_CLASS|WATERMARK|LAST_SNAPSHOT_DATE|LAST_RUN_ID\n")
STATE_HEAD_V1 = ("ONHANDPUB_STATE|1\nLAST_RUN_ID|{n}\n"
                 "SYSTEM_CODE|ORGANIZATION_CODE|LAST_SNAPSHOT_DATE|LAST_RUN_ID\n")


def state_rows(system, org, date, run_id, classes=("SERIAL", "NONSERIAL"), watermark=None):
    """The state file's rows of one (system, organization): one per item class."""
    return "".join(f"{system}|{org}|{c}|{watermark or date}|{date}|{run_id}\n" for c in classes)


def watermark_rows(path):
    """The state file's data rows ([] when there is no file): what a failed run
    must leave as it was (the run-id counter may move: ids are reserved)."""
    if not os.path.exists(path):
        return []
    return read_text(path).splitlines()[3:]
ZIP_NAME = re.compile(r"^ONHAND_[A-Za-z0-9_-]+_[A-Za-z0-9_-]+_[0-9]+_[0-9]{14}\.zip$")


def data(name):
    return os.path.join(DATA, name)


def psv_line(fields):
    out = []
    for f in fields:
        if any(c in f for c in '|"\r\n'):
            f = '"' + f.replace('"', '""') + '"'
        out.append(f)
    return "|".join(out) + "\n"


def make_input(rows, columns=INPUT_COLUMNS):
    """rows: dicts keyed by column (missing keys are empty)."""
    text = psv_line(columns)
    for r in rows:
        text += psv_line([r.get(c, "") for c in columns])
    return text


def rec(org="M1", item="ITEM-1", qty="1", **kw):
    r = {"ORGANIZATION_ID": "204", "ORGANIZATION_CODE": org, "ITEM_NUMBER": item,
         "SUBINVENTORY_CODE": "STORES", "SERIAL_CONTROLLED": "N", "PRIMARY_QUANTITY": qty,
         "PRIMARY_UOM_CODE": "EA", "CONSIGNED_FLAG": "N", "LAST_UPDATE_DATE": "2026/01/10 08:00:00"}
    r.update(kw)
    return r


# ---- an independent model of the published rows ----

def canon_qty(q):
    neg = q.startswith("-")
    q = q.lstrip("-")
    ip, _, fp = q.partition(".")
    ip = ip.lstrip("0") or "0"
    fp = fp.rstrip("0")
    s = ip + ("." + fp if fp else "")
    return "-" + s if neg and s != "0" else s


def canon_date(d, date_only=False):
    m = re.match(r"^(\d{4})[/-](\d{2})[/-](\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2})Z?)?$", d)
    assert m, d
    y, mo, da, h, mi, s = m.groups()
    if date_only:
        return "%s/%s/%s" % (y, mo, da)
    return "%s/%s/%s %s:%s:%s" % (y, mo, da, h or "00", mi or "00", s or "00")


def expand_serials(text):
    out = []
    for item in text.split(","):
        item = item.strip()
        if ".." in item:
            a, b = item.split("..")
            m1, m2 = re.match(r"^(.*?)(\d+)$", a), re.match(r"^(.*?)(\d+)$", b)
            width = len(m1.group(2))
            for v in range(int(m1.group(2)), int(m2.group(2)) + 1):
                out.append("%s%0*d" % (m1.group(1), width, v))
        elif item:
            out.append(item)
    return out


def expected_rows(input_text, org, run_id, mode, snapshot, system="0", items="both",
                  window=None):
    rows = list(csv.DictReader(io.StringIO(input_text, newline=""), delimiter="|"))

    def in_scope(r):
        serial = r["SERIAL_CONTROLLED"] == "Y"
        return r["ORGANIZATION_CODE"] == org and not (
            (items == "serial" and not serial) or (items == "nonserial" and serial))

    def key(r):
        return (r["ORGANIZATION_CODE"], r["ITEM_NUMBER"], r.get("REVISION", ""),
                r["SUBINVENTORY_CODE"], r.get("LOCATOR_NAME") or r.get("LOCATOR_ID", ""),
                r.get("LOT_NUMBER", ""), r.get("OWNING_PARTY_ID", ""))

    # Incremental: whole keys, every record of a key with a change in the window.
    changed = {key(r) for r in rows
               if in_scope(r) and canon_date(r["LAST_UPDATE_DATE"]) >= (window or "")}
    out = []
    for r in rows:
        if not in_scope(r):
            continue
        serial = r["SERIAL_CONTROLLED"] == "Y"
        if mode == "INCREMENTAL" and key(r) not in changed:
            continue
        qty = canon_qty(r["PRIMARY_QUANTITY"])
        if mode == "FULL" and Decimal(qty) == 0:
            continue
        base = [system, str(run_id), mode, snapshot]
        fields = {}
        for c in INPUT_COLUMNS:
            fields[c] = r.get(c, "") or ""
        fields["PRIMARY_QUANTITY"] = qty
        if fields["SECONDARY_QUANTITY"]:
            fields["SECONDARY_QUANTITY"] = canon_qty(fields["SECONDARY_QUANTITY"])
        fields["CONSIGNED_FLAG"] = "Y" if fields["CONSIGNED_FLAG"] == "Y" else "N"
        fields["LAST_UPDATE_DATE"] = canon_date(fields["LAST_UPDATE_DATE"])
        if fields["LOT_EXPIRATION_DATE"]:
            fields["LOT_EXPIRATION_DATE"] = canon_date(fields["LOT_EXPIRATION_DATE"], True)
        serials = expand_serials(fields["SERIAL_NUMBERS"]) if serial and Decimal(qty) != 0 else []
        if not serials:
            fields["SERIAL_NUMBERS"] = ""
            out.append(base + [fields[c] for c in INPUT_COLUMNS])
            continue
        for s in serials:
            f = dict(fields, SERIAL_NUMBERS=s, PRIMARY_QUANTITY="1", SECONDARY_QUANTITY="")
            out.append(base + [f[c] for c in INPUT_COLUMNS])
    return out


def read_zip(test, path):
    """Open a produced ZIP; check its single entry and return the data rows."""
    test.assertTrue(ZIP_NAME.match(os.path.basename(path)), path)
    with zipfile.ZipFile(path) as z:
        test.assertIsNone(z.testzip())
        names = z.namelist()
        test.assertEqual(names, [os.path.basename(path)[:-4] + ".psv"])
        text = z.read(names[0]).decode("utf-8")
    test.assertTrue(text.endswith("\n"))
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter="|"))
    test.assertEqual(rows[0], OUTPUT_COLUMNS)
    return rows[1:]


def read_text(path):
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


class CliTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="ohp-cli-")
        self.tmp = self._tmp.name
        self.out = os.path.join(self.tmp, "out")
        os.mkdir(self.out)
        self.state = os.path.join(self.tmp, "state.psv")

    def tearDown(self):
        for root, dirs, _ in os.walk(self.tmp):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
        self._tmp.cleanup()

    def write(self, name, text):
        p = os.path.join(self.tmp, name)
        with open(p, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        return p

    def run_cli(self, *args, stdin=None, preexec=None):
        return subprocess.run(command(args), input=stdin, capture_output=True, text=True,
                              timeout=TIMEOUT, preexec_fn=preexec)

    def publish(self, *args, org="M1", inp=None, auth=True, outdir=True, stdin=None,
                preexec=None):
        a = ["publish", "--org", org, "--input", inp or data("balances.psv")]
        if outdir:
            a += ["--outdir", self.out]
        if auth:
            a += ["--user", "alice", "--grants", data("grants.psv")]
        return self.run_cli(*(a + list(args)), stdin=stdin, preexec=preexec)

    def assertOneLineError(self, r, status, fragment=None):
        self.assertEqual(r.returncode, status, r.stderr)
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("onhandpub: "), r.stderr)
        if fragment:
            self.assertIn(fragment, lines[0])
        self.assertEqual(r.stdout, "")

    def outfiles(self):
        return sorted(os.listdir(self.out))

    def zip_path(self, r):
        self.assertIn(r.returncode, (0, 1), r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 1, r.stdout)
        self.assertTrue(os.path.isfile(lines[0]), lines[0])
        return lines[0]


class TestUsage(CliTest):
    def test_help(self):
        for args in (["--help"], ["-h"], ["help"]):
            r = self.run_cli(*args)
            self.assertEqual(r.returncode, 0, args)
            self.assertIn("onhandpub publish", r.stdout)
            for line in ("0  succeeded", "1  succeeded with warnings", "2  usage or configuration",
                         "3  not authorized", "4  failed"):
                self.assertIn(line, r.stdout)
            for opt in ("--input", "--org", "--system", "--lookups", "--items", "--full",
                        "--from", "--state", "--outdir", "--user", "--grants", "--no-auth",
                        "--run-id", "--now", "--level", "--on-error", "--rejects", "--date",
                        "--engine", "--prefix", "--ucm-account"):
                self.assertIn(opt, r.stdout)

    def test_help_of_one_command(self):
        """`onhandpub help CMD` and `CMD --help`: that command's options only."""
        own = {"publish": ["--input", "--source", "--engine", "--rejects", "--ucm-account"],
               "systems": ["--lookups", "--date"],
               "fetch": ["--prefix", "--ucm-account"],
               "inspect": ["--json"],
               "reconcile": ["--snapshot", "--external", "--ignore"]}
        foreign = {"publish": ["--prefix", "--snapshot"],
                   "systems": ["--input", "--org", "--ucm", "--snapshot"],
                   "fetch": ["--input", "--org", "--snapshot"],
                   "inspect": ["--input", "--ucm", "--snapshot"],
                   "reconcile": ["--input", "--org", "--prefix"]}
        for cmd in own:
            a = self.run_cli("help", cmd)
            b = self.run_cli(cmd, "--help")
            self.assertEqual((a.returncode, b.returncode), (0, 0), cmd)
            self.assertEqual(a.stdout, b.stdout, cmd)
            self.assertIn("onhandpub " + cmd, a.stdout)
            for opt in own[cmd]:
                self.assertIn(opt, a.stdout, cmd)
            for opt in foreign[cmd]:
                self.assertNotIn(opt + " ", a.stdout, cmd)
        r = self.run_cli("help", "nope")
        self.assertEqual(r.returncode, 2)
        self.assertIn("expected publish, systems, fetch, reconcile or inspect", r.stderr)

    def test_unknown_command_names_all_and_the_near_one(self):
        for typed, meant in (("publsh", "publish"), ("recnocile", "reconcile"),
                             ("fech", "fetch"), ("sytsems", "systems"), ("xyzzy", None)):
            r = self.run_cli(typed)
            self.assertEqual(r.returncode, 2, typed)
            self.assertIn(f"unknown command '{typed}': expected publish, systems, fetch, "
                          "reconcile or inspect", r.stderr)
            if meant:
                self.assertIn(f"(did you mean '{meant}'?)", r.stderr)
            else:
                self.assertNotIn("did you mean", r.stderr)
            self.assertEqual(r.stdout, "")

    def test_version(self):
        self.assertEqual(self.run_cli("-V").stdout, self.run_cli("--version").stdout)
        r = self.run_cli("--version")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^onhandpub \d+\.\d+\.\d+ \(libonhandpub \d+\.\d+\.\d+\)\n$")

    def test_command_errors(self):
        self.assertOneLineError(self.run_cli(), 2, "command is required")
        self.assertOneLineError(self.run_cli("frobnicate"), 2, "unknown command")
        self.assertOneLineError(self.run_cli("--bogus"), 2, "unknown option")
        self.assertOneLineError(self.run_cli("--version", "x"), 2, "unexpected argument")

    def test_bad_values(self):
        base = ["publish", "--input", data("balances.psv"), "--org", "M1", "--outdir", self.out,
                "--no-auth"]
        bad_lookups = self.write("bad-lookups.psv", "LOOKUP_CODE|MEANING\n7|x\n")
        dup_lookups = self.write("dup-lookups.psv",
                                 read_text(data("lookups.psv")) + "1|Again|||||| \n")
        a_file = self.write("plain.txt", "x\n")
        cases = [
            (["--bogus"], "unknown option '--bogus'"),
            (["-x"], "unexpected argument '-x'"),
            (["extra"], "unexpected argument 'extra'"),
            (["--level", "10"], "--level"),
            (["--level", "x"], "--level"),
            (["--threads", "0"], "--threads"),
            (["--threads", "65"], "--threads"),
            (["--threads", "two"], "--threads"),
            (["--level", "-1"], "--level"),
            (["--level="], "--level requires a non-empty value"),
            (["--level"], "--level requires a value"),
            (["--run-id", "0"], "--run-id"),
            (["--run-id", "-3"], "--run-id"),
            (["--run-id", "1.5"], "--run-id"),
            (["--run-id", "abc"], "--run-id"),
            (["--run-id", "99999999999999999999999"], "--run-id"),
            (["--now", "yesterday"], "--now"),
            (["--now", "2026/02/30"], "--now"),
            (["--now", "2026/01/01 24:00:00"], "--now"),
            (["--from", "2026-13-01"], "--from"),
            (["--items", "all"], "--items"),
            (["--items", "SERIAL"], "--items"),
            (["--on-error", "ignore"], "--on-error"),
            (["--rejects", os.path.join(self.tmp, "r.psv")], "--rejects requires --on-error reject"),
            (["--on-error", "reject", "--rejects", os.path.join(self.tmp, "nodir", "r.psv")],
             "--rejects"),
            (["--on-error", "reject", "--rejects", self.tmp + "/"], "--rejects"),
            (["--grants", data("grants.psv")], "exclude each other"),
            (["--full=yes"], "--full takes no value"),
            (["--no-auth"], "given more than once"),
            (["--org", "M2"], "given more than once"),
            (["--system", "--full"], "--system requires a value"),
            (["--user="], "--user requires a non-empty value"),
            (["--outdir", os.path.join(self.tmp, "missing")], "--outdir"),
            (["--outdir", a_file], "--outdir"),
            (["--lookups", os.path.join(self.tmp, "missing.psv")], "lookups"),
            (["--lookups", bad_lookups], "lookups"),
            (["--lookups", dup_lookups], "lookups"),
            (["--system", "99"], "99"),
            (["--system", "abc"], "abc"),
            (["--lookups", data("lookups.psv"), "--system", "3", "--now", "2026/01/15"], "3"),
            (["--lookups", data("lookups.psv"), "--system", "4", "--now", "2026/01/15"], "4"),
            (["--lookups", data("lookups.psv"), "--system", "2", "--now", "2025/01/15"], "2"),
        ]
        for extra, fragment in cases:
            with self.subTest(args=extra):
                # --outdir and --no-auth cases replace the defaults to stay single.
                args = list(base)
                if extra and extra[0] == "--outdir":
                    i = args.index("--outdir")
                    del args[i:i + 2]
                r = self.run_cli(*(args + extra))
                self.assertOneLineError(r, 2, fragment)
                self.assertEqual(self.outfiles(), [])
        missing = [
            (["publish", "--org", "M1", "--no-auth"], "--input is required"),
            (["publish", "--input", data("balances.psv"), "--no-auth"], "--org is required"),
            (["publish", "--input", data("balances.psv"), "--org"], "--org requires a value"),
            (["publish", "--input", data("balances.psv"), "--org", "M1", "--grants",
              os.path.join(self.tmp, "nogrants.psv")], "grants"),
            (["publish", "--input", data("balances.psv"), "--org", "M1", "--grants", self.tmp],
             "grants"),
            (["systems", "--date", "soon"], "--date"),
            (["systems", "--org", "M1"], "unknown option '--org'"),
            (["systems", "--lookups", bad_lookups], "lookups"),
        ]
        for args, fragment in missing:
            with self.subTest(args=args):
                self.assertOneLineError(self.run_cli(*args), 2, fragment)

    def test_malformed_grants_is_configuration_error(self):
        for text in ("USER|PRIV\nalice|%s\n" % PRIV, "", "USER_NAME|PRIVILEGE_CODE\nalice\n",
                     'USER_NAME|PRIVILEGE_CODE\n"alice|%s\n' % PRIV):
            with self.subTest(text=text):
                g = self.write("grants.psv", text)
                r = self.run_cli("publish", "--input", data("balances.psv"), "--org", "M1",
                                 "--outdir", self.out, "--user", "alice", "--grants", g)
                self.assertOneLineError(r, 2, "grants")
                self.assertEqual(self.outfiles(), [])


class TestPublish(CliTest):
    def test_full_publish_of_the_sample(self):
        now = "2026/01/15 18:00:00"
        for org in ("M1", "M2", "M3/EAST"):
            with self.subTest(org=org):
                r = self.publish("--full", "--now", now, "--run-id", "7", org=org)
                self.assertEqual(r.returncode, 0, r.stderr)
                path = self.zip_path(r)
                safe = org.replace("/", "_")
                self.assertEqual(os.path.basename(path), "ONHAND_0_%s_7_20260115180000.zip" % safe)
                self.assertEqual(os.path.dirname(path), self.out)
                want = expected_rows(read_text(data("balances.psv")), org, 7, "FULL", now)
                self.assertEqual(read_zip(self, path), want)
                self.assertGreater(len(want), 0)
        # Only the three ZIPs, no temporary files.
        self.assertEqual(len(self.outfiles()), 3)
        self.assertTrue(all(ZIP_NAME.match(f) for f in self.outfiles()))

    def test_manifest_and_no_manifest(self):
        import json
        import zipfile
        now = "2026/01/15 18:00:00"
        r = self.publish("--full", "--now", now, "--run-id", "7")
        with zipfile.ZipFile(self.zip_path(r)) as z:
            m = json.loads(z.comment.decode("utf-8"))
            psv = z.read(z.namelist()[0])
        self.assertEqual((m["onhandpub_manifest"], m["organization"], m["run_id"], m["mode"]),
                         ("1.0", "M1", 7, "FULL"))
        self.assertEqual((m["data_lines"], m["psv_bytes"]), (psv.count(b"\n") - 1, len(psv)))
        self.assertEqual(m["totals"], {"EA": "2674", "BOX": "60", "KG": "25.5", "LB": "750"})
        shutil.rmtree(self.out)
        os.mkdir(self.out)
        r = self.publish("--full", "--now", now, "--run-id", "7", "--no-manifest")
        with zipfile.ZipFile(self.zip_path(r)) as z:
            self.assertEqual(z.comment, b"")
            self.assertEqual(z.read(z.namelist()[0]), psv)

    def test_engine(self):
        import zipfile
        now = "2026/01/15 18:00:00"

        def entry(r):
            with zipfile.ZipFile(self.zip_path(r)) as z:
                self.assertIsNone(z.testzip())
                return z.read(z.namelist()[0])

        def fresh():
            shutil.rmtree(self.out)
            os.mkdir(self.out)

        ref = self.publish("--full", "--now", now, "--run-id", "7")
        self.assertIn("bytes (zlib), ZIP", ref.stderr)
        psv = entry(ref)
        with open(self.zip_path(ref), "rb") as f:
            zlib_zip = f.read()
        fresh()
        r = self.publish("--full", "--now", now, "--run-id", "7", "--engine", "zlib")
        with open(self.zip_path(r), "rb") as f:
            self.assertEqual(f.read(), zlib_zip)  # zlib is the default
        have = os.environ.get("OHP_EXPECT_ISAL") == "1"
        fresh()
        r = self.publish("--full", "--now", now, "--run-id", "7", "--engine", "isal")
        if have:
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("bytes (isal), ZIP", r.stderr)
            self.assertEqual(entry(r), psv)
            insp = self.run_cli("inspect", self.zip_path(r))
            self.assertEqual(insp.returncode, 0, insp.stdout + insp.stderr)
        else:
            self.assertEqual(r.returncode, 2)
            self.assertIn("no ISA-L", r.stderr)
            self.assertEqual(self.outfiles(), [])
        fresh()
        r = self.publish("--full", "--now", now, "--run-id", "7", "--engine", "best")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("bytes (%s), ZIP" % ("isal" if have else "zlib"), r.stderr)
        self.assertEqual(entry(r), psv)
        fresh()
        r = self.publish("--full", "--now", now, "--engine", "lz4")
        self.assertEqual(r.returncode, 2)
        self.assertIn("expected zlib, isal or best, found 'lz4'", r.stderr)
        self.assertEqual(self.outfiles(), [])

    def test_json_summary(self):
        import json
        now = "2026/01/15 18:00:00"
        r = self.publish("--full", "--now", now, "--run-id", "7", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")  # no human summary, no progress
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 1)
        j = json.loads(lines[0])
        self.assertEqual((j["onhandpub_summary"], j["status"], j["exit_status"], j["error"]),
                         ("1.0", "succeeded", 0, None))
        self.assertTrue(os.path.isfile(j["file"]))
        self.assertEqual(os.path.basename(j["file"]), j["file_name"])
        self.assertEqual((j["organization_code"], j["run_id"], j["mode"], j["items"]),
                         ("M1", 7, "FULL", "both"))
        self.assertEqual((j["snapshot_date"], j["window_start"], j["user"]), (now, None, "alice"))
        self.assertEqual((j["records_read"], j["records_published"], j["lines"]), (14, 9, 21))
        self.assertEqual(j["skipped"], {"organization": 4, "item_type": 0, "window": 0,
                                        "zero_quantity": 1})
        self.assertEqual(j["totals"], {"EA": "2674", "BOX": "60", "KG": "25.5", "LB": "750"})
        with zipfile.ZipFile(j["file"]) as z:
            psv = z.read(z.namelist()[0])
        self.assertEqual(j["psv_bytes"], len(psv))
        self.assertEqual(j["crc32"], "%08x" % zlib.crc32(psv))
        self.assertEqual(j["zip_bytes"], os.path.getsize(j["file"]))
        # a failure: the exit status stays, the object says why
        r = self.publish("--full", "--now", now, "--run-id", "8", "--json", org="M9")
        self.assertEqual(r.returncode, 2)
        j = json.loads(r.stdout)
        self.assertEqual((j["status"], j["exit_status"], j["file"]), ("refused", 2, None))
        self.assertEqual(j["error"]["code"], -20)
        self.assertIn("no record of organization 'M9'", j["error"]["message"])
        self.assertIn("no record of organization 'M9'", r.stderr)

    def test_json_summary_with_hostile_values(self):
        """Units and a folder name with quotes, backslashes, pipes, CR LF and non-ASCII
        text: the JSON reads back with them unchanged."""
        import json
        def line(item, qty, uom):
            v = {"ORGANIZATION_ID": "204", "ORGANIZATION_CODE": "M1", "ITEM_NUMBER": item,
                 "SUBINVENTORY_CODE": "FGI", "SERIAL_CONTROLLED": "N", "PRIMARY_QUANTITY": qty,
                 "PRIMARY_UOM_CODE": uom, "CONSIGNED_FLAG": "N",
                 "LAST_UPDATE_DATE": "2026/01/10 08:00:00"}
            return "|".join(v.get(c, "") for c in INPUT_COLUMNS) + "\n"

        inp = os.path.join(self.tmp, "in.psv")
        with open(inp, "w", encoding="utf-8", newline="") as f:
            f.write("|".join(INPUT_COLUMNS) + "\n" + line("X1", "1.5", '"K""g|\\"') +
                    line("X2", "2", '"Ω\r\nu"') + line("X3", "oops", "EA"))
        out = os.path.join(self.tmp, 'o"ut\\Ω')
        os.mkdir(out)
        r = self.run_cli("publish", "--input", inp, "--org", "M1", "--no-auth", "--full",
                         "--outdir", out, "--on-error", "reject", "--max-rejects", "100%",
                         "--now", "2026/01/15 18:00:00", "--json")
        self.assertEqual(r.returncode, 1, r.stderr)
        j = json.loads(r.stdout)
        self.assertEqual(j["totals"], {'K"g|\\': "1.5", "Ω\r\nu": "2"})
        self.assertEqual(os.path.dirname(j["file"]), out)
        self.assertTrue(os.path.isfile(j["file"]))
        self.assertEqual((j["status"], j["records_rejected"]), ("warnings", 1))

    def test_quiet_progress_verbose(self):
        now = "2026/01/15 18:00:00"
        r = self.publish("--full", "--now", now, "--run-id", "7")
        self.assertNotIn("records read,", r.stderr)  # not a terminal: no progress
        self.assertIn("published", r.stderr)
        shutil.rmtree(self.out)
        os.mkdir(self.out)
        r = self.publish("--full", "--now", now, "--run-id", "7", "-q")
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertEqual(len(r.stdout.splitlines()), 1)
        shutil.rmtree(self.out)
        os.mkdir(self.out)
        r = self.publish("--full", "--now", now, "--run-id", "7", "--progress")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"onhandpub: 14 records read, [0-9]+/s, [0-9.]+ s")
        shutil.rmtree(self.out)
        os.mkdir(self.out)
        r = self.publish("--full", "--now", now, "--run-id", "7", "-v")
        self.assertIn("publishing organization M1, system 0, items both, full", r.stderr)
        self.assertIn("records read,", r.stderr)
        r = self.publish("--full", "-q", "--progress")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--quiet excludes", r.stderr)

    def test_sample_features_are_published(self):
        r = self.publish("--full", "--now", "2026/01/15 18:00:00", "--run-id", "1")
        rows = read_zip(self, self.zip_path(r))
        col = {c: i for i, c in enumerate(OUTPUT_COLUMNS)}
        by_item = {}
        for row in rows:
            by_item.setdefault(row[col["ITEM_NUMBER"]], []).append(row)
        self.assertIn('PIPE 3/4" SCH40', by_item)
        self.assertEqual(by_item["CM-BOLT-10"][0][col["LOCATOR_NAME"]], "S1|02|03")
        self.assertEqual([x[col["SERIAL_NUMBER"]] for x in by_item["SCANNER-200"]],
                         ["SC200-%04d" % i for i in range(100, 110)] + ["SC200-0200"])
        self.assertEqual(by_item["CHEESE-WHEEL"][0][col["SECONDARY_QUANTITY"]], "3")
        self.assertEqual(by_item["RESIN-PP"][0][col["CONSIGNED_FLAG"]], "Y")
        self.assertEqual(by_item["RESIN-PP"][0][col["OWNING_PARTY_ID"]], "88012")
        self.assertNotIn("GLOVES-NITRILE-M", by_item)  # zero quantity, full mode
        self.assertIn("zero quantity 1", r.stderr)
        self.assertIn("other organization 4", r.stderr)

    def test_summary_and_stdout(self):
        r = self.publish("--full", "--now", "2026/01/15 18:00:00", "--run-id", "3")
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout, os.path.join(self.out, "ONHAND_0_M1_3_20260115180000.zip") + "\n")
        for frag in ("mode FULL", "snapshot 2026/01/15 18:00:00", "run id 3", "records read 14",
                     "published 9", "rejected 0", "skipped: other organization 4",
                     "item type 0", "outside window 0", "zero quantity 1", "lines 21",
                     "14 from serials", "PSV ", "compressed ", "ZIP ",
                     "ONHAND_0_M1_3_20260115180000.zip", "elapsed "):
            self.assertIn(frag, r.stderr)
        size = os.path.getsize(r.stdout.strip())
        self.assertIn("ZIP %d bytes" % size, r.stderr)

    def test_items_filter(self):
        text = read_text(data("balances.psv"))
        for items in ("serial", "nonserial", "both"):
            with self.subTest(items=items):
                out = os.path.join(self.tmp, items)
                os.mkdir(out)
                r = self.run_cli("publish", "--input", data("balances.psv"), "--org", "M1",
                                 "--no-auth", "--outdir", out, "--full", "--items", items,
                                 "--now", "2026/01/15 18:00:00", "--run-id", "1")
                self.assertEqual(r.returncode, 0, r.stderr)
                want = expected_rows(text, "M1", 1, "FULL", "2026/01/15 18:00:00", items=items)
                self.assertEqual(read_zip(self, self.zip_path(r)), want)

    def test_stdin_input(self):
        text = read_text(data("balances.psv"))
        r = self.publish("--full", "--now", "2026/01/15 18:00:00", "--run-id", "2", inp="-",
                         stdin=text)
        self.assertEqual(r.returncode, 0, r.stderr)
        want = expected_rows(text, "M1", 2, "FULL", "2026/01/15 18:00:00")
        stdin_zip = self.zip_path(r)
        self.assertEqual(read_zip(self, stdin_zip), want)
        # Same bytes as reading the file.
        other = os.path.join(self.tmp, "other")
        os.mkdir(other)
        r2 = self.run_cli("publish", "--input", data("balances.psv"), "--org", "M1", "--no-auth",
                          "--outdir", other, "--full", "--now", "2026/01/15 18:00:00",
                          "--run-id", "2")
        self.assertEqual(read_bytes(self.zip_path(r2)), read_bytes(stdin_zip))

    def test_canonical_values_and_column_order(self):
        cols = list(reversed(INPUT_COLUMNS)) + ["EXTRA_COLUMN"]
        rows = [rec(item="A", qty="005.50", LAST_UPDATE_DATE="2026-01-05",
                    SECONDARY_QUANTITY="2.000", SECONDARY_UOM_CODE="KG",
                    LOT_NUMBER="L1", LOT_EXPIRATION_DATE="2027-02-03T10:00:00Z", EXTRA_COLUMN="x"),
                rec(item="B", qty="-0.0", CONSIGNED_FLAG="")]
        text = make_input(rows, cols)
        inp = self.write("in.psv", text)
        r = self.publish("--from", "2026/01/01", "--now", "2026/01/15", "--run-id", "4", inp=inp)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = read_zip(self, self.zip_path(r))
        want = expected_rows(text, "M1", 4, "INCREMENTAL", "2026/01/15 00:00:00",
                             window="2026/01/01 00:00:00")
        self.assertEqual(got, want)
        self.assertEqual(got[0][OUTPUT_COLUMNS.index("PRIMARY_QUANTITY")], "5.5")
        self.assertEqual(got[1][OUTPUT_COLUMNS.index("PRIMARY_QUANTITY")], "0")

    def test_compression_levels(self):
        text = read_text(data("balances.psv"))
        for level in ("0", "9"):
            with self.subTest(level=level):
                out = os.path.join(self.tmp, "l" + level)
                os.mkdir(out)
                r = self.run_cli("publish", "--input", data("balances.psv"), "--org", "M1",
                                 "--no-auth", "--outdir", out, "--full", "--level", level,
                                 "--now", "2026/01/15 18:00:00", "--run-id", "1")
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(read_zip(self, self.zip_path(r)),
                                 expected_rows(text, "M1", 1, "FULL", "2026/01/15 18:00:00"))

    def test_threads_give_the_same_zip(self):
        # A large enough input that several compression blocks are in flight.
        rows = [rec(item="IT-%05d" % i, qty=str(i % 97 + 1), LOT_NUMBER="L%d" % (i * 7919))
                for i in range(20000)]
        inp = self.write("many.psv", make_input(rows))
        blobs = []
        for threads in ("1", "2", "5"):
            with self.subTest(threads=threads):
                out = os.path.join(self.tmp, "t" + threads)
                os.mkdir(out)
                r = self.run_cli("publish", "--input", inp, "--org", "M1", "--no-auth",
                                 "--outdir", out, "--full", "--threads", threads,
                                 "--now", "2026/01/15 18:00:00", "--run-id", "1")
                self.assertEqual(r.returncode, 0, r.stderr)
                blobs.append(read_bytes(self.zip_path(r)))
        self.assertEqual(len(set(blobs)), 1)
        self.assertGreater(len(blobs[0]), 1000)

    def test_other_system_from_lookups(self):
        r = self.publish("--lookups", data("lookups.psv"), "--system", "1", "--full",
                         "--now", "2026/01/15 18:00:00", "--run-id", "5", org="M3/EAST")
        self.assertEqual(r.returncode, 0, r.stderr)
        path = self.zip_path(r)
        self.assertEqual(os.path.basename(path), "ONHAND_1_M3_EAST_5_20260115180000.zip")
        self.assertEqual(read_zip(self, path),
                         expected_rows(read_text(data("balances.psv")), "M3/EAST", 5, "FULL",
                                       "2026/01/15 18:00:00", system="1"))

    def test_umask_applies(self):
        for mask, mode in ((0o077, 0o600), (0o022, 0o644)):
            with self.subTest(mask=oct(mask)):
                out = os.path.join(self.tmp, "m%o" % mask)
                os.mkdir(out)
                r = self.run_cli("publish", "--input", data("balances.psv"), "--org", "M1",
                                 "--no-auth", "--outdir", out, "--now", "2026/01/15",
                                 preexec=lambda m=mask: os.umask(m))
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(os.stat(self.zip_path(r)).st_mode & 0o777, mode)


class TestAuthorization(CliTest):
    def test_granted_user(self):
        r = self.publish("--now", "2026/01/15")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("user alice", r.stderr)

    def test_user_without_privilege(self):
        for user in ("bob", "mallory"):
            with self.subTest(user=user):
                r = self.run_cli("publish", "--input", data("balances.psv"), "--org", "M1",
                                 "--outdir", self.out, "--user", user, "--grants",
                                 data("grants.psv"))
                self.assertOneLineError(r, 3, user)
                self.assertIn(PRIV, r.stderr)
                self.assertEqual(self.outfiles(), [])

    def test_no_grants_and_no_no_auth_is_refused(self):
        r = self.publish(auth=False)
        self.assertOneLineError(r, 3, PRIV)
        self.assertEqual(self.outfiles(), [])

    def test_no_auth(self):
        r = self.publish("--no-auth", "--user", "nobody-in-particular", auth=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.zip_path(r)

    def test_refused_run_never_reads_input(self):
        r = self.run_cli("publish", "--input", os.path.join(self.tmp, "absent.psv"), "--org",
                         "M1", "--outdir", self.out, "--user", "bob", "--grants",
                         data("grants.psv"), "--state", self.state)
        self.assertOneLineError(r, 3, "bob")
        self.assertFalse(os.path.exists(self.state))

    def test_default_user_is_login_name(self):
        import pwd
        name = pwd.getpwuid(os.geteuid()).pw_name
        g = self.write("g.psv", "USER_NAME|PRIVILEGE_CODE\n%s|%s\n" % (name, PRIV))
        r = self.run_cli("publish", "--input", data("balances.psv"), "--org", "M1", "--outdir",
                         self.out, "--grants", g, "--now", "2026/01/15")
        # getlogin() may name another user on a terminal; then the run is refused.
        self.assertIn(r.returncode, (0, 3), r.stderr)
        if r.returncode == 0:
            self.assertIn("user %s" % name, r.stderr)


class TestFailures(CliTest):
    def bad_input(self):
        return self.write("bad.psv", make_input([rec(item="A"), rec(item="B", qty="x1"),
                                                 rec(item="C")]))

    def test_bad_record_under_fail(self):
        r = self.publish("--now", "2026/01/15", "--state", self.state, inp=self.bad_input())
        self.assertOneLineError(r, 4, "record 2")
        self.assertIn("PRIMARY_QUANTITY", r.stderr)
        self.assertEqual(self.outfiles(), [])
        self.assertEqual(watermark_rows(self.state), [])

    def test_missing_input_file(self):
        r = self.publish(inp=os.path.join(self.tmp, "none.psv"))
        self.assertOneLineError(r, 4, "none.psv")
        self.assertEqual(self.outfiles(), [])

    def test_missing_required_column(self):
        cols = [c for c in INPUT_COLUMNS if c not in ("PRIMARY_UOM_CODE", "LAST_UPDATE_DATE")]
        inp = self.write("in.psv", make_input([rec()], cols))
        r = self.publish(inp=inp)
        self.assertOneLineError(r, 4, "PRIMARY_UOM_CODE")
        self.assertIn("LAST_UPDATE_DATE", r.stderr)
        self.assertEqual(self.outfiles(), [])

    def test_empty_input(self):
        r = self.publish(inp=self.write("empty.psv", ""))
        self.assertOneLineError(r, 4, "header")
        self.assertEqual(self.outfiles(), [])

    def test_write_error_leaves_nothing(self):
        def small_files():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (300, 300))

        before = watermark_rows(self.seed_state())
        r = self.publish("--level", "0", "--full", "--state", self.state, "--now", "2026/01/20",
                         preexec=small_files)
        self.assertOneLineError(r, 4)
        self.assertEqual(self.outfiles(), [])
        self.assertEqual(watermark_rows(self.state), before)

    def test_unwritable_outdir(self):
        preexec = None
        # The inputs are copied next to the output: the user running the program
        # needs to read them, wherever the sample data lies.
        inp = shutil.copyfile(data("balances.psv"), os.path.join(self.tmp, "balances.psv"))
        grants = shutil.copyfile(data("grants.psv"), os.path.join(self.tmp, "grants.psv"))
        if os.geteuid() == 0:
            # Directory permissions bind only other users: run the program as nobody.
            def preexec():
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            os.chmod(self.tmp, 0o755)
            try:
                probe = self.run_cli("--version", preexec=preexec)
            except (OSError, subprocess.SubprocessError) as exc:
                # e.g. a checkout under a home folder of mode 700: user nobody
                # cannot reach the program
                self.skipTest(f"the program cannot run as user nobody here: {exc}")
            if probe.returncode != 0:
                self.skipTest("the program cannot run as user nobody here: "
                              f"exit {probe.returncode}: {probe.stderr.strip()}")
        os.chmod(self.out, 0o555)
        r = self.publish("--now", "2026/01/15", "--user", "alice", "--grants", grants, inp=inp,
                         auth=False, preexec=preexec)
        self.assertOneLineError(r, 4, self.out)
        os.chmod(self.out, 0o700)
        self.assertEqual(self.outfiles(), [])

    def test_quoting_error_midstream_with_reject_policy(self):
        rejects = os.path.join(self.tmp, "rejects.psv")
        text = make_input([rec(item="A"), rec(item="B", qty="bad")]) + '204|"M1|broken\n'
        r = self.publish("--on-error", "reject", "--rejects", rejects, "--state", self.state,
                         inp=self.write("in.psv", text))
        self.assertOneLineError(r, 4)
        self.assertEqual(self.outfiles(), [])
        self.assertFalse(os.path.exists(rejects))
        self.assertEqual(os.listdir(self.tmp).count("rejects.psv"), 0)
        self.assertFalse([f for f in os.listdir(self.tmp) if ".tmp." in f])
        self.assertEqual(watermark_rows(self.state), [])

    def seed_state(self):
        seed = os.path.join(self.tmp, "seed")
        os.mkdir(seed)
        r = self.publish("--now", "2026/01/15 18:00:00", "--state", self.state, "--outdir", seed,
                         outdir=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        return self.state

    def test_existing_zip_is_never_replaced(self):
        args = ("--now", "2026/01/15 18:00:00", "--run-id", "9")
        r = self.publish(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        path = self.zip_path(r)
        before = read_bytes(path)
        r = self.publish(*args, "--full")
        self.assertOneLineError(r, 4, "already exists")
        self.assertEqual(read_bytes(path), before)
        self.assertEqual(self.outfiles(), [os.path.basename(path)])


class TestInputs(CliTest):
    """How every input is read: NUL bytes, byte-order marks, column names, positions, dates."""

    def write_bytes(self, name, data):
        p = os.path.join(self.tmp, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def test_nul_byte_is_a_record_error(self):
        text = make_input([rec(org="M1\0X", item="AB\0CD"), rec(item="CLEAN")])
        inp = self.write("nul.psv", text)
        r = self.publish("--full", "--now", "2026/01/15", inp=inp)
        self.assertOneLineError(r, 4, "NUL")
        self.assertIn("record 1 (", r.stderr)
        self.assertIn("line 2, column 2 (ORGANIZATION_CODE)", r.stderr)
        self.assertIn("input '%s', line 2" % inp, r.stderr)
        self.assertEqual(self.outfiles(), [])
        rejects = os.path.join(self.tmp, "rejects.psv")
        r = self.publish("--full", "--now", "2026/01/15", "--on-error", "reject",
                         "--rejects", rejects, inp=inp)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("rejected 1", r.stderr)
        got = read_zip(self, self.zip_path(r))
        self.assertEqual([(g[5], g[7]) for g in got], [("M1", "CLEAN")])
        rj = list(csv.reader(io.StringIO(read_text(rejects), newline=""), delimiter="|"))
        self.assertEqual(rj[1][0], "1")
        self.assertIn("NUL", rj[1][1])
        self.assertNotIn("\0", read_text(rejects))

    def test_nul_byte_in_other_inputs(self):
        g = self.write("grants.psv", "USER_NAME|PRIVILEGE_CODE\nali\0ce|%s\n" % PRIV)
        r = self.run_cli("publish", "--input", data("balances.psv"), "--org", "M1",
                         "--outdir", self.out, "--user", "ali", "--grants", g)
        self.assertOneLineError(r, 2, "grants")
        self.assertIn("line 2, column 1", r.stderr)
        self.assertIn("NUL", r.stderr)
        lk = self.write("lk.psv", "LOOKUP_CODE|MEANING|DESCRIPTION|ENABLED_FLAG|"
                        "START_DATE_ACTIVE|END_DATE_ACTIVE|DISPLAY_SEQUENCE|TAG\n"
                        "7|Seven\0 3PL||Y||||\n")
        r = self.publish("--lookups", lk, "--system", "7")
        self.assertOneLineError(r, 2, "line 2, column 2")
        self.assertEqual(self.outfiles(), [])

    def test_nul_byte_in_the_state_file(self):
        # the row of organization "M1<NUL>X" must not be read as M1's watermark
        self.write("state.psv", STATE_HEAD.format(n=3) + "0|M1\0X|2026/01/15 18:00:00|3\n")
        before = read_bytes(self.state)
        r = self.publish("--state", self.state, "--now", "2026/01/16")
        self.assertOneLineError(r, 4, "state file")
        self.assertIn("line 4, column 2", r.stderr)
        self.assertIn("NUL", r.stderr)
        self.assertEqual(read_bytes(self.state), before)
        self.assertEqual(self.outfiles(), [])

    def test_byte_order_mark_is_skipped(self):
        text = make_input([rec(item="A", ORGANIZATION_ID="204")])
        inp = self.write_bytes("bom.psv", b"\xef\xbb\xbf" + text.encode())
        g = self.write_bytes("grants.psv", b"\xef\xbb\xbfUSER_NAME|PRIVILEGE_CODE\nalice|"
                             + PRIV.encode() + b"\n")
        r = self.run_cli("publish", "--input", inp, "--org", "M1", "--outdir", self.out,
                         "--user", "alice", "--grants", g, "--full", "--now", "2026/01/15")
        self.assertEqual(r.returncode, 0, r.stderr)
        got = read_zip(self, self.zip_path(r))
        self.assertEqual(got[0][OUTPUT_COLUMNS.index("ORGANIZATION_ID")], "204")
        self.assertEqual(got[0][OUTPUT_COLUMNS.index("ITEM_NUMBER")], "A")

    def test_near_miss_column_name_is_an_error(self):
        for bad, meant in (("item_number", "ITEM_NUMBER"), ("LOT_NUMBER ", "LOT_NUMBER"),
                           ("Organization_Id", "ORGANIZATION_ID")):
            with self.subTest(bad=bad):
                cols = [bad if c == meant else c for c in INPUT_COLUMNS]
                text = psv_line(cols) + psv_line([rec().get(c, "") for c in INPUT_COLUMNS])
                inp = self.write("near.psv", text)
                r = self.publish("--full", inp=inp)
                self.assertOneLineError(r, 4, "'%s'" % bad)
                self.assertIn(meant + "?", r.stderr)
                self.assertIn("near.psv", r.stderr)
                self.assertEqual(self.outfiles(), [])

    def test_record_errors_name_the_file_and_line(self):
        # line 1 header, 2 good, 3 blank, 4-5 a quoted line break, 6 the bad record (record 3)
        text = (psv_line(INPUT_COLUMNS)
                + psv_line([rec(item="A").get(c, "") for c in INPUT_COLUMNS]) + "\n"
                + psv_line([rec(item="B\nC").get(c, "") for c in INPUT_COLUMNS])
                + psv_line([rec(item="D", qty="x1").get(c, "") for c in INPUT_COLUMNS]))
        inp = self.write("lines.psv", text)
        where = "input '%s', line 6, column 13 (PRIMARY_QUANTITY)" % inp
        r = self.publish("--full", "--now", "2026/01/15", inp=inp)
        self.assertOneLineError(r, 4, "record 3 (")
        self.assertIn(where, r.stderr)
        rejects = os.path.join(self.tmp, "rejects.psv")
        r = self.publish("--full", "--now", "2026/01/15", "--on-error", "reject",
                         "--rejects", rejects, inp=inp)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("  rejected: record 3 (", r.stderr)
        self.assertIn(where, r.stderr)
        rj = list(csv.reader(io.StringIO(read_text(rejects), newline=""), delimiter="|"))
        self.assertIn(where, rj[1][1])
        # standard input has no file name
        r = self.publish("--full", "--now", "2026/01/15", "--run-id", "9", inp="-", stdin=text)
        self.assertOneLineError(r, 4, "standard input, line 6, column 13 (PRIMARY_QUANTITY)")

    def test_dash_date_time_and_accepted_forms(self):
        inp = self.write("in.psv", make_input([rec(LAST_UPDATE_DATE="2026-01-15 18:00:00")]))
        r = self.publish("--full", "--now", "2026-01-16 06:30:00", "--run-id", "3", inp=inp)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = read_zip(self, self.zip_path(r))
        self.assertEqual(got[0][OUTPUT_COLUMNS.index("SNAPSHOT_DATE")], "2026/01/16 06:30:00")
        self.assertEqual(got[0][OUTPUT_COLUMNS.index("LAST_UPDATE_DATE")], "2026/01/15 18:00:00")
        forms = ("YYYY/MM/DD", "YYYY/MM/DD HH:MM:SS", "YYYY-MM-DD HH:MM:SS",
                 "YYYY-MM-DDTHH:MM:SSZ", "YYYY-MM-DDTHH:MM:SS+HH:MM")
        for opt in ("--now", "--from"):
            r = self.publish(opt, "15/01/2026", inp=inp)
            self.assertOneLineError(r, 2, "15/01/2026")
            for f in forms:
                self.assertIn(f, r.stderr)
        inp = self.write("bad.psv", make_input([rec(LAST_UPDATE_DATE="01/15/2026 6pm")]))
        r = self.publish("--full", inp=inp)
        self.assertOneLineError(r, 4, "LAST_UPDATE_DATE '01/15/2026 6pm' is not a valid date")
        for f in forms:
            self.assertIn(f, r.stderr)

    def lookups_text(self, size):
        head = ("LOOKUP_CODE|MEANING|DESCRIPTION|ENABLED_FLAG|START_DATE_ACTIVE|"
                "END_DATE_ACTIVE|DISPLAY_SEQUENCE|TAG\n")
        rows = "".join("%d|System %d||Y||||\n" % (i, i) for i in range(1, 300001))
        text = head + rows
        return (text + "\n" * (size - len(text))).encode()

    def test_lookups_of_exactly_16_mib(self):
        lk = self.write_bytes("lk.psv", self.lookups_text(16777216))
        self.assertEqual(os.path.getsize(lk), 16777216)
        t0 = time.monotonic()
        r = self.publish("--lookups", lk, "--system", "299999", "--full", "--now", "2026/01/15")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLess(time.monotonic() - t0, 60)
        self.assertIn("ONHAND_299999_M1_", r.stdout)
        lk = self.write_bytes("lk2.psv", self.lookups_text(16777217))
        r = self.publish("--lookups", lk, "--system", "299999")
        self.assertOneLineError(r, 2, "larger than 16777216 bytes")

    def test_lookups_code_zero_twice(self):
        lk = self.write("lk.psv", "LOOKUP_CODE|MEANING|DESCRIPTION|ENABLED_FLAG|"
                        "START_DATE_ACTIVE|END_DATE_ACTIVE|DISPLAY_SEQUENCE|TAG\n"
                        "0|Oracle WMS Cloud||Y||||\n1|Acme||Y||||\n0|Other name||Y||||\n")
        r = self.publish("--lookups", lk)
        self.assertOneLineError(r, 2, "line 4")
        self.assertIn("code 0", r.stderr)
        self.assertEqual(self.outfiles(), [])


class TestRejects(CliTest):
    def test_reject_policy_and_rejects_file(self):
        rows = [
            rec(item="GOOD-1", qty="5"),
            rec(item="BAD-QTY", qty="5.x"),
            rec(item="SER", SERIAL_CONTROLLED="Y", SERIAL_NUMBERS="A1,A2", qty="3"),
            None,  # wrong number of fields
            rec(item="FLAG", SERIAL_CONTROLLED="X"),
            rec(item='He said "hi"', LOCATOR_NAME="L|1", LAST_UPDATE_DATE="2026/02/30"),
            rec(org="M2", item="OTHER-ORG-BAD", qty="zz"),
            rec(item="GOOD-2", qty="7", SERIAL_CONTROLLED="Y", SERIAL_NUMBERS="S1..S7"),
        ]
        text = psv_line(INPUT_COLUMNS)
        for r_ in rows:
            text += "204|M1|oops\n" if r_ is None else psv_line([r_.get(c, "") for c in
                                                                   INPUT_COLUMNS])
        inp = self.write("in.psv", text)
        rejects = os.path.join(self.tmp, "rejects.psv")
        # 5 of the 7 records checked are rejected: over the default share of 50%.
        r = self.publish("--on-error", "reject", "--rejects", rejects, "--now", "2026/01/15",
                         "--run-id", "1", "--full", inp=inp)
        self.assertOneLineError(r, 4, "5 of the 7 records checked were rejected, more than 50%")
        self.assertEqual(self.outfiles(), [])
        r = self.publish("--on-error", "reject", "--rejects", rejects, "--now", "2026/01/15",
                         "--run-id", "1", "--full", "--max-rejects", "5", inp=inp)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("rejected 5", r.stderr)
        self.assertNotIn("(null)", r.stderr)
        self.assertIn("  rejected: record 2 (", r.stderr)
        self.assertIn("skipped: other organization 1", r.stderr)
        got = read_zip(self, self.zip_path(r))
        items = [g[OUTPUT_COLUMNS.index("ITEM_NUMBER")] for g in got]
        self.assertEqual(items, ["GOOD-1"] + ["GOOD-2"] * 7)

        rtext = read_text(rejects)
        rj = list(csv.reader(io.StringIO(rtext, newline=""), delimiter="|"))
        self.assertEqual(rj[0], REJECT_COLUMNS)
        self.assertEqual([x[0] for x in rj[1:]], ["2", "3", "4", "5", "6"])
        self.assertTrue(all(len(x) == len(REJECT_COLUMNS) for x in rj))
        reasons = [x[1] for x in rj[1:]]
        self.assertIn("PRIMARY_QUANTITY '5.x'", reasons[0])
        self.assertIn("serial count 2 does not match quantity 3", reasons[1])
        self.assertIn("expected 22 fields, found 3", reasons[2])
        self.assertIn("SERIAL_CONTROLLED must be Y or N", reasons[3])
        self.assertIn("LAST_UPDATE_DATE", reasons[4])
        for i, reason in enumerate(reasons):
            self.assertTrue(reason.startswith("record %d (" % (i + 2)), reason)
        # Input columns as given.
        src = {c: i + 2 for i, c in enumerate(INPUT_COLUMNS)}
        for line, want in ((1, rows[1]), (2, rows[2]), (5, rows[5])):
            for c in INPUT_COLUMNS:
                self.assertEqual(rj[line][src[c]], want.get(c, ""), (line, c))
        # A row of the wrong length: the fields it has, by position, as read.
        self.assertEqual(rj[3][2:], ["204", "M1", "oops"] + [""] * (len(INPUT_COLUMNS) - 3))
        # A bad flag is echoed as read too.
        self.assertEqual(rj[4][src["ITEM_NUMBER"]], "FLAG")
        self.assertEqual(rj[4][src["SERIAL_CONTROLLED"]], "X")
        self.assertIn('"He said ""hi"""', rtext)
        self.assertIn('"L|1"', rtext)
        self.assertFalse([f for f in os.listdir(self.tmp) if ".tmp." in f])

    def test_reject_policy_without_file_and_clean_run(self):
        rejects = os.path.join(self.tmp, "rejects.psv")
        r = self.publish("--on-error", "reject", "--rejects", rejects, "--now", "2026/01/15")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(read_text(rejects), psv_line(REJECT_COLUMNS))
        inp = self.write("in.psv", make_input([rec(qty="q")]))
        # Every record rejected: never a success by default.
        r = self.publish("--on-error", "reject", "--now", "2026/01/16", inp=inp)
        self.assertOneLineError(r, 4, "1 of the 1 records checked were rejected")
        # Allowed all the way, the run would still publish an empty FULL snapshot.
        r = self.publish("--on-error", "reject", "--now", "2026/01/16", "--max-rejects", "100%",
                         inp=inp)
        self.assertOneLineError(r, 2, "a FULL snapshot with no line")
        r = self.publish("--on-error", "reject", "--now", "2026/01/16", "--max-rejects", "100%",
                         "--allow-empty", inp=inp)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("rejected: record 1", r.stderr)
        two = self.write("two.psv", make_input([rec(qty="q"), rec(item="B", qty="r"),
                                                rec(item="C")]))
        r = self.publish("--on-error", "reject", "--now", "2026/01/17", "--max-rejects", "1",
                         "--allow-empty", inp=two)
        self.assertOneLineError(r, 4, "more than 1 records rejected (max_rejects)")
        for bad in ("x", "5%%", "0%", "101%", "%", "0"):
            r = self.publish("--on-error", "reject", "--max-rejects", bad, inp=inp)
            self.assertOneLineError(r, 2, "--max-rejects")
        r = self.publish("--max-rejects", "3", inp=inp)
        self.assertOneLineError(r, 2, "only with --on-error reject")

    def test_rejects_file_replaced_only_on_success(self):
        rejects = self.write("rejects.psv", "previous content\n")
        r = self.run_cli("publish", "--input", data("balances.psv"), "--org", "M1", "--outdir",
                         self.out, "--user", "bob", "--grants", data("grants.psv"),
                         "--on-error", "reject", "--rejects", rejects)
        self.assertEqual(r.returncode, 3)
        self.assertEqual(read_text(rejects), "previous content\n")
        self.assertFalse([f for f in os.listdir(self.tmp) if ".tmp." in f])


class TestNothingSilentlyWrong(CliTest):
    """Runs that used to publish something wrong with exit 0 or 1 are refused."""

    def state_text(self):
        return read_text(self.state)

    def test_item_classes_have_their_own_watermark(self):
        rows = [rec(item="SER", qty="1", SERIAL_CONTROLLED="Y", SERIAL_NUMBERS="S1",
                    LAST_UPDATE_DATE="2026/01/01 00:00:00"),
                rec(item="NON", qty="5", LAST_UPDATE_DATE="2026/01/01 00:00:00")]
        inp = self.write("in.psv", make_input(rows))
        r = self.publish("--state", self.state, "--now", "2026/01/02", inp=inp)
        self.assertEqual(r.returncode, 0, r.stderr)
        # NON changes on the 3rd; a serial-only run on the 4th does not publish it...
        rows[1]["LAST_UPDATE_DATE"] = "2026/01/03 00:00:00"
        inp = self.write("in.psv", make_input(rows))
        r = self.publish("--state", self.state, "--now", "2026/01/04", "--items", "serial",
                         inp=inp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(read_zip(self, self.zip_path(r)), [])
        self.assertIn("0|M1|NONSERIAL|2026/01/02 00:00:00|2026/01/02 00:00:00|",
                      self.state_text())
        # ...and the next non-serial run does.
        r = self.publish("--state", self.state, "--now", "2026/01/05", "--items", "nonserial",
                         inp=inp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("window from 2026/01/02 00:00:00", r.stderr)
        self.assertEqual([x[7] for x in read_zip(self, self.zip_path(r))], ["NON"])

    def test_state_file_version_1_is_read_without_loss(self):
        self.write("state.psv", STATE_HEAD_V1.format(n=7) + "0|M1|2026/01/15 18:00:00|7\n")
        r = self.publish("--state", self.state, "--now", "2026/01/16 18:00:00",
                         inp=data("balances-update.psv"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("mode INCREMENTAL, window from 2026/01/15 18:00:00", r.stderr)
        self.assertIn("_M1_8_", r.stdout)
        self.assertEqual(self.state_text(), STATE_HEAD.format(n=8)
                         + state_rows(0, "M1", "2026/01/16 18:00:00", 8))

    def test_snapshot_not_later_than_the_last_is_refused(self):
        r = self.publish("--state", self.state, "--now", "2026/08/15")
        self.assertEqual(r.returncode, 0, r.stderr)
        before = read_bytes(self.state)
        for now in ("2026/06/30", "2026/08/15"):
            r = self.publish("--state", self.state, "--now", now)
            self.assertOneLineError(r, 2, "not later than 2026/08/15 00:00:00")
            self.assertIn(now, r.stderr)
            self.assertEqual(read_bytes(self.state), before)
            self.assertEqual(len(self.outfiles()), 1)

    def test_empty_full_snapshot_is_refused(self):
        r = self.publish("--full", "--now", "2026/01/15", org="m1")
        self.assertOneLineError(r, 2, "closest organization code seen is 'M1'")
        self.assertEqual(self.outfiles(), [])
        r = self.publish("--full", "--now", "2026/01/15", "--allow-empty", org="m1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(read_zip(self, self.zip_path(r)), [])

    def test_run_id_of_more_than_18_digits(self):
        r = self.publish("--run-id", "1000000000000000000", "--now", "2026/01/15")
        self.assertOneLineError(r, 2, "more than 18 digits")
        self.assertEqual(self.outfiles(), [])
        r = self.publish("--run-id", "999999999999999999", "--now", "2026/01/15")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("_999999999999999999_", r.stdout)
        # A state whose counter is at the limit hands out nothing.
        self.write("state.psv", STATE_HEAD.format(n=999999999999999999))
        r = self.publish("--state", self.state, "--now", "2026/01/16")
        self.assertOneLineError(r, 4, "18 digits")
        self.assertEqual(len(self.outfiles()), 1)

    def test_long_organization_code(self):
        org = "O" * 300
        r = self.publish("--now", "2026/01/15", org=org)
        self.assertOneLineError(r, 2, "at most 18 characters (it has 300)")
        self.assertTrue(r.stderr.rstrip().endswith("none of them a control character"),
                        r.stderr)
        inp = self.write("o18.psv", make_input([rec(org="O" * 18)]))
        r = self.publish("--now", "2026/01/15", org="O" * 18, inp=inp)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(os.path.basename(r.stdout.strip()),
                         "ONHAND_0_%s_1_20260115000000.zip" % ("O" * 18))


class TestState(CliTest):
    def state_text(self):
        return read_text(self.state)

    def test_incremental_runs_move_the_window_only_on_success(self):
        full = data("balances.psv")
        upd = data("balances-update.psv")
        # 1: no previous success -> FULL, run id 1.
        r = self.publish("--state", self.state, "--now", "2026/01/15 18:00:00", inp=full)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("mode FULL", r.stderr)
        p1 = self.zip_path(r)
        self.assertEqual(os.path.basename(p1), "ONHAND_0_M1_1_20260115180000.zip")
        self.assertEqual(read_zip(self, p1),
                         expected_rows(read_text(full), "M1", 1, "FULL", "2026/01/15 18:00:00"))
        self.assertEqual(self.state_text(),
                         STATE_HEAD.format(n=1) + state_rows(0, "M1", "2026/01/15 18:00:00", 1))
        # 2: incremental from the last snapshot.
        r = self.publish("--state", self.state, "--now", "2026/01/16 18:00:00", inp=upd)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("mode INCREMENTAL, window from 2026/01/15 18:00:00", r.stderr)
        p2 = self.zip_path(r)
        self.assertEqual(os.path.basename(p2), "ONHAND_0_M1_2_20260116180000.zip")
        want2 = expected_rows(read_text(upd), "M1", 2, "INCREMENTAL", "2026/01/16 18:00:00",
                              window="2026/01/15 18:00:00")
        self.assertEqual(read_zip(self, p2), want2)
        self.assertEqual(len(want2), 8)  # whole keys: the bolt's two rows, the laptop's three
        after2 = watermark_rows(self.state)
        # 3: fails (bad record): watermarks as they were (run id 3 reserved), no new file.
        bad = self.write("bad.psv", make_input([rec(LAST_UPDATE_DATE="2026/01/17 09:00:00"),
                                                rec(qty="??",
                                                    LAST_UPDATE_DATE="2026/01/17 10:00:00")]))
        r = self.publish("--state", self.state, "--now", "2026/01/17 18:00:00", inp=bad)
        self.assertOneLineError(r, 4, "record 2")
        self.assertEqual(watermark_rows(self.state), after2)
        self.assertTrue(self.state_text().startswith(STATE_HEAD.format(n=3)))
        self.assertEqual(self.outfiles(), sorted(os.path.basename(p) for p in (p1, p2)))
        # 4: refused (not authorized): state byte-identical, no run id taken.
        before4 = read_bytes(self.state)
        r = self.run_cli("publish", "--input", upd, "--org", "M1", "--outdir", self.out,
                         "--user", "bob", "--grants", data("grants.psv"), "--state", self.state)
        self.assertEqual(r.returncode, 3)
        self.assertEqual(read_bytes(self.state), before4)
        # 5: succeeds: window still from run 2; run id 4 (3 went to the failed run: a
        # run id is reserved before anything is written and never handed out again).
        good = self.write("good.psv", make_input([rec(LAST_UPDATE_DATE="2026/01/17 09:00:00"),
                                                  rec(item="OLD")]))
        r = self.publish("--state", self.state, "--now", "2026/01/17 18:00:00", inp=good)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("window from 2026/01/16 18:00:00", r.stderr)
        self.assertIn("outside window 1", r.stderr)
        p5 = self.zip_path(r)
        self.assertEqual(os.path.basename(p5), "ONHAND_0_M1_4_20260117180000.zip")
        self.assertEqual(len(read_zip(self, p5)), 1)
        # Another organization and system get their own rows; the counter is shared.
        r = self.publish("--state", self.state, "--now", "2026/01/17 19:00:00", "--lookups",
                         data("lookups.psv"), "--system", "2", org="M3/EAST")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("mode FULL", r.stderr)
        self.assertEqual(self.state_text(),
                         STATE_HEAD.format(n=5) + state_rows(0, "M1", "2026/01/17 18:00:00", 4)
                         + state_rows(2, "M3/EAST", "2026/01/17 19:00:00", 5))
        # --full ignores the window but is recorded; --run-id moves the counter forward.
        r = self.publish("--state", self.state, "--now", "2026/01/18", "--full", "--run-id", "40")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.state_text(),
                         STATE_HEAD.format(n=40) + state_rows(0, "M1", "2026/01/18 00:00:00", 40)
                         + state_rows(2, "M3/EAST", "2026/01/17 19:00:00", 5))
        r = self.publish("--state", self.state, "--now", "2026/01/19")
        self.assertIn("_41_20260119000000.zip", r.stdout)

    def test_from_later_than_watermark_warns(self):
        r = self.publish("--state", self.state, "--now", "2026/01/15 18:00:00")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.publish("--state", self.state, "--now", "2026/01/16 18:00:00", "--from",
                         "2026/01/16", inp=data("balances-update.psv"))
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("window from 2026/01/15 18:00:00", r.stderr)
        self.assertIn("warning: Publish from Date 2026/01/16 00:00:00 is later", r.stderr)
        self.zip_path(r)
        # --from earlier than the watermark reaches back, without warning.
        r = self.publish("--state", self.state, "--now", "2026/01/17 18:00:00", "--from",
                         "2026/01/12", inp=data("balances-update.psv"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("window from 2026/01/12 00:00:00", r.stderr)
        want = expected_rows(read_text(data("balances-update.psv")), "M1", 3, "INCREMENTAL",
                             "2026/01/17 18:00:00", window="2026/01/12 00:00:00")
        self.assertEqual(read_zip(self, self.zip_path(r)), want)

    def test_from_without_state_is_incremental(self):
        r = self.publish("--from", "2026/01/13", "--now", "2026/01/15 18:00:00")
        self.assertEqual(r.returncode, 0, r.stderr)
        want = expected_rows(read_text(data("balances.psv")), "M1", 1, "INCREMENTAL",
                             "2026/01/15 18:00:00", window="2026/01/13 00:00:00")
        self.assertEqual(read_zip(self, self.zip_path(r)), want)
        self.assertEqual(len(want), 13)  # the zero row is included: a removal

    def test_corrupt_state_is_an_error(self):
        good = STATE_HEAD.format(n=3) + state_rows(0, "M1", "2026/01/15 18:00:00", 3)
        good_v1 = STATE_HEAD_V1.format(n=3) + "0|M1|2026/01/15 18:00:00|3\n"
        cases = {
            "garbage": "hello world\n",
            "empty": "",
            "magic": good.replace("ONHANDPUB_STATE|2", "ONHANDPUB_STATE|3"),
            "counter": good.replace("LAST_RUN_ID|3", "LAST_RUN_ID|x"),
            "header": good.replace("LAST_SNAPSHOT_DATE", "SNAPSHOT"),
            "v2 header in v1": good.replace("ONHANDPUB_STATE|2", "ONHANDPUB_STATE|1"),
            "truncated": good.split("\n")[0] + "\n" + good.split("\n")[1] + "\n",
            "date": good.replace("2026/01/15 18:00:00|3", "2026/01/35|3"),
            "watermark": good.replace("SERIAL|2026/01/15 18:00:00", "SERIAL|someday"),
            "watermark after snapshot": good.replace("SERIAL|2026/01/15 18:00:00",
                                                     "SERIAL|2026/01/16 18:00:00"),
            "class": good.replace("|NONSERIAL|", "|OTHER|"),
            "run id": good.replace("18:00:00|3", "18:00:00|0"),
            "run id above counter": good.replace("18:00:00|3", "18:00:00|4"),
            "fields": good + "0|M2|SERIAL|2026/01/15\n",
            "duplicate": good + state_rows(0, "M1", "2026/01/14 18:00:00", 2, ("SERIAL",)),
            "blank line": good + "\n",
            "quoting": good + '0|"M2|SERIAL|2026/01/15 18:00:00|2026/01/15 18:00:00|1\n',
            "v1 fields": good_v1 + "0|M2|2026/01/15\n",
            "v1 duplicate": good_v1 + "0|M1|2026/01/14 18:00:00|2\n",
        }
        for name, text in cases.items():
            with self.subTest(case=name):
                self.write("state.psv", text)
                before = read_bytes(self.state)
                r = self.publish("--state", self.state, "--now", "2026/01/16")
                self.assertOneLineError(r, 4, "state file")
                self.assertEqual(read_bytes(self.state), before)
                self.assertEqual(self.outfiles(), [])
        # Quoted organization codes round-trip.
        self.write("state.psv", good + state_rows(0, '"A|B"', "2026/01/15 18:00:00", 2))
        r = self.publish("--state", self.state, "--now", "2026/01/16", org="A|B",
                         inp=self.write("ab.psv", make_input([rec(org="A|B",
                                                                  LAST_UPDATE_DATE="2026/01/15 19:00:00")])))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("window from 2026/01/15 18:00:00", r.stderr)
        self.assertIn(state_rows(0, '"A|B"', "2026/01/16 00:00:00", 4), self.state_text())

    def test_state_that_is_not_a_file(self):
        os.mkdir(self.state)
        r = self.publish("--state", self.state)
        self.assertOneLineError(r, 4, "state file")
        self.assertEqual(self.outfiles(), [])

    def test_state_in_missing_directory(self):
        r = self.publish("--state", os.path.join(self.tmp, "no", "state.psv"))
        self.assertOneLineError(r, 4)
        self.assertEqual(self.outfiles(), [])

    def test_concurrent_runs_serialise(self):
        n = 4
        procs = []
        for i in range(n):
            out = os.path.join(self.out, str(i))
            os.mkdir(out)
            procs.append(subprocess.Popen(command(
                ["publish", "--input", data("balances.psv"), "--org", "M1", "--no-auth",
                 "--outdir", out, "--state", self.state]),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        results = [p.communicate(timeout=TIMEOUT) + (p.returncode,) for p in procs]
        ids = []
        for out, err, rc in results:
            self.assertEqual(rc, 0, err)
            m = re.search(r"_M1_(\d+)_\d{14}\.zip$", out.strip())
            self.assertTrue(m, out)
            ids.append(int(m.group(1)))
        self.assertEqual(sorted(ids), list(range(1, n + 1)))
        text = self.state_text()
        self.assertTrue(text.startswith(STATE_HEAD.format(n=n)), text)
        self.assertRegex(text, r"\n0\|M1\|NONSERIAL\|[0-9/: ]{19}\|[0-9/: ]{19}\|%d\n$" % n)
        self.assertEqual(text.count("\n"), 5)
        self.assertFalse([f for f in os.listdir(self.tmp) if ".tmp." in f])

    def test_second_run_waits_for_the_lock(self):
        rows = make_input([rec(item="I%d" % i) for i in range(50)]).splitlines(True)
        a = subprocess.Popen(command(["publish", "--input", "-", "--org", "M1", "--no-auth",
                                      "--outdir", self.out, "--state", self.state, "--now",
                                      "2026/01/15 10:00:00"]),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        b = None
        try:
            a.stdin.write("".join(rows[:10]))
            a.stdin.flush()
            wait_for(lambda: writing_into(a.pid, self.out))
            berr = os.path.join(self.tmp, "b.err")
            with open(berr, "w") as ef:
                b = subprocess.Popen(command(["publish", "--input", data("balances.psv"),
                                              "--org", "M1", "--no-auth", "--outdir", self.out,
                                              "--state", self.state, "--now",
                                              "2026/01/15 11:00:00"]),
                                     stdout=subprocess.PIPE, stderr=ef, text=True)
            wait_for(lambda: "waiting for another run" in read_text(berr))
            time.sleep(0.2)
            self.assertIsNone(b.poll())  # still waiting
            self.assertEqual(watermark_rows(self.state), [])
            aout, aerr = a.communicate("".join(rows[10:]), timeout=TIMEOUT)
            bout, _ = b.communicate(timeout=TIMEOUT)
        finally:
            for p in (a, b):
                if p is not None and p.poll() is None:
                    p.kill()
                    p.communicate()
        self.assertEqual(a.returncode, 0, aerr)
        self.assertEqual(b.returncode, 0, read_text(berr))
        self.assertIn("_M1_1_20260115100000.zip", aout)
        self.assertIn("_M1_2_20260115110000.zip", bout)
        self.assertIn("mode INCREMENTAL, window from 2026/01/15 10:00:00", read_text(berr))
        self.assertEqual(self.state_text(),
                         STATE_HEAD.format(n=2) + state_rows(0, "M1", "2026/01/15 11:00:00", 2))
        self.assertEqual(len(read_zip(self, aout.strip())), 50)


def writing_into(pid, directory):
    """Has process pid a file open in directory (an unnamed O_TMPFILE file included)?"""
    fds = "/proc/%d/fd" % pid
    try:
        names = os.listdir(fds)
    except OSError:
        return False
    for n in names:
        try:
            target = os.readlink(os.path.join(fds, n))
        except OSError:
            continue
        if target.startswith(directory + "/"):
            return True
    return False


def wait_for(cond, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


class TestSymlinks(CliTest):
    def victim(self):
        return self.write("victim.txt", "precious\n")

    def test_symlink_at_the_final_name(self):
        v = self.victim()
        name = "ONHAND_0_M1_5_20260115180000.zip"
        os.symlink(v, os.path.join(self.out, name))
        r = self.publish("--now", "2026/01/15 18:00:00", "--run-id", "5")
        self.assertOneLineError(r, 4, "already exists")
        self.assertEqual(read_text(v), "precious\n")
        self.assertEqual(self.outfiles(), [name])
        self.assertEqual(os.readlink(os.path.join(self.out, name)), v)

    def test_temporary_file_swapped_for_a_symlink(self):
        v = self.victim()
        rows = make_input([rec(item="I%d" % i) for i in range(20)]).splitlines(True)
        # Named temporaries: where the file system refuses O_TMPFILE.
        env = dict(os.environ, ONHANDPUB_NO_TMPFILE="1")
        p = subprocess.Popen(command(["publish", "--input", "-", "--org", "M1", "--no-auth",
                                      "--outdir", self.out, "--now", "2026/01/15", "--level",
                                      "0"]),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
        try:
            p.stdin.write("".join(rows[:5]))
            p.stdin.flush()
            wait_for(lambda: any(".tmp." in f for f in os.listdir(self.out)))
            tmp = [f for f in os.listdir(self.out) if ".tmp." in f][0]
            self.assertTrue(tmp.startswith(".ONHAND_0_M1_1_20260115000000.zip.tmp.%d." % p.pid),
                            tmp)
            os.unlink(os.path.join(self.out, tmp))
            os.symlink(v, os.path.join(self.out, tmp))
            out, err = p.communicate("".join(rows[5:]), timeout=TIMEOUT)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        self.assertEqual(p.returncode, 4, err)
        self.assertEqual(out, "")
        self.assertIn("replaced", err)
        self.assertEqual(read_text(v), "precious\n")
        self.assertEqual(self.outfiles(), [tmp])  # only the planted link
        self.assertTrue(os.path.islink(os.path.join(self.out, tmp)))

    def test_symlinked_lock_and_state_are_refused(self):
        v = self.victim()
        os.symlink(v, self.state + ".lock")
        r = self.publish("--state", self.state)
        self.assertOneLineError(r, 4, "lock")
        os.unlink(self.state + ".lock")
        os.symlink(v, self.state)
        r = self.publish("--state", self.state)
        self.assertOneLineError(r, 4, "state file")
        self.assertEqual(read_text(v), "precious\n")
        self.assertEqual(self.outfiles(), [])


FORGED = "A\nonhandpub: published FAKE.zip (succeeded)\x1b[2J"
FORGED_SEEN = "A\\nonhandpub: published FAKE.zip (succeeded)\\x1b[2J"


class TestMessages(CliTest):
    """Input text never reaches the terminal raw: values quoted in messages show control
    characters and bytes that are not UTF-8 as escapes, so every message is one line."""

    def run_bytes(self, *args):
        return subprocess.run(command(args), capture_output=True, timeout=TIMEOUT)

    def assertVisible(self, raw):
        text = raw.decode("utf-8")  # strict: no byte that is not UTF-8
        for line in text.splitlines():
            self.assertFalse([c for c in line if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F],
                             repr(line))
        self.assertNotIn("\r", text)
        return text

    def write_bytes(self, name, data):
        p = os.path.join(self.tmp, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    def forged_input(self):
        text = make_input([rec(item=FORGED, qty="x1\x1b[31m"), rec(item="GOOD")])
        return self.write_bytes("forged.psv", text.encode("utf-8")
                                + b"204|M1||C\xff||STORES|||||N||1|EA|||N||||Active|"
                                  b"2026/01/10 08:00:00\n")

    def test_record_error_is_one_line(self):
        inp = self.forged_input()
        r = self.run_bytes("publish", "--org", "M1", "--no-auth", "--input", inp,
                           "--outdir", self.out)
        self.assertEqual(r.returncode, 4, r.stderr)
        err = self.assertVisible(r.stderr)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith("onhandpub: "), err)
        self.assertIn("item " + FORGED_SEEN + ",", err)
        self.assertIn("'x1\\x1b[31m'", err)
        self.assertNotIn("\nonhandpub: published", err)
        self.assertEqual(r.stdout, b"")
        self.assertEqual(self.outfiles(), [])

    def test_rejected_summary_lines(self):
        inp = self.forged_input()
        r = self.run_bytes("publish", "--org", "M1", "--no-auth", "--input", inp,
                           "--outdir", self.out, "--on-error", "reject", "--max-rejects", "100%")
        self.assertEqual(r.returncode, 1, r.stderr)
        err = self.assertVisible(r.stderr)
        lines = err.splitlines()
        # One heading line; every other line is indented detail.
        self.assertEqual([l for l in lines if not l.startswith("  ")], [lines[0]], err)
        self.assertRegex(lines[0], r"^onhandpub: published ONHAND_0_M1_1_\d{14}\.zip ")
        rejected = [l for l in lines if l.startswith("  rejected: ")]
        self.assertEqual(len(rejected), 2, err)
        self.assertIn("item " + FORGED_SEEN + ",", rejected[0])
        self.assertIn("item C\\xff,", rejected[1])
        self.assertIn("ITEM_NUMBER is not valid UTF-8", rejected[1])
        self.assertEqual(len(self.outfiles()), 1)

    def test_lookups_error_is_one_line(self):
        header = ("LOOKUP_CODE|MEANING|DESCRIPTION|ENABLED_FLAG|START_DATE_ACTIVE|"
                  "END_DATE_ACTIVE|DISPLAY_SEQUENCE|TAG\n")
        lookups = self.write_bytes("lookups.psv", (header + '"7' + FORGED[1:] + '"|X||Y||||\n')
                                   .encode("utf-8"))
        for args in (["systems", "--lookups", lookups],
                     ["publish", "--org", "M1", "--no-auth", "--input", data("balances.psv"),
                      "--outdir", self.out, "--lookups", lookups]):
            with self.subTest(args[0]):
                r = self.run_bytes(*args)
                self.assertEqual(r.returncode, 2, r.stderr)
                err = self.assertVisible(r.stderr)
                self.assertEqual(len(err.splitlines()), 1, err)
                # the code is quoted up to 40 bytes
                self.assertIn("lookup code '7\\nonhandpub: published FAKE.zip (succeed'", err)
                self.assertEqual(r.stdout, b"")
        self.assertEqual(self.outfiles(), [])

    def test_usage_and_file_errors_quote_visibly(self):
        r = self.run_bytes("publish", "--org", "M1", "--no-auth", "--input", data("balances.psv"),
                           "--outdir", self.out, "--level", "1\n\x1b[2J")
        self.assertEqual(r.returncode, 2, r.stderr)
        err = self.assertVisible(r.stderr)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn("'1\\n\\x1b[2J'", err)
        missing = os.path.join(self.tmp, "no\nonhandpub: published FAKE.zip\x1b[2J")
        r = self.run_bytes("publish", "--org", "M1", "--no-auth", "--input", missing,
                           "--outdir", self.out)
        self.assertEqual(r.returncode, 4, r.stderr)
        err = self.assertVisible(r.stderr)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn("no\\nonhandpub: published FAKE.zip\\x1b[2J", err)
        r = self.run_bytes(b"publish", b"--org", b"M1", b"--no-auth", b"--input",
                           os.fsencode(self.tmp) + b"/bad\xff\x9b", b"--outdir",
                           os.fsencode(self.out))
        self.assertEqual(r.returncode, 4, r.stderr)
        err = self.assertVisible(r.stderr)
        self.assertIn("bad\\xff\\x9b", err)


class TestSystems(CliTest):
    def systems(self, *args):
        r = self.run_cli("systems", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return list(csv.reader(io.StringIO(r.stdout, newline=""), delimiter="|"))

    def test_without_lookups(self):
        rows = self.systems()
        self.assertEqual(rows[0], ["LOOKUP_CODE", "MEANING", "DESCRIPTION"])
        self.assertEqual([x[:2] for x in rows[1:]], [["0", "Oracle WMS"]])

    def test_with_lookups(self):
        lk = data("lookups.psv")
        self.assertEqual([x[0] for x in self.systems("--lookups", lk, "--date", "2026/01/15")[1:]],
                         ["0", "1", "2"])
        self.assertEqual([x[0] for x in self.systems("--lookups", lk, "--date", "2025/03/01")[1:]],
                         ["0", "1", "3"])
        rows = self.systems("--lookups", lk, "--date", "2026-01-15")
        self.assertEqual(rows[2], ["1", "Acme 3PL",
                                   "Acme Logistics, third-party warehouse in Rotterdam"])

    def test_order_follows_display_sequence(self):
        lk = self.write("lk.psv",
                        "LOOKUP_CODE|MEANING|DESCRIPTION|ENABLED_FLAG|START_DATE_ACTIVE|"
                        "END_DATE_ACTIVE|DISPLAY_SEQUENCE|TAG\n"
                        "5|Five|\"Has | pipe\"|Y||||\n10|Ten||Y|||1|\n2|Two||Y|||3|\n")
        rows = self.systems("--lookups", lk)
        self.assertEqual([x[0] for x in rows[1:]], ["10", "2", "0", "5"])
        self.assertEqual(rows[4], ["5", "Five", "Has | pipe"])


if __name__ == "__main__":
    if not CLI or not os.access(CLI, os.X_OK):
        print("OHP_CLI must name the onhandpub program", file=sys.stderr)
        sys.exit(2)
    prog = unittest.main(exit=False, verbosity=2)
    if VG_LOGS:
        shutil.rmtree(VG_LOGS, ignore_errors=True)
    sys.exit(0 if prog.result.wasSuccessful() else 1)
