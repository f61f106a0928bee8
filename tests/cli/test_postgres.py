"""The onhandpub command's PostgreSQL ends, against a real, throwaway server.

The test starts its own cluster: initdb into a temporary folder, a Unix
socket in it, no TCP, run as an unprivileged user (nobody) when the test
runs as root; stopped and removed at the end.  It loads the sample balances
(examples/sql/build_sample_db.py --postgresql) and checks that publishing
from the database with examples/sql/balances_query_postgresql.sql gives the
same ZIPs as the PSV file, full and incremental (a key of two rows, one
changed), with the state in the database; that bad queries and values are
refused; that two connectors of one organization never hold the state
together while two organizations run in parallel, and that run ids never
repeat.

Skipped (77) when the server's programs (Debian's postgresql) are missing,
unless OHP_REQUIRE_PG=1 (CI), where that is a failure.  Environment:
OHP_CLI, OHP_CLI_DATA, OHP_SOURCE_ROOT, OHP_CLI_PG (1: built with libpq).
"""

import glob
import io
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from db_support import (CLI, DATA, HOSTILE_VALUES, NOW1, NOW2, SQL, DbCase, entry_rows,
                        hostile_values, read_entry)

BUILT = os.environ.get("OHP_CLI_PG") == "1"

sys.path.insert(0, SQL)
import build_sample_db  # noqa: E402

SERVER = None  # the cluster of this run


def server_bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


