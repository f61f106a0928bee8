"""The onhandpub command's SQLite ends (docs/cli.md, "Databases").

A database built by examples/sql/build_sample_db.py from the sample balances,
read with examples/sql/balances_query.sql, must publish the very same ZIP as
the PSV file, in full and incremental runs (whole keys pushed down to the
query), with the state in a SQLite database; bad queries and bad values are
refused clearly and change nothing; two runs on one state database never
both hold it.

Environment: OHP_CLI, OHP_CLI_DATA, OHP_SOURCE_ROOT; OHP_CLI_SQLITE=1 when
the command was built with SQLite (else only the refusal is tested).
"""

import csv
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import unittest

from db_support import (CLI, DATA, HOSTILE_VALUES, NOW1, NOW2, SQL, DbCase, hostile_values,
                        read_entry)

HAVE = os.environ.get("OHP_CLI_SQLITE") == "1"

sys.path.insert(0, SQL)
import build_sample_db  # noqa: E402


class DbTest(DbCase):
    def setUp(self):
        super().setUp()
        self.db = os.path.join(self.tmp, "erp.db")
        self.query = os.path.join(SQL, "balances_query.sql")
        build_sample_db.build(os.path.join(DATA, "balances.psv"), self.db)

    def publish_db(self, out, *args, query=None, db=None):
        return self.run_cli("publish", "--source", "sqlite:" + (db or self.db), "--query",
                            query or self.query, "--org", "M1", "--no-auth", "--outdir",
                            self.outdir(out), *args)


