#!/usr/bin/env python3
"""The plain-Python baseline of target 6: csv + zipfile, no onhandpub.

Publishes the benchmark workload the way a short standalone script would:
keep organization M1 (items both, full mode: zero quantities left out),
expand serial numbers (lists, and FROM..TO ranges keeping the width) into
one line per serial with quantity 1, and write layout v1's 26 columns
(pipe-separated, fields with | " CR LF quoted) with the csv module into a
ZIP entry deflated at level 6 by zipfile.

Usage: plain_csv_zip.py [--records N] [--seed S] [--outdir DIR]
(``bench_binding.py`` imports :func:`publish_plain` and times it against the
binding.)
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tempfile
import time
import zipfile
from typing import Any, Dict, Iterable

HEADER = [
    "EXTERNAL_SYSTEM_CODE", "PUBLISH_RUN_ID", "PUBLISH_MODE", "SNAPSHOT_DATE",
    "ORGANIZATION_ID", "ORGANIZATION_CODE", "INVENTORY_ITEM_ID", "ITEM_NUMBER", "REVISION",
    "SUBINVENTORY_CODE", "LOCATOR_ID", "LOCATOR_NAME", "LOT_NUMBER", "LOT_EXPIRATION_DATE",
    "SERIAL_CONTROLLED", "SERIAL_NUMBER", "PRIMARY_QUANTITY", "PRIMARY_UOM_CODE",
    "SECONDARY_QUANTITY", "SECONDARY_UOM_CODE", "CONSIGNED_FLAG", "OWNING_PARTY_ID",
    "PROJECT_ID", "TASK_ID", "MATERIAL_STATUS_CODE", "LAST_UPDATE_DATE",
]


def _expand(serials: Any) -> Iterable[str]:
    """Each serial of a list of serials and (from, to) ranges."""
    for s in serials:
        if isinstance(s, str):
            yield s
            continue
        lo, hi = s
        i = len(lo)
        while i and lo[i - 1].isdigit():
            i -= 1
        prefix, width = lo[:i], len(lo) - i
        for n in range(int(lo[i:]), int(hi[i:]) + 1):
            yield f"{prefix}{n:0{width}d}"


def _is_zero(q: str) -> bool:
    return not q.lstrip("-").replace(".", "").strip("0")


def publish_plain(records: Iterable[Dict[str, Any]], path: str, organization: str = "M1",
                  snapshot: str = "2026/11/27 00:00:00", run_id: int = 1,
                  level: int = 6) -> int:
    """Write the ZIP at `path`; returns the number of PSV lines written."""
    entry = os.path.splitext(os.path.basename(path))[0] + ".psv"
    lines = 0
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED,
                         compresslevel=level) as zf:
        with zf.open(entry, "w") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
            out = csv.writer(text, delimiter="|", quotechar='"', lineterminator="\n",
                             quoting=csv.QUOTE_MINIMAL)
            out.writerow(HEADER)
            head = ["0", str(run_id), "FULL", snapshot]
            writerow = out.writerow
            for r in records:
                if r.get("organization_code") != organization:
                    continue
                qty = r["primary_quantity"]
                serial = bool(r.get("serial_controlled"))
                if _is_zero(qty) and not serial:
                    continue
                common = head + [
                    r.get("organization_id", ""), r["organization_code"],
                    r.get("inventory_item_id", ""), r["item_number"], r.get("revision", ""),
                    r["subinventory_code"], r.get("locator_id", ""),
                    r.get("locator_name", ""), r.get("lot_number", ""),
                    r.get("lot_expiration_date", ""), "Y" if serial else "N",
                ]
                tail = [
                    r.get("secondary_uom_code", ""), "Y" if r.get("consigned") else "N",
                    r.get("owning_party_id", ""), r.get("project_id", ""),
                    r.get("task_id", ""), r.get("material_status_code", ""),
                    r["last_update_date"],
                ]
                serials = r.get("serial_numbers")
                if serial and serials:
                    uom = r["primary_uom_code"]
                    for s in _expand(serials):
                        writerow(common + [s, "1", uom, ""] + tail)
                        lines += 1
                    continue
                if serial:
                    continue  # zero quantity, full mode
                writerow(common + ["", qty, r["primary_uom_code"],
                                   r.get("secondary_quantity", "")] + tail)
                lines += 1
            text.flush()
            text.detach()
    return lines


def main(argv: Any = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--outdir", default=None)
    a = ap.parse_args(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import workload

    data = list(workload.records(a.records, a.seed))
    outdir = a.outdir or tempfile.mkdtemp(prefix="ohp-plain-")
    path = os.path.join(outdir, "ONHAND_0_M1_1_20261127000000.zip")
    t = time.perf_counter()
    lines = publish_plain(data, path)
    dt = time.perf_counter() - t
    print(f"{a.records} records -> {lines} lines in {dt:.3f} s "
          f"({lines / dt:,.0f} lines/s): {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
