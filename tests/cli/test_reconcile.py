#!/usr/bin/env python3
"""End-to-end tests of `onhandpub reconcile` (examples/onhandpub/cmd_reconcile.c, docs/cli.md).

Environment: OHP_CLI is the program, OHP_CLI_DATA the sample data directory
(examples/data).  Python 3 standard library only.
"""

import csv
import io
import os
import shutil
import subprocess
import tempfile
import unittest

CLI = os.environ.get("OHP_CLI", "")
DATA = os.environ.get("OHP_CLI_DATA", "")
TIMEOUT = 120
VALGRIND = bool(os.environ.get("OHP_UNDER_VALGRIND"))

OUT_COLUMNS = [
    "CLASS", "ORGANIZATION_CODE", "ITEM_NUMBER", "REVISION", "SUBINVENTORY_CODE", "LOCATOR",
    "LOT_NUMBER", "OWNING_PARTY_ID", "SERIAL_NUMBER", "ERP_QUANTITY", "ERP_UOM_CODE",
    "EXTERNAL_QUANTITY", "EXTERNAL_UOM_CODE", "DIFFERENCE", "DUPLICATE_SIDE", "DUPLICATE_COUNT",
    "EXTERNAL_REVISION", "EXTERNAL_SUBINVENTORY_CODE", "EXTERNAL_LOCATOR", "EXTERNAL_LOT_NUMBER",
    "EXTERNAL_OWNING_PARTY_ID",
]


def run(*args):
    cmd = [CLI] + list(args)
    if VALGRIND:
        cmd = ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
               "--errors-for-leak-kinds=definite,indirect"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT * (10 if VALGRIND else 1))
    return p.returncode, p.stdout, p.stderr


def rows(text):
    r = list(csv.reader(io.StringIO(text, newline=""), delimiter="|"))
    assert r[0] == OUT_COLUMNS, r[0]
    return [dict(zip(OUT_COLUMNS, x)) for x in r[1:]]


