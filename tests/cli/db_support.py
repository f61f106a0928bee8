"""What the database tests share (test_databases.py, test_postgres.py).

DbCase: a temporary folder, the command, publishing from a balances PSV
file, the query file of the test and a copy of it with one column's
expression replaced.  HOSTILE_ROWS: balances whose values a PSV must quote
(a pipe, quotes, CR LF) and non-ASCII text, to go through a database and
come back out of the ZIP unchanged.
"""

import csv
import io
import os
import subprocess
import tempfile
import unittest
import zipfile

CLI = os.environ.get("OHP_CLI", "")
DATA = os.environ.get("OHP_CLI_DATA", "")
ROOT = os.environ.get("OHP_SOURCE_ROOT", "")
SQL = os.path.join(ROOT, "examples", "sql")
NOW1 = "2026/01/15 18:00:00"
NOW2 = "2026/01/16 18:00:00"

# Balances PSV lines (layout v1 quoting) and the values they must come back with.
HOSTILE_ROWS = (
    '204|M1|2001|"Bü|cher ""x"""||FGI|3100|"A1\r\nB2"|||N||5|EA|||N||||Active|'
    "2026/01/13 09:00:00\n"
    '204|M1|2002|Ωmega,1||FGI|3101|"say ""hi"""|"L\n7"|2027/03/01|Y|"S|1,S""2"|2|EA|||N||||'
    "Active|2026/01/13 09:30:00\n")
HOSTILE_VALUES = [("Bü|cher \"x\"", "A1\r\nB2", "", ""),
                  ("Ωmega,1", "say \"hi\"", "L\n7", "S|1"),
                  ("Ωmega,1", "say \"hi\"", "L\n7", "S\"2")]


def read_entry(path):
    with zipfile.ZipFile(path) as z:
        return z.read(z.namelist()[0]).decode("utf-8")


def entry_rows(path):
    """The ZIP's PSV entry as a list of dicts, read by Python's csv."""
    rows = list(csv.reader(io.StringIO(read_entry(path), newline=""), delimiter="|"))
    return [dict(zip(rows[0], r)) for r in rows[1:]]


def hostile_values(path):
    """(item, locator, lot, serial) of the published lines of the hostile items."""
    return [(r["ITEM_NUMBER"], r["LOCATOR_NAME"], r["LOT_NUMBER"], r["SERIAL_NUMBER"])
            for r in entry_rows(path) if r["INVENTORY_ITEM_ID"] in ("2001", "2002")]


class DbCase(unittest.TestCase):
    query = ""  # the test's query file

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="ohp-db-")
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def run_cli(self, *args):
        return subprocess.run([CLI] + list(args), capture_output=True, text=True, timeout=120)

    def outdir(self, name):
        d = os.path.join(self.tmp, name)
        os.makedirs(d, exist_ok=True)
        return d

    def publish_psv(self, out, psv, *args):
        return self.run_cli("publish", "--input", psv, "--org", "M1", "--no-auth", "--outdir",
                            self.outdir(out), *args)

    def zip_of(self, r):
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def write_query(self, text):
        path = os.path.join(self.tmp, "q.sql")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def query_with(self, column, expression):
        """The test's query with the expression of one column replaced."""
        with open(self.query, encoding="utf-8") as f:
            sql = f.read()
        start = sql.index("b.%s" % column.lower())
        end = sql.index("AS " + column, start)
        return self.write_query(sql[:start] + expression + " " + sql[end:])

    def hostile_psv(self):
        """The sample balances with HOSTILE_ROWS appended, as a file of the test."""
        path = os.path.join(self.tmp, "hostile.psv")
        with open(os.path.join(DATA, "balances.psv"), encoding="utf-8", newline="") as f:
            text = f.read()
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text + HOSTILE_ROWS)
        return path