class Cluster:
    def __init__(self, bindir):
        self.bindir = bindir
        self.tmp = tempfile.mkdtemp(prefix="ohp-pg-")
        self.data = os.path.join(self.tmp, "data")
        self.sock = os.path.join(self.tmp, "sock")
        os.mkdir(self.sock)
        self.prefix = []
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chmod(self.tmp, 0o755)
            os.chown(self.sock, nobody.pw_uid, nobody.pw_gid)
            os.makedirs(self.data)
            os.chown(self.data, nobody.pw_uid, nobody.pw_gid)
            self.prefix = ["setpriv", "--reuid", str(nobody.pw_uid), "--regid",
                           str(nobody.pw_gid), "--clear-groups"]
        self.run(["initdb", "-D", self.data, "-U", "ohp", "--auth=trust", "-E", "UTF8",
                  "--no-locale"])
        self.run(["pg_ctl", "-D", self.data, "-l", os.path.join(self.sock, "log"), "-w", "-o",
                  "-k %s -c listen_addresses='' -c fsync=off" % self.sock, "start"])

    def run(self, args):
        cmd = self.prefix + [os.path.join(self.bindir, args[0])] + args[1:]
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=self.tmp)
        if r.returncode != 0:
            raise RuntimeError("%s: %s %s" % (args[0], r.stdout, r.stderr))
        return r.stdout

    def uri(self, db="postgres"):
        return "postgresql:///%s?host=%s&user=ohp" % (db, self.sock)

    def psql(self, db, sql):
        r = subprocess.run([os.path.join(self.bindir, "psql"), self.uri(db), "-q", "-X",
                            "-v", "ON_ERROR_STOP=1", "-tA"], input=sql,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("psql: " + r.stderr)
        return r.stdout

    def stop(self):
        try:
            self.run(["pg_ctl", "-D", self.data, "-m", "immediate", "stop"])
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


def setUpModule():
    global SERVER
    bindir = server_bin()
    if not BUILT or bindir is None:
        return
    SERVER = Cluster(bindir)


def tearDownModule():
    if SERVER is not None:
        SERVER.stop()


class PgTest(DbCase):
    counter = 0

    def setUp(self):
        if SERVER is None:
            self.skipTest("no PostgreSQL server programs" if BUILT else "built without libpq")
        super().setUp()
        PgTest.counter += 1
        self.db = "erp%d" % PgTest.counter
        SERVER.psql("postgres", "CREATE DATABASE %s" % self.db)
        self.load(os.path.join(DATA, "balances.psv"))
        self.query = os.path.join(SQL, "balances_query_postgresql.sql")

    def load(self, psv):
        buf = io.StringIO()
        build_sample_db.postgresql(psv, buf)
        SERVER.psql(self.db, "DROP TABLE IF EXISTS balance_serials, balances;" + buf.getvalue())

    def publish_pg(self, out, *args, query=None, org="M1"):
        return self.run_cli("publish", "--source", SERVER.uri(self.db), "--query",
                            query or self.query, "--org", org, "--no-auth", "--outdir",
                            self.outdir(out), *args)


class TestSource(PgTest):
    def test_full_run_is_the_psv_files_zip(self):
        for items in ("both", "serial", "nonserial"):
            a = self.zip_of(self.publish_psv("psv-" + items, os.path.join(DATA, "balances.psv"),
                                             "--full", "--now", NOW1, "--run-id", "7",
                                             "--items", items))
            b = self.zip_of(self.publish_pg("pg-" + items, "--full", "--now", NOW1, "--run-id",
                                            "7", "--items", items))
            with open(a, "rb") as f, open(b, "rb") as g:
                self.assertEqual(f.read(), g.read(), items)

    def test_hostile_values_come_back_unchanged(self):
        """Pipes, quotes, CR LF and non-ASCII text: the same ZIP as from the file."""
        psv = self.hostile_psv()
        self.load(psv)
        a = self.zip_of(self.publish_psv("psv", psv, "--full", "--now", NOW1, "--run-id", "3"))
        b = self.zip_of(self.publish_pg("pg", "--full", "--now", NOW1, "--run-id", "3"))
        with open(a, "rb") as f, open(b, "rb") as g:
            self.assertEqual(f.read(), g.read())
        self.assertEqual(hostile_values(b), HOSTILE_VALUES)

    def test_incremental_whole_keys_with_database_state(self):
        psv = os.path.join(self.tmp, "balances.psv")
        with open(os.path.join(DATA, "balances.psv"), encoding="utf-8") as f:
            lines = f.read().splitlines(True)
        first = next(i for i, line in enumerate(lines) if "|M1|1001|AS54888|" in line)
        row = lines[first].split("|")
        qty = int(row[12])
        row[12] = "100"
        lines[first] = "|".join(row)
        row[12] = str(qty - 100)
        lines.insert(first + 1, "|".join(row))
        with open(psv, "w", encoding="utf-8") as f:
            f.writelines(lines)
        self.load(psv)
        st_file = os.path.join(self.tmp, "state.psv")
        st_pg = SERVER.uri(self.db)
        self.zip_of(self.publish_psv("a1", psv, "--full", "--now", NOW1, "--state", st_file))
        self.zip_of(self.publish_pg("b1", "--full", "--now", NOW1, "--state", st_pg))
        later = "2026/01/16 09:00:00"
        row[12] = str(qty - 90)
        row[-1] = later + "\n"
        lines[first + 1] = "|".join(row)
        with open(psv, "w", encoding="utf-8") as f:
            f.writelines(lines)
        SERVER.psql(self.db, "UPDATE balances SET primary_quantity = %s, last_update_date = "
                             "'2026-01-16 09:00:00+00' WHERE id = %d" % (qty - 90, first + 1))
        a = self.zip_of(self.publish_psv("a2", psv, "--now", NOW2, "--state", st_file))
        r = self.publish_pg("b2", "--now", NOW2, "--state", st_pg)
        self.assertNotIn("NOTICE", r.stderr)  # the tables exist: the server's notice is dropped
        b = self.zip_of(r)
        with open(a, "rb") as f, open(b, "rb") as g:
            self.assertEqual(f.read(), g.read())
        body = read_entry(b).splitlines()
        self.assertEqual(len(body), 3)
        self.assertTrue(all("|AS54888|" in x and "|INCREMENTAL|" in x for x in body[1:]))
        rows = SERVER.psql(self.db, "SELECT item_class, watermark, last_run_id FROM "
                                    "onhandpub_state ORDER BY item_class").splitlines()
        self.assertEqual(rows, ["NONSERIAL|%s|2" % NOW2, "SERIAL|%s|2" % NOW2])

    def test_bad_queries_are_refused_before_anything_is_read(self):
        cases = [
            ("SELECT item_number AS ITEM_NUMBER FROM balances",
             "missing required column(s): ORGANIZATION_CODE"),
            ("SELEKT 1", "syntax error"),
            ("SELECT * FROM balances WHERE organization_code = :org", "unknown parameter :org"),
            ("SELECT * FROM balances WHERE organization_code = $1", "positional parameters"),
            ("SELECT * FROM nowhere", "does not exist"),
        ]
        for sql, want in cases:
            r = self.publish_pg("x", "--full", query=self.write_query(sql))
            self.assertEqual(r.returncode, 2, (sql, r.stderr))
            self.assertIn(want, r.stderr, sql)
            self.assertEqual(os.listdir(self.outdir("x")), [], sql)
        # Casts, strings and comments that look like parameters are left alone.
        with open(self.query, encoding="utf-8") as f:
            sql = f.read()
        sql = sql.replace("b.material_status_code AS", "(b.material_status_code || "
                          "'::x :y' || $$ :z $$ /* :w */)::text AS")
        b = self.zip_of(self.publish_pg("y", "--full", "--now", NOW1,
                                        query=self.write_query(sql)))
        self.assertIn("Active::x :y :z |", read_entry(b))
        r = self.run_cli("publish", "--source", "postgresql:///nowhere?host=/nonexistent",
                         "--query", self.query, "--org", "M1", "--no-auth", "--full",
                         "--outdir", self.outdir("z"))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("cannot connect", r.stderr)

    def test_types(self):
        # a float column is refused as inexact; a timestamp with a fraction is cut to seconds
        q = self.query_with("PRIMARY_QUANTITY", "CASE WHEN b.item_number = 'AS54888' "
                            "THEN 12.5::float8 ELSE b.primary_quantity::float8 END")
        r = self.publish_pg("f", "--full", "--now", NOW1, query=q)
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("PRIMARY_QUANTITY is a floating-point column", r.stderr)
        q = self.query_with("LAST_UPDATE_DATE", "b.last_update_date + interval '0.75 second'")
        b = self.zip_of(self.publish_pg("t", "--full", "--now", NOW1, query=q))
        self.assertIn("|2026/01/10 08:15:00\n", read_entry(b))
        # a timestamptz in another zone arrives in UTC
        SERVER.psql(self.db, "UPDATE balances SET last_update_date = "
                             "'2026-01-10 10:15:00+02' WHERE id = 1")
        b = self.zip_of(self.publish_pg("u", "--full", "--now", NOW1))
        line = next(x for x in read_entry(b).splitlines() if "|AS54888|" in x)
        self.assertTrue(line.endswith("|2026/01/10 08:15:00"), line)


ODOO_SCHEMA = """
CREATE TABLE stock_warehouse (id serial PRIMARY KEY, name varchar, code varchar(5));
CREATE TABLE stock_location (id serial PRIMARY KEY, name varchar, complete_name varchar,
    usage varchar, location_id integer, warehouse_id integer REFERENCES stock_warehouse);
CREATE TABLE uom_uom (id serial PRIMARY KEY, name jsonb);
CREATE TABLE product_template (id serial PRIMARY KEY, name jsonb, uom_id integer,
    tracking varchar);
CREATE TABLE product_product (id serial PRIMARY KEY, product_tmpl_id integer,
    default_code varchar);
CREATE TABLE stock_lot (id serial PRIMARY KEY, name varchar, product_id integer,
    expiration_date timestamp);
CREATE TABLE stock_quant (id serial PRIMARY KEY, product_id integer, location_id integer,
    lot_id integer, owner_id integer, quantity numeric, write_date timestamp);
INSERT INTO stock_warehouse VALUES (1, 'Main', 'WH'), (2, 'Other', 'WH2');
INSERT INTO stock_location VALUES (1, 'WH', 'WH', 'view', NULL, 1),
    (2, 'Stock', 'WH/Stock', 'internal', 1, 1), (3, 'Shelf 1', 'WH/Stock/Shelf 1', 'internal', 2, 1),
    (4, 'Customers', 'Partners/Customers', 'customer', NULL, NULL),
    (5, 'Stock', 'WH2/Stock', 'internal', NULL, 2);
INSERT INTO uom_uom VALUES (1, '{"en_US": "Units"}'), (2, '{"en_US": "L"}');
INSERT INTO product_template VALUES (1, '{"en_US": "Bolt"}', 1, 'none'),
    (2, '{"en_US": "Laptop"}', 1, 'serial'), (3, '{"en_US": "Paint"}', 2, 'lot');
INSERT INTO product_product VALUES (1, 1, 'BOLT'), (2, 2, 'LAPTOP'), (3, 3, NULL);
INSERT INTO stock_lot VALUES (1, 'SN-2', 2, NULL), (2, 'SN-1', 2, NULL), (3, 'SN-3', 2, NULL),
    (4, 'L-A', 3, '2027-05-01 00:00:00'), (5, 'L-B', 3, NULL);
INSERT INTO stock_quant (product_id, location_id, lot_id, owner_id, quantity, write_date) VALUES
    (1, 3, NULL, NULL, 40, '2026-01-10 08:00:00'),
    (1, 3, NULL, NULL, 2.5, '2026-01-11 08:00:00'),
    (1, 3, NULL, 77, 10, '2026-01-09 08:00:00'),
    (1, 4, NULL, NULL, 99, '2026-01-09 08:00:00'),
    (1, 5, NULL, NULL, 7, '2026-01-09 08:00:00'),
    (2, 2, 1, NULL, 1, '2026-01-10 09:00:00'),
    (2, 2, 2, NULL, 1, '2026-01-10 09:00:00'),
    (2, 2, 3, NULL, 0, '2026-01-10 09:00:00'),
    (3, 2, 4, NULL, 12.75, '2026-01-10 10:00:00'),
    (3, 2, 5, NULL, 3, '2026-01-10 10:00:00');
"""


class TestOdoo(PgTest):
    """examples/sql/odoo_stock_quant_postgresql.sql on a small Odoo-shaped database."""

    def test_odoo_quants(self):
        SERVER.psql(self.db, ODOO_SCHEMA)
        q = os.path.join(SQL, "odoo_stock_quant_postgresql.sql")
        st = SERVER.uri(self.db)
        b = self.zip_of(self.publish_pg("full", "--full", "--now", NOW1, "--state", st,
                                        query=q, org="WH"))
        got = [(r["ITEM_NUMBER"], r["SUBINVENTORY_CODE"], r["LOCATOR_NAME"], r["LOT_NUMBER"],
                r["LOT_EXPIRATION_DATE"], r["SERIAL_NUMBER"], r["PRIMARY_QUANTITY"],
                r["PRIMARY_UOM_CODE"], r["CONSIGNED_FLAG"], r["OWNING_PARTY_ID"])
               for r in entry_rows(b)]
        self.assertEqual(got, [
            ("BOLT", "Stock", "WH/Stock/Shelf 1", "", "", "", "10", "Units", "Y", "77"),
            ("BOLT", "Stock", "WH/Stock/Shelf 1", "", "", "", "42.5", "Units", "N", ""),
            ("LAPTOP", "Stock", "WH/Stock", "", "", "SN-1", "1", "Units", "N", ""),
            ("LAPTOP", "Stock", "WH/Stock", "", "", "SN-2", "1", "Units", "N", ""),
            ("product-3", "Stock", "WH/Stock", "L-A", "2027/05/01", "", "12.75", "L", "N", ""),
            ("product-3", "Stock", "WH/Stock", "L-B", "", "", "3", "L", "N", ""),
        ])
        # One quant of the consigned bolts changes: that key alone, whole.
        SERVER.psql(self.db, "UPDATE stock_quant SET quantity = 9, write_date = "
                             "'2026-01-16 07:00:00' WHERE owner_id = 77")
        b = self.zip_of(self.publish_pg("inc", "--now", NOW2, "--state", st, query=q, org="WH"))
        got = [(r["PUBLISH_MODE"], r["ITEM_NUMBER"], r["PRIMARY_QUANTITY"], r["OWNING_PARTY_ID"])
               for r in entry_rows(b)]
        self.assertEqual(got, [("INCREMENTAL", "BOLT", "9", "77")])


class TestState(PgTest):
    def test_concurrent_connectors(self):
        st = SERVER.uri(self.db)
        self.zip_of(self.publish_pg("o", "--full", "--now", NOW1, "--state", st))
        # Hold the M1 lock from another session, as a connector on another host would.
        holder = subprocess.Popen(
            [os.path.join(SERVER.bindir, "psql"), st, "-q", "-X", "-v", "ON_ERROR_STOP=1"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        holder.stdin.write("SELECT pg_advisory_lock(hashtextextended('onhandpub|0|M1', 0));\n"
                           "SELECT pg_sleep(2);\n")
        holder.stdin.flush()
        time.sleep(0.5)
        t0 = time.monotonic()
        p1 = subprocess.Popen([CLI, "publish", "--source", st, "--query", self.query, "--org",
                               "M1", "--no-auth", "--outdir", self.outdir("p1"), "--now", NOW2,
                               "--state", st], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
        # another organization is not held back
        p2 = self.publish_pg("p2", "--full", "--state", st, org="M2")
        self.assertEqual(p2.returncode, 0, p2.stderr)
        self.assertLess(time.monotonic() - t0, 1.5)
        self.assertIsNone(p1.poll(), "M1's run did not wait for the lock")
        holder.stdin.close()  # the session ends, the lock goes
        holder.wait(timeout=30)
        holder.stdout.close()
        holder.stderr.close()
        out, err = p1.communicate(timeout=60)
        self.assertEqual(p1.returncode, 0, err)
        self.assertIn("waiting for another run of system 0, organization M1", err)
        ids = sorted(int(x) for x in SERVER.psql(
            self.db, "SELECT last_run_id FROM onhandpub_state WHERE item_class = 'SERIAL'"
        ).split())
        self.assertEqual(len(set(ids)), len(ids))

    def test_many_hosts_never_repeat_run_ids(self):
        st = SERVER.uri(self.db)
        procs = [subprocess.Popen([CLI, "publish", "--source", st, "--query", self.query,
                                   "--org", "M1" if i % 2 else "M2", "--no-auth", "--outdir",
                                   self.outdir("o%d" % i), "--full", "--state", st],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(6)]
        ids = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            self.assertEqual(p.returncode, 0, err)
            ids.append(int(os.path.basename(out.strip()).split("_")[3]))
        self.assertEqual(sorted(ids), [1, 2, 3, 4, 5, 6])
        self.assertEqual(SERVER.psql(self.db, "SELECT last_run_id FROM onhandpub_run_ids").strip(),
                         "6")


if __name__ == "__main__":
    if os.environ.get("OHP_REQUIRE_PG") == "1" and BUILT and server_bin() is None:
        print("OHP_REQUIRE_PG=1 but no PostgreSQL server programs are installed")
        sys.exit(1)
    if not BUILT or server_bin() is None:
        print("skipped: " + ("no PostgreSQL server programs" if BUILT else "built without libpq"))
        sys.exit(77)
    unittest.main(verbosity=2)
