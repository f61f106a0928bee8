#!/usr/bin/env python3
"""Publishing N balances from PostgreSQL against the same balances in a PSV file.

usage: db_bench.py ONHANDPUB [N]      (N default 10,000,000)

Starts a throwaway PostgreSQL cluster (Debian's postgresql; as nobody when
run as root), fills examples/sql/balances_schema_postgresql.sql with N rows
of one organization (one in ten serial-controlled with two serial numbers)
by generate_series, writes the same rows as a balances PSV file with COPY,
then publishes each in full with `onhandpub --level 1 --threads 1` under
/usr/bin/time and prints rows/s and the command's peak RSS for both.  The
two ZIPs are compared byte for byte.  Not run by `meson test`: minutes at
10M rows, and about 6 GB of disk.
"""
import glob
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FILL = """
SET TIME ZONE 'UTC';
INSERT INTO balances (organization_id, organization_code, inventory_item_id, item_number,
    subinventory_code, locator_id, locator_name, lot_number, serial_controlled,
    primary_quantity, primary_uom_code, consigned_flag, material_status_code, last_update_date)
SELECT 204, 'M1', 100000 + g, 'ITEM-' || lpad(g::text, 8, '0'),
       (ARRAY['STORES', 'FGI', 'RAW'])[1 + g %% 3], 3000 + g %% 500,
       'A' || (g %% 50) || '.' || (g %% 7), CASE WHEN g %% 4 = 0 THEN 'L' || (g %% 997) END,
       g %% 10 = 0, CASE WHEN g %% 10 = 0 THEN 2 ELSE (g %% 1000) + 0.25 END,
       (ARRAY['EA', 'KG', 'BOX'])[1 + g %% 3], false, 'Active',
       timestamptz '2026-01-01 00:00:00+00' + (g %% 86400) * interval '1 second'
FROM generate_series(1, %d) g;
INSERT INTO balance_serials (balance_id, seq, serial)
SELECT id, k, 'SN' || id || '-' || k FROM balances, generate_series(0, 1) k
WHERE serial_controlled;
ANALYZE;
"""

EXPORT = """
COPY (SELECT organization_id AS "ORGANIZATION_ID", organization_code AS "ORGANIZATION_CODE",
  inventory_item_id AS "INVENTORY_ITEM_ID", item_number AS "ITEM_NUMBER",
  subinventory_code AS "SUBINVENTORY_CODE", locator_id AS "LOCATOR_ID",
  locator_name AS "LOCATOR_NAME", lot_number AS "LOT_NUMBER",
  CASE WHEN serial_controlled THEN 'Y' ELSE 'N' END AS "SERIAL_CONTROLLED",
  (SELECT string_agg(serial, ',' ORDER BY seq) FROM balance_serials s WHERE s.balance_id = b.id)
    AS "SERIAL_NUMBERS",
  primary_quantity AS "PRIMARY_QUANTITY", primary_uom_code AS "PRIMARY_UOM_CODE",
  'N' AS "CONSIGNED_FLAG", material_status_code AS "MATERIAL_STATUS_CODE",
  to_char(last_update_date, 'YYYY/MM/DD HH24:MI:SS') AS "LAST_UPDATE_DATE"
  FROM balances b ORDER BY id) TO STDOUT WITH (FORMAT csv, DELIMITER '|', HEADER)
"""


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__)
        return 2
    cli = os.path.abspath(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) == 3 else 10_000_000
    initdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not initdb:
        print("no PostgreSQL server programs (apt-get install postgresql)")
        return 2
    bindir = os.path.dirname(initdb[-1])
    tmp = tempfile.mkdtemp(prefix="ohp-dbbench-", dir=os.environ.get("TMPDIR", "/var/tmp"))
    os.chmod(tmp, 0o755)
    data, sock = os.path.join(tmp, "data"), os.path.join(tmp, "sock")
    os.mkdir(data)
    os.mkdir(sock)
    prefix = []
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        for d in (data, sock):
            os.chown(d, nobody.pw_uid, nobody.pw_gid)
        prefix = ["setpriv", "--reuid", str(nobody.pw_uid), "--regid", str(nobody.pw_gid),
                  "--clear-groups"]

    def pg(*args, **kw):
        return subprocess.run(prefix + [os.path.join(bindir, args[0])] + list(args[1:]),
                              check=True, cwd=tmp, **kw)

    uri = "postgresql:///postgres?host=%s&user=ohp" % sock
    try:
        pg("initdb", "-D", data, "-U", "ohp", "--auth=trust", "-E", "UTF8", "--no-locale",
           stdout=subprocess.DEVNULL)
        pg("pg_ctl", "-D", data, "-l", os.path.join(sock, "log"), "-w", "-o",
           "-k %s -c listen_addresses='' -c fsync=off -c shared_buffers=256MB" % sock, "start",
           stdout=subprocess.DEVNULL)
        psql = [os.path.join(bindir, "psql"), uri, "-q", "-X", "-v", "ON_ERROR_STOP=1"]
        with open(os.path.join(ROOT, "examples", "sql", "balances_schema_postgresql.sql")) as f:
            schema = f.read()
        t0 = time.monotonic()
        subprocess.run(psql, input=schema + FILL % n, text=True, check=True)
        psv = os.path.join(tmp, "balances.psv")
        with open(psv, "w") as f:
            subprocess.run(psql + ["-c", EXPORT], stdout=f, check=True)
        print("loaded %d rows and exported them in %.0f s" % (n, time.monotonic() - t0))
        query = os.path.join(ROOT, "examples", "sql", "balances_query_postgresql.sql")
        zips = []
        for name, src in (("PSV file", ["--input", psv]),
                          ("PostgreSQL", ["--source", uri, "--query", query])):
            out = os.path.join(tmp, name.split()[0])
            os.mkdir(out)
            r = subprocess.run(["/usr/bin/time", "-v", cli, "publish", *src, "--org", "M1",
                                "--no-auth", "--full", "--level", "1", "--threads", "1",
                                "--now", "2026/02/01 00:00:00", "--outdir", out, "--quiet"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print(r.stderr)
                return 1
            wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", r.stderr)
            secs = (int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60
                    + float(wall.group(3)))
            rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
            zips.append(r.stdout.strip())
            print("%-10s  %d rows in %.1f s: %.0f rows/s, peak RSS %.1f MiB"
                  % (name, n, secs, n / secs, rss / 1024))
        with open(zips[0], "rb") as f, open(zips[1], "rb") as g:
            print("the two ZIPs are " + ("identical" if f.read() == g.read() else "DIFFERENT"))
        return 0
    finally:
        subprocess.run(prefix + [os.path.join(bindir, "pg_ctl"), "-D", data, "-m", "immediate",
                                 "stop"], cwd=tmp, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
