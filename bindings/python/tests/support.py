"""Shared helpers of the binding's tests."""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
import unittest
import zipfile
from typing import Any, Dict, List

HEADER = (
    "EXTERNAL_SYSTEM_CODE|PUBLISH_RUN_ID|PUBLISH_MODE|SNAPSHOT_DATE|ORGANIZATION_ID|"
    "ORGANIZATION_CODE|INVENTORY_ITEM_ID|ITEM_NUMBER|REVISION|SUBINVENTORY_CODE|LOCATOR_ID|"
    "LOCATOR_NAME|LOT_NUMBER|LOT_EXPIRATION_DATE|SERIAL_CONTROLLED|SERIAL_NUMBER|"
    "PRIMARY_QUANTITY|PRIMARY_UOM_CODE|SECONDARY_QUANTITY|SECONDARY_UOM_CODE|CONSIGNED_FLAG|"
    "OWNING_PARTY_ID|PROJECT_ID|TASK_ID|MATERIAL_STATUS_CODE|LAST_UPDATE_DATE"
).split("|")

BALANCE_COLUMNS = [
    "ORGANIZATION_ID", "ORGANIZATION_CODE", "INVENTORY_ITEM_ID", "ITEM_NUMBER", "REVISION",
    "SUBINVENTORY_CODE", "LOCATOR_ID", "LOCATOR_NAME", "LOT_NUMBER", "LOT_EXPIRATION_DATE",
    "SERIAL_CONTROLLED", "SERIAL_NUMBERS", "PRIMARY_QUANTITY", "PRIMARY_UOM_CODE",
    "SECONDARY_QUANTITY", "SECONDARY_UOM_CODE", "CONSIGNED_FLAG", "OWNING_PARTY_ID",
    "PROJECT_ID", "TASK_ID", "MATERIAL_STATUS_CODE", "LAST_UPDATE_DATE",
]

SNAP1 = "2026-01-10T08:00:00Z"
SNAP2 = "2026-01-11T08:00:00Z"


def row(**kw: Any) -> Dict[str, Any]:
    """A valid non-serial balance of organization M1, overridable."""
    base: Dict[str, Any] = {
        "organization_code": "M1",
        "item_number": "AS54888",
        "subinventory_code": "STORES",
        "serial_controlled": "N",
        "primary_quantity": "10",
        "primary_uom_code": "EA",
        "last_update_date": "2026/01/05 10:00:00",
    }
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


def sample_rows() -> List[Dict[str, Any]]:
    """A small realistic sample: two organizations, serials, lots, dual UOM,
    consigned, a field needing quotes, a zero balance."""
    return [
        row(organization_id="204", inventory_item_id="1001", item_number="AS54888",
            primary_quantity="12.50", locator_id="5001", locator_name="A1.01.01"),
        row(item_number="SN-LAPTOP", serial_controlled=True, primary_quantity=4,
            serial_numbers=["LT100", ("SN0098", "SN0100")], last_update_date="2026-01-06"),
        row(item_number="LOT-PAINT", lot_number="L2026-01", lot_expiration_date="2027/06/30",
            primary_quantity="7", primary_uom_code="GAL", secondary_quantity="26.5",
            secondary_uom_code="L"),
        row(organization_code="M2", item_number="OTHER-ORG"),
        row(item_number='PIPE|"HALF"', consigned="Y", owning_party_id="3003",
            primary_quantity="0.125", material_status_code="Active"),
        row(item_number="ZERO", primary_quantity="0"),
    ]


def to_psv(rows: List[Dict[str, Any]]) -> bytes:
    """A balances PSV file for the rows (lower-case keys), with layout v1
    quoting."""

    def q(v: str) -> str:
        if any(c in v for c in '|"\r\n'):
            return '"' + v.replace('"', '""') + '"'
        return v

    def text(key: str, v: Any) -> str:
        if v is None:
            return ""
        if v is True:
            return "Y"
        if v is False:
            return "N"
        if key == "serial_numbers" and not isinstance(v, str):
            return ",".join(s if isinstance(s, str) else f"{s[0]}..{s[1]}" for s in v)
        return str(v)

    lines = ["|".join(BALANCE_COLUMNS)]
    for r in rows:
        lower = {k.lower(): v for k, v in r.items()}
        if "consigned" in lower:
            lower["consigned_flag"] = lower.pop("consigned")
        lines.append("|".join(q(text(c.lower(), lower.get(c.lower()))) for c in BALANCE_COLUMNS))
    return ("\n".join(lines) + "\n").encode("utf-8")


def read_zip(data: bytes) -> List[Dict[str, str]]:
    """The PSV rows inside a published ZIP, as dicts; checks the entry."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        assert len(names) == 1, names
        assert z.testzip() is None
        text = z.read(names[0]).decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="|")
    rows = list(reader)
    assert rows[0] == HEADER, rows[0]
    return [dict(zip(HEADER, r)) for r in rows[1:]]


class TempDirTest(unittest.TestCase):
    """A test case with a fresh temporary directory in self.dir."""

    def setUp(self) -> None:
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="ohp-py-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def listdir(self) -> List[str]:
        return sorted(os.listdir(self.dir))


class Boom(Exception):
    """The exception the tests raise inside callbacks."""
