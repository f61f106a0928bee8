#!/usr/bin/env python3
"""Build a SQLite database of balances_schema.sql from a balances PSV file.

usage: build_sample_db.py BALANCES_PSV DATABASE
       build_sample_db.py --postgresql BALANCES_PSV > load.sql

The second form writes SQL for PostgreSQL instead (the tables of
balances_schema_postgresql.sql and their rows), for psql.

Each line of the balances input (docs/job.md) becomes a row of `balances`,
its SERIAL_NUMBERS list rows of `balance_serials` (a range "FROM..TO" stays
one row), times become SQLite's "YYYY-MM-DD HH:MM:SS", and an empty field
NULL.  Publishing from the database with balances_query.sql then gives the
same snapshot as publishing the PSV file.
"""
import csv
import os
import sqlite3
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
COLUMNS = ["ORGANIZATION_ID", "ORGANIZATION_CODE", "INVENTORY_ITEM_ID", "ITEM_NUMBER", "REVISION",
           "SUBINVENTORY_CODE", "LOCATOR_ID", "LOCATOR_NAME", "LOT_NUMBER",
           "LOT_EXPIRATION_DATE", "SERIAL_CONTROLLED", "PRIMARY_QUANTITY", "PRIMARY_UOM_CODE",
           "SECONDARY_QUANTITY", "SECONDARY_UOM_CODE", "CONSIGNED_FLAG", "OWNING_PARTY_ID",
           "PROJECT_ID", "TASK_ID", "MATERIAL_STATUS_CODE", "LAST_UPDATE_DATE"]
INTEGERS = {"ORGANIZATION_ID", "INVENTORY_ITEM_ID", "LOCATOR_ID", "OWNING_PARTY_ID",
            "PROJECT_ID", "TASK_ID"}
TIMES = {"LOT_EXPIRATION_DATE", "LAST_UPDATE_DATE"}


def value(name, text):
    if text == "":
        return "N" if name == "CONSIGNED_FLAG" else None
    if name in INTEGERS:
        return int(text)
    if name in TIMES:
        return text.replace("/", "-", 2)
    return text


def build(psv_path, db_path):
    if os.path.exists(db_path):
        os.remove(db_path)
    db = sqlite3.connect(db_path)
    with open(os.path.join(HERE, "balances_schema.sql"), encoding="utf-8") as f:
        db.executescript(f.read())
    with open(psv_path, encoding="utf-8-sig", newline="") as f:
        rows = csv.DictReader(f, delimiter="|", quotechar='"')
        for row in rows:
            cur = db.execute(
                "INSERT INTO balances (%s) VALUES (%s)"
                % (", ".join(c.lower() for c in COLUMNS), ", ".join("?" for _ in COLUMNS)),
                [value(c, row.get(c, "") or "") for c in COLUMNS])
            serials = row.get("SERIAL_NUMBERS", "") or ""
            for seq, serial in enumerate(s for s in serials.split(",") if s):
                db.execute("INSERT INTO balance_serials (balance_id, seq, serial) VALUES (?, ?, ?)",
                           (cur.lastrowid, seq, serial))
    db.commit()
    db.close()


def literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def postgresql(psv_path, out):
    """The schema and the rows as SQL for PostgreSQL (flags as booleans, times in UTC)."""
    with open(os.path.join(HERE, "balances_schema_postgresql.sql"), encoding="utf-8") as f:
        out.write(f.read())
    out.write("SET TIME ZONE 'UTC';\n")
    with open(psv_path, encoding="utf-8-sig", newline="") as f:
        for n, row in enumerate(csv.DictReader(f, delimiter="|", quotechar='"'), 1):
            vals = []
            for c in COLUMNS:
                v = value(c, row.get(c, "") or "")
                if c in ("SERIAL_CONTROLLED", "CONSIGNED_FLAG"):
                    v = "true" if v == "Y" else "false"
                    vals.append(v)
                else:
                    vals.append(literal(v))
            out.write("INSERT INTO balances (id, %s) VALUES (%d, %s);\n"
                      % (", ".join(c.lower() for c in COLUMNS), n, ", ".join(vals)))
            serials = row.get("SERIAL_NUMBERS", "") or ""
            for seq, serial in enumerate(s for s in serials.split(",") if s):
                out.write("INSERT INTO balance_serials VALUES (%d, %d, %s);\n"
                          % (n, seq, literal(serial)))
    out.write("SELECT setval('balances_id_seq', (SELECT max(id) FROM balances));\n")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--postgresql":
        postgresql(sys.argv[2], sys.stdout)
    elif len(sys.argv) == 3:
        build(sys.argv[1], sys.argv[2])
    else:
        sys.exit(__doc__)