@unittest.skipUnless(HAVE, "built without SQLite")
class TestSqliteSource(DbTest):
    def test_full_run_is_the_psv_files_zip(self):
        for items in ("both", "serial", "nonserial"):
            a = self.zip_of(self.publish_psv("psv-" + items, os.path.join(DATA, "balances.psv"),
                                             "--full", "--now", NOW1, "--run-id", "7",
                                             "--items", items))
            b = self.zip_of(self.publish_db("db-" + items, "--full", "--now", NOW1, "--run-id",
                                            "7", "--items", items))
            with open(a, "rb") as f, open(b, "rb") as g:
                self.assertEqual(f.read(), g.read(), items)
        self.assertGreater(len(read_entry(b).splitlines()), 5)

    def test_hostile_values_come_back_unchanged(self):
        """Pipes, quotes, CR LF and non-ASCII text: the same ZIP as from the file."""
        psv = self.hostile_psv()
        build_sample_db.build(psv, self.db)
        a = self.zip_of(self.publish_psv("psv", psv, "--full", "--now", NOW1, "--run-id", "3"))
        b = self.zip_of(self.publish_db("db", "--full", "--now", NOW1, "--run-id", "3"))
        with open(a, "rb") as f, open(b, "rb") as g:
            self.assertEqual(f.read(), g.read())
        self.assertEqual(hostile_values(b), HOSTILE_VALUES)

    def test_incremental_runs_publish_whole_keys_like_the_psv(self):
        """A key of two rows, one of them changed: both rows, from either end."""
        psv = os.path.join(self.tmp, "balances.psv")
        shutil.copy(os.path.join(DATA, "balances.psv"), psv)
        # Split the AS54888 balance into two rows of one key (the same columns of the key).
        with open(psv, encoding="utf-8") as f:
            lines = f.read().splitlines(True)
        first = next(i for i, line in enumerate(lines) if "|M1|1001|AS54888|" in line)
        row = lines[first].split("|")
        qty = row[12]
        row[12] = "100"
        lines[first] = "|".join(row)
        row[12] = str(int(qty) - 100)
        lines.insert(first + 1, "|".join(row))
        with open(psv, "w", encoding="utf-8") as f:
            f.writelines(lines)
        build_sample_db.build(psv, self.db)
        st_file = os.path.join(self.tmp, "state.psv")
        st_db = "sqlite:" + os.path.join(self.tmp, "state.db")
        a = self.zip_of(self.publish_psv("a1", psv, "--full", "--now", NOW1, "--state", st_file))
        b = self.zip_of(self.publish_db("b1", "--full", "--now", NOW1, "--state", st_db))
        self.assertEqual(os.path.basename(a), os.path.basename(b))
        # One of the two rows changes after the first run.
        later = "2026/01/16 09:00:00"
        row[12] = str(int(qty) - 90)
        row[-1] = later + "\n"
        lines[first + 1] = "|".join(row)
        with open(psv, "w", encoding="utf-8") as f:
            f.writelines(lines)
        con = sqlite3.connect(self.db)
        ids = [r[0] for r in con.execute(
            "SELECT id FROM balances WHERE organization_code = 'M1' AND item_number = 'AS54888' "
            "ORDER BY id")]
        self.assertEqual(len(ids), 2)
        con.execute("UPDATE balances SET primary_quantity = ?, last_update_date = ? WHERE id = ?",
                    (row[12], later.replace("/", "-"), ids[1]))
        con.commit()
        con.close()
        a = self.zip_of(self.publish_psv("a2", psv, "--now", NOW2, "--state", st_file))
        b = self.zip_of(self.publish_db("b2", "--now", NOW2, "--state", st_db))
        with open(a, "rb") as f, open(b, "rb") as g:
            self.assertEqual(f.read(), g.read())
        body = read_entry(b).splitlines()
        self.assertEqual(len(body), 3)  # the header and both rows of the key
        self.assertTrue(all("|AS54888|" in line for line in body[1:]))
        self.assertTrue(all("|INCREMENTAL|" in line for line in body[1:]))

    def test_bad_queries_are_refused_before_anything_is_read(self):
        cases = [
            ("SELECT item_number AS ITEM_NUMBER FROM balances",
             "missing required column(s): ORGANIZATION_CODE, SUBINVENTORY_CODE"),
            ("SELEKT 1", "syntax error"),
            ("SELECT * FROM balances WHERE organization_code = :org", "unknown parameter :org"),
            ("SELECT * FROM balances WHERE organization_code = ?", "unknown parameter ?"),
            ("DELETE FROM balances", "would write"),
            ("SELECT * FROM balances; SELECT 1", "one statement is allowed"),
            ("SELECT organization_code, organization_code AS ORGANIZATION_CODE FROM balances",
             "returned twice"),
        ]
        for sql, want in cases:
            r = self.publish_db("x", "--full", query=self.write_query(sql))
            self.assertEqual(r.returncode, 2, (sql, r.stderr))
            self.assertIn(want, r.stderr, sql)
            self.assertEqual(os.listdir(self.outdir("x")), [], sql)
        r = self.publish_db("x", "--full", db=os.path.join(self.tmp, "missing.db"))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("missing.db", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "missing.db")))

    def test_bad_values_go_through_the_bad_record_policy(self):
        con = sqlite3.connect(self.db)
        con.execute("UPDATE balances SET lot_number = CAST(X'4C4F5400' || 'x' AS TEXT) "
                    "WHERE item_number = 'CM-BOLT-10'")
        con.commit()
        con.close()
        # a REAL value: SQLite hands it over as a double, never exact
        q = self.query_with("PRIMARY_QUANTITY", "CASE WHEN b.item_number = 'AS54888' THEN 12.5 "
                            "ELSE b.primary_quantity END")
        r = self.publish_db("fail", "--full", query=q)
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("PRIMARY_QUANTITY holds a floating-point value", r.stderr)
        self.assertIn("row 1 of the query", r.stderr)
        self.assertEqual(os.listdir(self.outdir("fail")), [])
        rejects = os.path.join(self.tmp, "rejects.psv")
        r = self.publish_db("rej", "--full", "--on-error", "reject", "--rejects", rejects,
                            "--max-rejects", "100%", query=q)
        self.assertEqual(r.returncode, 1, r.stderr)
        with open(rejects, encoding="utf-8") as f:
            got = list(csv.DictReader(f, delimiter="|"))
        self.assertEqual([g["ITEM_NUMBER"] for g in got], ["AS54888", "CM-BOLT-10"])
        self.assertIn("floating-point", got[0]["REASON"])
        self.assertIn("NUL byte", got[1]["REASON"])

    def test_integer_times_are_seconds_since_1970(self):
        q = self.query_with("LAST_UPDATE_DATE", "CASE WHEN b.item_number = 'AS54888' "
                            "THEN 1768468500 ELSE b.last_update_date END")  # 2026-01-15 09:15:00
        b = self.zip_of(self.publish_db("t", "--full", "--now", NOW1, query=q))
        line = next(x for x in read_entry(b).splitlines() if "|AS54888|" in x)
        self.assertTrue(line.endswith("|2026/01/15 09:15:00"), line)


