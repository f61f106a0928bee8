"""The deterministic synthetic workload of the Python benchmarks.

The same generator as bench/bench.c (xorshift64, the same pools and
shares): three organizations in equal shares (M1, M2, D10), about 20% of
items serial-controlled with 1-20 serials each (half as lists, half as one
or two FROM..TO ranges), lots on half the records, about 10% of the other
items with a secondary quantity, about 1% of item numbers needing quotes,
2% consigned.

Each record is a dict keyed by the balances PSV column names in lower case,
as an application would hand it to ``onhandpub.publish``: serial lists as a
list of str, ranges as a list of (from, to) tuples.  ``write_psv`` writes the
same records as a balances PSV (the connector's input layout).
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List

_MASK = (1 << 64) - 1
NITEMS, NLOCS, NLOTS = 5000, 400, 2000
ORGS = ["M1", "M2", "D10"]
ORG_IDS = ["204", "205", "310"]
SUBS = ["FGI", "STORES", "RIP", "STAGE", "QA"]
UOMS = ["Ea", "Kg", "Bx", "Lb", "Cs"]
STATUSES = ["Active", "Hold", "Quarantine", ""]

COLUMNS = [
    "ORGANIZATION_ID", "ORGANIZATION_CODE", "INVENTORY_ITEM_ID", "ITEM_NUMBER", "REVISION",
    "SUBINVENTORY_CODE", "LOCATOR_ID", "LOCATOR_NAME", "LOT_NUMBER", "LOT_EXPIRATION_DATE",
    "SERIAL_CONTROLLED", "SERIAL_NUMBERS", "PRIMARY_QUANTITY", "PRIMARY_UOM_CODE",
    "SECONDARY_QUANTITY", "SECONDARY_UOM_CODE", "CONSIGNED_FLAG", "OWNING_PARTY_ID",
    "PROJECT_ID", "TASK_ID", "MATERIAL_STATUS_CODE", "LAST_UPDATE_DATE",
]


class _Rng:
    def __init__(self, seed: int) -> None:
        self.x = seed or 88172645463325252

    def rnd(self) -> int:
        x = self.x
        x ^= (x << 13) & _MASK
        x ^= x >> 7
        x ^= (x << 17) & _MASK
        self.x = x
        return x

    def pick(self, n: int) -> int:
        return self.rnd() % n


def records(count: int, seed: int = 0) -> Iterator[Dict[str, Any]]:
    """Yield `count` balance records (dicts), deterministically from `seed`."""
    g = _Rng(seed)
    pick = g.pick
    items: List[str] = []
    item_ids: List[str] = []
    item_serial: List[bool] = []
    item_dual: List[bool] = []
    for i in range(NITEMS):
        if pick(100) == 0:
            items.append(f'AS{i:05d}|"{pick(90)}"')
        else:
            items.append(f"AS{i:05d}-{chr(65 + pick(26))}")
        item_ids.append(str(100000 + i))
        serial = pick(5) == 0
        item_serial.append(serial)
        item_dual.append(not serial and pick(10) == 0)
    locs, loc_ids = [], []
    for i in range(NLOCS):
        a, b, c, d = chr(65 + pick(8)), pick(40), pick(60), pick(10)
        locs.append(f"{a}{b}.{c:02d}.{d:02d}")
        loc_ids.append(str(3000 + i))
    lots = [f"L{g.rnd() % 1000000:06d}" for _ in range(NLOTS)]
    dates, exps = [], []
    for _ in range(64):
        mo, d, h, mi, s = 1 + pick(10), 1 + pick(28), pick(24), pick(60), pick(60)
        dates.append(f"2026/{mo:02d}/{d:02d} {h:02d}:{mi:02d}:{s:02d}")
        mo, d = 1 + pick(12), 1 + pick(28)
        exps.append(f"2027/{mo:02d}/{d:02d}")

    seq = 0
    for _ in range(count):
        o, it = pick(3), pick(NITEMS)
        r: Dict[str, Any] = {
            "organization_id": ORG_IDS[o],
            "organization_code": ORGS[o],
            "inventory_item_id": item_ids[it],
            "item_number": items[it],
            "subinventory_code": SUBS[pick(5)],
        }
        loc = pick(NLOCS)
        r["locator_id"] = loc_ids[loc]
        r["locator_name"] = locs[loc]
        if pick(2):
            r["lot_number"] = lots[pick(NLOTS)]
            r["lot_expiration_date"] = exps[pick(64)]
        r["primary_uom_code"] = UOMS[it % 5]
        r["material_status_code"] = STATUSES[pick(4)]
        r["last_update_date"] = dates[pick(64)]
        if pick(50) == 0:
            r["consigned"] = True
            r["owning_party_id"] = "7001"
        if item_serial[it]:
            r["serial_controlled"] = True
            k = 1 + pick(20)
            if pick(2):
                serials: List[Any] = []
                for _i in range(k):
                    seq += 1
                    serials.append(f"SN{seq:08d}")
            else:
                parts = 1 + pick(2) if k >= 2 else 1
                left = k
                serials = []
                for i in range(parts):
                    n = left if i + 1 == parts else 1 + pick(left - (parts - i - 1))
                    left -= n
                    serials.append((f"SN{seq + 1:08d}", f"SN{seq + n:08d}"))
                    seq += n + pick(3)
            r["serial_numbers"] = serials
            r["primary_quantity"] = str(k)
        else:
            whole, quarter = g.rnd() % 5000, g.rnd() % 4
            # Canonical decimals (as the library writes them): 12.5, not 12.50.
            r["primary_quantity"] = (f"{whole}.{quarter * 25:02d}".rstrip("0") if quarter
                                     else str(whole + 1))
            if item_dual[it]:
                r["secondary_quantity"] = f"{whole * 2}.5"
                r["secondary_uom_code"] = "Kg"
        yield r


def _field(v: str) -> str:
    if "|" in v or '"' in v or "\r" in v or "\n" in v:
        return '"' + v.replace('"', '""') + '"'
    return v


def psv_line(r: Dict[str, Any]) -> str:
    """One record as a balances PSV line (without the newline)."""
    serials = r.get("serial_numbers")
    text = ",".join(s if isinstance(s, str) else f"{s[0]}..{s[1]}"
                    for s in serials) if serials else ""
    values = [
        r.get("organization_id", ""), r.get("organization_code", ""),
        r.get("inventory_item_id", ""), r.get("item_number", ""), r.get("revision", ""),
        r.get("subinventory_code", ""), r.get("locator_id", ""), r.get("locator_name", ""),
        r.get("lot_number", ""), r.get("lot_expiration_date", ""),
        "Y" if r.get("serial_controlled") else "N", text,
        r.get("primary_quantity", ""), r.get("primary_uom_code", ""),
        r.get("secondary_quantity", ""), r.get("secondary_uom_code", ""),
        "Y" if r.get("consigned") else "N", r.get("owning_party_id", ""),
        r.get("project_id", ""), r.get("task_id", ""), r.get("material_status_code", ""),
        r.get("last_update_date", ""),
    ]
    return "|".join(_field(v) for v in values)


def write_psv(path: str, count: int, seed: int = 0) -> int:
    """Write the workload as a balances PSV file; returns its size in bytes."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("|".join(COLUMNS) + "\n")
        for r in records(count, seed):
            f.write(psv_line(r) + "\n")
        return f.tell()