class CliBase(unittest.TestCase):
    def setUp(self):
        if not CLI:
            self.skipTest("OHP_CLI not set")
        self.dir = tempfile.mkdtemp(prefix="ohp-cli-rec-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def publish(self, input_path, now, full=True, state=None):
        out = os.path.join(self.dir, "out")
        os.makedirs(out, exist_ok=True)
        args = ["publish", "--input", input_path, "--org", "M1", "--no-auth", "--outdir", out,
                "--now", now]
        if full:
            args.append("--full")
        if state:
            args += ["--state", state]
        code, stdout, stderr = run(*args)
        self.assertEqual(code, 0, stderr)
        return stdout.splitlines()[0]

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path


class ReconcileCli(CliBase):
    def test_round_trip_exit_0(self):
        z = self.publish(os.path.join(DATA, "balances.psv"), "2026/01/15 18:00:00")
        code, out, err = run("reconcile", "--snapshot", z, "--external",
                             os.path.join(DATA, "balances.psv"))
        self.assertEqual(code, 0, err)
        self.assertEqual(rows(out), [])
        self.assertIn("discrepancies:       0", err)
        self.assertIn("not compared:        4 external key(s) of other organizations", err)
        # the snapshot against itself, summary on stdout with --out
        target = os.path.join(self.dir, "d.psv")
        code, out, err = run("reconcile", "--snapshot", z, "--external", z, "--out", target)
        self.assertEqual(code, 0, err)
        self.assertIn("matched:             9", out)
        with open(target, encoding="utf-8") as f:
            self.assertEqual(rows(f.read()), [])

    def test_discrepancies_exit_1(self):
        z = self.publish(os.path.join(DATA, "balances.psv"), "2026/01/15 18:00:00")
        ext = self.write("wms.psv",
                         "ORGANIZATION_CODE|ITEM_NUMBER|REVISION|SUBINVENTORY_CODE|LOCATOR_NAME|"
                         "LOT_NUMBER|SERIAL_NUMBERS|PRIMARY_QUANTITY|PRIMARY_UOM_CODE\n"
                         "M1|AS54888|A|STORES|S1.01.01|||119.5|EA\n"
                         "M1|NEW-ITEM||STORES||||1|EA\n")
        target = os.path.join(self.dir, "d.psv")
        code, out, err = run("reconcile", "--snapshot", z, "--external", ext, "--out", target)
        self.assertEqual(code, 1, err)
        with open(target, encoding="utf-8") as f:
            got = rows(f.read())
        classes = [r["CLASS"] for r in got]
        self.assertIn("QUANTITY", classes)
        self.assertIn("MISSING_ERP", classes)
        self.assertIn("MISSING_EXTERNAL", classes)
        q = [r for r in got if r["CLASS"] == "QUANTITY"][0]
        self.assertEqual((q["ITEM_NUMBER"], q["ERP_QUANTITY"], q["EXTERNAL_QUANTITY"],
                          q["DIFFERENCE"]), ("AS54888", "120", "119.5", "-0.5"))
        self.assertIn("quantity mismatch", out)
        # within tolerance: the quantity line goes away
        code, out, err = run("reconcile", "--snapshot", z, "--external", ext, "--tolerance",
                             "0.5", "--out", target)
        self.assertEqual(code, 1, err)
        with open(target, encoding="utf-8") as f:
            self.assertNotIn("QUANTITY", [r["CLASS"] for r in rows(f.read())])
        self.assertIn("within tolerance:    1", out)

    def test_json_quiet_progress(self):
        import json
        z = self.publish(os.path.join(DATA, "balances.psv"), "2026/01/15 18:00:00")
        target = os.path.join(self.dir, "d.psv")
        ext = os.path.join(DATA, "balances.psv")
        code, out, err = run("reconcile", "--snapshot", z, "--external", ext, "--out", target,
                             "--json")
        self.assertEqual((code, err), (0, ""))
        j = json.loads(out)
        self.assertEqual((j["onhandpub_reconcile"], j["exit_status"], j["report"]),
                         ("1.0", 0, target))
        self.assertEqual((j["matched"], j["discrepancies"], j["external_other_organization"]),
                         (9, 0, 4))
        self.assertEqual(j["totals"]["KG"], {"erp": "25.5", "external": "25.5"})
        self.assertEqual(j["compared_without"], [])
        code, out, err = run("reconcile", "--snapshot", z, "--external", ext, "--json")
        self.assertEqual(code, 2)
        self.assertIn("--json needs --out", err)
        code, out, err = run("reconcile", "--snapshot", z, "--external", ext, "--out", target,
                             "-q")
        self.assertEqual((code, out, err), (0, "", ""))
        code, out, err = run("reconcile", "--snapshot", z, "--external", ext, "--out", target,
                             "--progress")
        self.assertEqual(code, 0)
        self.assertRegex(err, r"onhandpub: [0-9.]+ MB read, [0-9.]+ MB/s")
        self.assertIn("matched:             9", out)

    def test_csv_format(self):
        """--format csv: the PSV report's rows, as RFC 4180 comma-separated values."""
        z = self.publish(os.path.join(DATA, "balances.psv"), "2026/01/15 18:00:00")
        ext = self.write("wms.psv",
                         "ORGANIZATION_CODE|ITEM_NUMBER|REVISION|SUBINVENTORY_CODE|LOCATOR_NAME|"
                         "LOT_NUMBER|SERIAL_NUMBERS|PRIMARY_QUANTITY|PRIMARY_UOM_CODE\n"
                         'M1|"A,B ""quoted"""||STORES|"S1|02|03"|||1|EA\n'
                         'M1|Bücher||STORES|"F\r\n9"|||2|"Ω""u"\n'
                         "M1|AS54888|A|STORES|S1.01.01|||119.5|EA\n")
        psv = os.path.join(self.dir, "d.psv")
        out = os.path.join(self.dir, "d.csv")
        code, _, err = run("reconcile", "--snapshot", z, "--external", ext, "--out", psv)
        self.assertEqual(code, 1, err)
        code, _, err = run("reconcile", "--snapshot", z, "--external", ext, "--out", out,
                           "--format", "csv")
        self.assertEqual(code, 1, err)
        with open(psv, encoding="utf-8", newline="") as f:
            want = rows(f.read())
        with open(out, encoding="utf-8", newline="") as f:
            raw = f.read()
        self.assertTrue(raw.endswith("\r\n"))
        got = list(csv.reader(io.StringIO(raw, newline="")))
        self.assertEqual(got[0], OUT_COLUMNS)
        self.assertEqual([dict(zip(OUT_COLUMNS, r)) for r in got[1:]], want)
        self.assertIn('"A,B ""quoted"""', raw)
        self.assertTrue(any(r["ITEM_NUMBER"] == 'A,B "quoted"' for r in want))
        self.assertTrue(any((r["ITEM_NUMBER"], r["LOCATOR"], r["EXTERNAL_UOM_CODE"]) ==
                            ("Bücher", "F\r\n9", 'Ω"u') for r in want))
        # the JSON summary keeps the unit as it is
        import json
        code, out, err = run("reconcile", "--snapshot", z, "--external", ext, "--out", psv,
                             "--json")
        self.assertEqual(code, 1, err)
        self.assertEqual(json.loads(out)["totals"]['Ω"u'], {"erp": "0", "external": "2"})
        code, _, err = run("reconcile", "--snapshot", z, "--external", ext, "--format", "xlsx")
        self.assertEqual(code, 2)
        self.assertIn("expected psv or csv", err)

    WHOLE_KEYS_HEAD = ("ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|LOCATOR_NAME|"
                       "SERIAL_CONTROLLED|SERIAL_NUMBERS|PRIMARY_QUANTITY|PRIMARY_UOM_CODE|"
                       "LAST_UPDATE_DATE\n")
    DAY1 = ("M1|LAPTOP|FG|A1|Y|S1|1|EA|2026/01/01 00:00:00\n"
            "M1|LAPTOP|FG|A1|Y|S2|1|EA|2026/01/01 00:00:00\n"
            "M1|BOLT|FG|A1|N||10|EA|2026/01/01 00:00:00\n"
            "M1|BOLT|FG|A1|N||5|EA|2026/01/01 00:00:00\n")
    DAY2 = ("M1|LAPTOP|FG|A1|Y|S1|1|EA|2026/01/01 00:00:00\n"
            "M1|LAPTOP|FG|A1|Y|S2|1|EA|2026/01/01 00:00:00\n"
            "M1|BOLT|FG|A1|N||10|EA|2026/01/01 00:00:00\n"
            "M1|BOLT|FG|A1|N||7|EA|2026/01/03 00:00:00\n"
            "M1|LAPTOP|FG|A1|Y|S3|1|EA|2026/01/03 00:00:00\n")

    def test_incremental_chain_carries_whole_keys(self):
        """A key given as several rows: the day-2 incremental carries every row
        of each changed key, so the chain folds to day 2's balances."""
        for piped in (False, True):
            with self.subTest(piped=piped):
                state = os.path.join(self.dir, f"state-{piped}.psv")
                day1 = self.write("day1.psv", self.WHOLE_KEYS_HEAD + self.DAY1)
                day2 = self.write("day2.psv", self.WHOLE_KEYS_HEAD + self.DAY2)
                z1 = self.publish(day1, "2026/01/02 00:00:00", full=False, state=state)
                if piped:
                    # Standard input from a pipe is read twice through a temporary copy.
                    out = os.path.join(self.dir, "out")
                    with open(day2, "rb") as f:
                        data = f.read()
                    p = subprocess.run([CLI, "publish", "--input", "-", "--org", "M1",
                                        "--no-auth", "--outdir", out, "--now",
                                        "2026/01/04 00:00:00", "--state", state],
                                       input=data, capture_output=True, timeout=TIMEOUT)
                    self.assertEqual(p.returncode, 0, p.stderr)
                    z2 = p.stdout.decode().splitlines()[0]
                    err2 = p.stderr.decode()
                else:
                    out = os.path.join(self.dir, "out")
                    code, stdout, err2 = run("publish", "--input", day2, "--org", "M1",
                                             "--no-auth", "--outdir", out, "--now",
                                             "2026/01/04 00:00:00", "--state", state)
                    self.assertEqual(code, 0, err2)
                    z2 = stdout.splitlines()[0]
                self.assertIn("mode INCREMENTAL", err2)
                self.assertIn("changed keys 2", err2)
                import zipfile
                with zipfile.ZipFile(z2) as z:
                    text = z.read(z.namelist()[0]).decode()
                got = [(r[7], r[15], r[16]) for r in
                       csv.reader(io.StringIO(text, newline=""), delimiter="|")][1:]
                self.assertEqual(got, [("LAPTOP", "S1", "1"), ("LAPTOP", "S2", "1"),
                                       ("BOLT", "", "10"), ("BOLT", "", "7"),
                                       ("LAPTOP", "S3", "1")])
                code, stdout, err = run("reconcile", "--snapshot", z1, "--snapshot", z2,
                                        "--external", day2)
                self.assertEqual(code, 0, stdout + err)
                self.assertEqual(rows(stdout), [])
                self.assertIn("discrepancies:       0", err)
                for f in os.listdir(os.path.join(self.dir, "out")):
                    os.unlink(os.path.join(self.dir, "out", f))

    def test_chain(self):
        state = os.path.join(self.dir, "state.psv")
        z1 = self.publish(os.path.join(DATA, "balances.psv"), "2026/01/15 18:00:00",
                          state=state)
        z2 = self.publish(os.path.join(DATA, "balances-update.psv"), "2026/01/16 18:00:00",
                          full=False, state=state)
        # a full publish of the updated balances, elsewhere
        full_dir = os.path.join(self.dir, "full")
        os.mkdir(full_dir)
        code, out, err = run("publish", "--input", os.path.join(DATA, "balances-update.psv"),
                             "--org", "M1", "--no-auth", "--outdir", full_dir, "--now",
                             "2026/01/16 18:00:00", "--full")
        self.assertEqual(code, 0, err)
        z3 = out.splitlines()[0]
        # FULL + INCREMENTAL folded (given in any order) equals the new full picture
        code, out, err = run("reconcile", "--snapshot", z2, "--snapshot", z1, "--external", z3)
        self.assertEqual(code, 0, out + err)
        self.assertEqual(rows(out), [])
        self.assertIn("lines read:          ERP 29, external 21", err)
        # the old full snapshot alone differs from it
        code, out, err = run("reconcile", "--snapshot", z1, "--external", z3)
        self.assertEqual(code, 1, err)
        # an incremental alone is refused
        code, _, err = run("reconcile", "--snapshot", z2, "--external", z1)
        self.assertEqual(code, 2, err)
        self.assertIn("no FULL snapshot before it", err)

    def balances_without(self, column):
        """examples/data/balances.psv without one column, as an export that lacks it."""
        with open(os.path.join(DATA, "balances.psv"), encoding="utf-8", newline="") as f:
            table = list(csv.reader(f, delimiter="|"))
        k = table[0].index(column)
        out = io.StringIO()
        w = csv.writer(out, delimiter="|", lineterminator="\n")
        for r in table:
            w.writerow(r[:k] + r[k + 1:])
        return self.write("no-%s.psv" % column.lower(), out.getvalue())

    def test_missing_key_column_and_ignore_owner(self):
        z = self.publish(os.path.join(DATA, "balances.psv"), "2026/01/15 18:00:00")
        ext = self.balances_without("OWNING_PARTY_ID")
        code, out, err = run("reconcile", "--snapshot", z, "--external", ext)
        self.assertEqual(code, 0, err)
        self.assertEqual(rows(out), [])
        self.assertIn("external side has no OWNING_PARTY_ID: compared without owner", err)
        self.assertIn("matched:             9", err)
        ext = self.balances_without("REVISION")
        code, out, err = run("reconcile", "--snapshot", z, "--external", ext)
        self.assertEqual(code, 0, err)
        self.assertIn("external side has no REVISION: compared without revision", err)
        self.assertNotIn("compared without owner", err)
        # the full file: nothing is left out unless asked
        code, out, err = run("reconcile", "--snapshot", z, "--external",
                             os.path.join(DATA, "balances.psv"), "--ignore", "owner,lot")
        self.assertEqual(code, 0, err)
        self.assertNotIn("compared without", err)
        # an owner that differs only matters without --ignore owner
        with open(os.path.join(DATA, "balances.psv"), encoding="utf-8") as f:
            text = f.read().replace("|88012|", "|88013|")
        ext = self.write("owner.psv", text)
        code, out, err = run("reconcile", "--snapshot", z, "--external", ext)
        self.assertEqual(code, 1, err)
        self.assertEqual(sorted(r["CLASS"] for r in rows(out)),
                         ["MISSING_ERP", "MISSING_EXTERNAL"])
        code, out, err = run("reconcile", "--snapshot", z, "--external", ext, "--ignore", "owner")
        self.assertEqual(code, 0, err)
        code, _, err = run("reconcile", "--snapshot", z, "--external", ext, "--ignore", "owners")
        self.assertEqual(code, 2, err)
        self.assertIn("expected revision, locator, lot or owner", err)

    def test_identical_with_units_and_other_organizations(self):
        header = ("ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|SERIAL_CONTROLLED|"
                  "SERIAL_NUMBERS|PRIMARY_QUANTITY|PRIMARY_UOM_CODE|LAST_UPDATE_DATE\n")
        src = self.write("units.psv", header +
                         "M1|PAINT|FGI|N||7|GAL|2026/01/10 08:00:00\n"
                         "M1|PAINT|FGI|N||3|L|2026/01/10 08:00:00\n"
                         "M1|RESIN|FGI|N||0|KG|2026/01/10 08:00:00\n"
                         "M1|RESIN|FGI|N||3|BX|2026/01/10 08:00:00\n"
                         "M1|BOLT-3/2\"|FGI|N||5|EA|2026/01/10 08:00:00\n"
                         "M2|PAINT|FGI|N||4|QT|2026/01/10 08:00:00\n")
        z = self.publish(src, "2026/01/15 18:00:00")
        code, out, err = run("reconcile", "--snapshot", z, "--external", src)
        self.assertEqual(code, 0, err)
        self.assertEqual(rows(out), [])
        self.assertIn("matched:             3", err)
        self.assertIn("total GAL           ERP 7, external 7", err)
        self.assertIn("total L             ERP 3, external 3", err)
        self.assertNotIn("QT", err)  # only another organization's lines are in QT
        # 7 GAL + 3 L against 10 GAL: a quantity line in GAL, a missing line in L
        ext = self.write("wms.psv", header + "M1|PAINT|FGI|N||10|GAL|x\n"
                                             "M1|RESIN|FGI|N||3|BX|x\n"
                                             "M1|BOLT-3/2\"|FGI|N||5|EA|x\n")
        target = os.path.join(self.dir, "d.psv")
        code, out, err = run("reconcile", "--snapshot", z, "--external", ext, "--out", target)
        self.assertEqual(code, 1, err)
        with open(target, encoding="utf-8") as f:
            got = [(r["CLASS"], r["ERP_UOM_CODE"], r["DIFFERENCE"]) for r in rows(f.read())]
        self.assertEqual(got, [("QUANTITY", "GAL", "3"), ("MISSING_EXTERNAL", "L", "")])

    def test_external_format_errors(self):
        z = self.publish(os.path.join(DATA, "balances.psv"), "2026/01/15 18:00:00")
        csv_file = self.write("wms.csv", "ORGANIZATION_CODE,ITEM_NUMBER,SUBINVENTORY_CODE,"
                                         "PRIMARY_QUANTITY,PRIMARY_UOM_CODE\nM1,A,FGI,1,EA\n")
        code, _, err = run("reconcile", "--snapshot", z, "--external", csv_file)
        self.assertEqual(code, 4, err)
        self.assertIn("looks comma-separated (CSV)", err)
        self.assertIn("expected a PSV: UTF-8 text with '|' between the columns", err)
        self.assertNotIn("required column", err)
        semi = self.write("wms.txt", "ORGANIZATION_CODE;ITEM_NUMBER;SUBINVENTORY_CODE;"
                                     "PRIMARY_QUANTITY;PRIMARY_UOM_CODE\nM1;A;FGI;1;EA\n")
        code, _, err = run("reconcile", "--snapshot", z, "--external", semi)
        self.assertEqual(code, 4, err)
        self.assertIn("looks semicolon-separated", err)
        # a byte order mark before the header is read past
        with open(os.path.join(DATA, "balances.psv"), "rb") as f:
            data = f.read()
        bom = os.path.join(self.dir, "bom.psv")
        with open(bom, "wb") as f:
            f.write(b"\xef\xbb\xbf" + data)
        code, out, err = run("reconcile", "--snapshot", z, "--external", bom)
        self.assertEqual(code, 0, err)
        self.assertIn("matched:             9", err)

    def test_usage_errors(self):
        z = self.publish(os.path.join(DATA, "balances.psv"), "2026/01/15 18:00:00")
        ext = os.path.join(DATA, "balances.psv")
        for args in (["reconcile"],
                     ["reconcile", "--snapshot", z],
                     ["reconcile", "--external", ext],
                     ["reconcile", "--snapshot", z, "--external", ext, "--ignore", "bin"],
                     ["reconcile", "--snapshot", z, "--external", ext, "--tolerance", "x"],
                     ["reconcile", "--snapshot", z, "--external", ext, "--tolerance", "1,2"],
                     ["reconcile", "--snapshot", z, "--external", ext, "--tolerance", "1,%"],
                     ["reconcile", "--snapshot", z, "--external", ext, "--tolerance", ",1%"],
                     ["reconcile", "--snapshot", z, "--external", ext, "--ignore", ","],
                     ["reconcile", "--snapshot", z, "--external", ext, "--ignore", "lot,"],
                     ["reconcile", "--snapshot", z, "--external", ext, "--bogus"],
                     ["reconcile", "--snapshot", z, "--external", ext, "--external", ext]):
            code, _, err = run(*args)
            self.assertEqual(code, 2, (args, err))
            self.assertIn("onhandpub reconcile:", err)
        code, out, _ = run("reconcile", "--help")
        self.assertEqual(code, 0)
        self.assertIn("--tolerance", out)

    def test_failures_exit_4(self):
        z = self.publish(os.path.join(DATA, "balances.psv"), "2026/01/15 18:00:00")
        with open(z, "rb") as f:
            data = bytearray(f.read())
        data[len(data) // 3] ^= 0x20
        bad = os.path.join(self.dir, "bad.zip")
        with open(bad, "wb") as f:
            f.write(data)
        code, _, err = run("reconcile", "--snapshot", bad, "--external",
                           os.path.join(DATA, "balances.psv"))
        self.assertEqual(code, 4, err)
        self.assertIn("ERP side, snapshot 1", err)
        code, _, err = run("reconcile", "--snapshot", os.path.join(self.dir, "missing.zip"),
                           "--external", z)
        self.assertEqual(code, 4, err)
        ext = self.write("bad.psv", "ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|"
                                    "PRIMARY_QUANTITY|PRIMARY_UOM_CODE\nM1|A|S|1,5|EA\n")
        code, _, err = run("reconcile", "--snapshot", z, "--external", ext)
        self.assertEqual(code, 4, err)
        self.assertIn("line 2, column 4 (PRIMARY_QUANTITY)", err)


class InspectCli(CliBase):
    """onhandpub inspect, and a tampered archive caught by inspect and reconcile."""

    def tampered(self, z):
        import zipfile
        with zipfile.ZipFile(z) as a:
            name, comment = a.namelist()[0], a.comment
            lines = a.read(name).splitlines(keepends=True)
        path = os.path.join(self.dir, "tampered.zip")
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as b:
            b.writestr(name, b"".join(lines[:-1]))  # a line less, a right CRC-32
            b.comment = comment
        return path

    def test_inspect_good_tampered_and_bare(self):
        import json
        import zipfile
        z = self.publish(os.path.join(DATA, "balances.psv"), "2026/01/15 18:00:00")
        code, out, err = run("inspect", z)
        self.assertEqual(code, 0, err)
        self.assertIn("organization M1, run id 1", out)
        self.assertIn("lines 21 (14 with a serial number), PSV 3089 bytes", out)
        self.assertIn("totals: 2674 EA, 60 BOX, 25.5 KG, 750 LB", out)
        self.assertIn("check: ok (21 lines read, all as the manifest says)", out)
        bad = self.tampered(z)
        code, out, err = run("inspect", z, bad)
        self.assertEqual(code, 4, out)
        self.assertIn("check: FAILED: the manifest says 21 data lines, the entry has 20", out)
        code, out, err = run("inspect", "--json", z, bad)
        self.assertEqual(code, 4)
        first, second = [json.loads(x) for x in out.splitlines()]
        self.assertTrue(first["ok"])
        self.assertEqual(first["manifest"]["data_lines"], 21)
        self.assertFalse(second["ok"])
        self.assertEqual(second["lines"], 20)
        self.assertIn("the manifest says 21 data lines", second["error"])
        # reconcile refuses the tampered snapshot, naming it
        code, out, err = run("reconcile", "--snapshot", bad, "--external",
                             os.path.join(DATA, "balances.psv"))
        self.assertEqual(code, 4, err)
        self.assertIn("the manifest says 21 data lines, the entry has 20", err)
        # an archive without a manifest checks out with nothing to check
        bare = os.path.join(self.dir, "bare.zip")
        with zipfile.ZipFile(z) as a, zipfile.ZipFile(bare, "w") as b:
            b.writestr(a.namelist()[0], a.read(a.namelist()[0]))
        code, out, err = run("inspect", bare)
        self.assertEqual(code, 0, err)
        self.assertIn("no manifest", out)
        self.assertIn("check: ok (21 lines read; nothing to check)", out)
        code, out, err = run("inspect")
        self.assertEqual(code, 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