@unittest.skipUnless(HAVE, "built without SQLite")
class TestSqliteState(DbTest):
    def test_state_tables_run_ids_and_watermarks(self):
        st = os.path.join(self.tmp, "state.db")
        r1 = self.publish_db("o", "--full", "--now", NOW1, "--state", "sqlite:" + st)
        self.assertTrue(self.zip_of(r1).endswith("_M1_1_20260115180000.zip"))
        r2 = self.publish_db("o", "--now", NOW2, "--items", "serial", "--state", "sqlite:" + st)
        self.assertTrue(self.zip_of(r2).endswith("_M1_2_20260116180000.zip"))
        con = sqlite3.connect(st)
        rows = sorted(con.execute("SELECT system_code, organization_code, item_class, watermark, "
                                  "last_snapshot_date, last_run_id FROM onhandpub_state"))
        counter = con.execute("SELECT last_run_id FROM onhandpub_run_ids").fetchone()[0]
        con.close()
        self.assertEqual(rows, [("0", "M1", "NONSERIAL", NOW1, NOW1, 1),
                                ("0", "M1", "SERIAL", NOW2, NOW2, 2)])
        self.assertEqual(counter, 2)
        # A run that fails still uses up its run id; the watermark stays.
        r3 = self.publish_db("o", "--now", "2026/01/17 18:00:00", "--state", "sqlite:" + st,
                             query=self.write_query("SELECT * FROM nowhere"))
        self.assertEqual(r3.returncode, 2)
        r4 = self.publish_db("o", "--now", "2026/01/18 18:00:00", "--state", "sqlite:" + st,
                             "--items", "nonserial")
        self.assertTrue(self.zip_of(r4).endswith("_M1_3_20260118180000.zip"))

    def test_state_keys_with_hostile_codes(self):
        """An organization code with a quote, a pipe and non-ASCII text keys its rows."""
        org = 'M"1|Ω'
        inp = os.path.join(self.tmp, "in.psv")
        with open(inp, "w", encoding="utf-8", newline="") as f:
            f.write("ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|SERIAL_CONTROLLED|"
                    "PRIMARY_QUANTITY|PRIMARY_UOM_CODE|LAST_UPDATE_DATE\n"
                    '"M""1|Ω"|X|FGI|N|1|EA|2026/01/10 08:00:00\n')
        st = os.path.join(self.tmp, "state.db")
        for now in (NOW1, NOW2):
            r = self.run_cli("publish", "--input", inp, "--org", org, "--no-auth", "--outdir",
                             self.outdir("o"), "--now", now, "--state", "sqlite:" + st,
                             *(["--full"] if now == NOW1 else []))
            self.zip_of(r)
        con = sqlite3.connect(st)
        rows = sorted(con.execute("SELECT organization_code, item_class, watermark, last_run_id "
                                  "FROM onhandpub_state"))
        con.close()
        self.assertEqual(rows, [(org, "NONSERIAL", NOW2, 2), (org, "SERIAL", NOW2, 2)])

    def test_two_runs_never_hold_the_store_together(self):
        st = "sqlite:" + os.path.join(self.tmp, "state.db")
        self.zip_of(self.publish_db("o", "--full", "--now", NOW1, "--state", st))
        # A run that holds the store (a slow sink: a FIFO nobody reads yet).
        holder = sqlite3.connect(os.path.join(self.tmp, "state.db"))
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("UPDATE onhandpub_run_ids SET last_run_id = last_run_id")
        p = subprocess.Popen([CLI, "publish", "--source", "sqlite:" + self.db, "--query",
                              self.query, "--org", "M1", "--no-auth", "--outdir",
                              self.outdir("o"), "--now", NOW2, "--state", st],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        self.assertIsNone(p.poll(), "the second run did not wait for the store")
        holder.execute("COMMIT")
        holder.close()
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("waiting for another run to release state store", err)
        self.assertTrue(out.strip().endswith("_M1_2_20260116180000.zip"))

    def test_concurrent_runs_get_distinct_run_ids(self):
        st = "sqlite:" + os.path.join(self.tmp, "state.db")
        procs = [subprocess.Popen([CLI, "publish", "--source", "sqlite:" + self.db, "--query",
                                   self.query, "--org", "M1", "--no-auth", "--outdir",
                                   self.outdir("o%d" % i), "--full", "--state", st],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(4)]
        names = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0, err)
            names.append(os.path.basename(out.strip()).split("_")[3])
        self.assertEqual(sorted(names), ["1", "2", "3", "4"])


class TestOptions(DbTest):
    def test_source_options(self):
        r = self.run_cli("publish", "--org", "M1", "--no-auth", "--source", "sqlite:x.db")
        self.assertEqual(r.returncode, 2)
        self.assertIn("--source requires --query", r.stderr)
        r = self.run_cli("publish", "--org", "M1", "--no-auth", "--source", "sqlite:x.db",
                         "--query", "q.sql", "--input", "b.psv")
        self.assertEqual(r.returncode, 2)
        self.assertIn("exclude each other", r.stderr)
        r = self.run_cli("publish", "--org", "M1", "--no-auth", "--source", "mysql://x",
                         "--query", "q.sql")
        self.assertEqual(r.returncode, 2)
        self.assertIn("expected sqlite:PATH", r.stderr)

    @unittest.skipIf(HAVE, "built with SQLite")
    def test_without_sqlite_it_says_so(self):
        r = self.publish_db("o", "--full")
        self.assertEqual(r.returncode, 2)
        self.assertIn("built without SQLite", r.stderr)
        r = self.publish_psv("o", os.path.join(DATA, "balances.psv"), "--full", "--state",
                             "sqlite:" + os.path.join(self.tmp, "state.db"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("built without SQLite", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "state.db")))


if __name__ == "__main__":
    unittest.main(verbosity=2)
