"""Incremental runs publish whole balance keys, whatever the source's kind.

The reproduction: day 1 holds a serial laptop as one row per serial and a
bolt as two detail rows; on day 2 a serial is added and one bolt row
changes.  The day-2 incremental must carry every row of both keys, so the
chain folds to day 2's balances (reconcile exit 0, no discrepancy)."""

from __future__ import annotations

import io
import os
import unittest
import zipfile

import onhandpub
from onhandpub import MemoryStateStore, Mode

from .support import TempDirTest

HEAD = ("ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|LOCATOR_NAME|SERIAL_CONTROLLED|"
        "SERIAL_NUMBERS|PRIMARY_QUANTITY|PRIMARY_UOM_CODE|LAST_UPDATE_DATE\n")
DAY1 = [
    ("LAPTOP", "Y", "S1", "1", "2026/01/01 00:00:00"),
    ("LAPTOP", "Y", "S2", "1", "2026/01/01 00:00:00"),
    ("BOLT", "N", None, "10", "2026/01/01 00:00:00"),
    ("BOLT", "N", None, "5", "2026/01/01 00:00:00"),
]
DAY2 = DAY1[:3] + [
    ("BOLT", "N", None, "7", "2026/01/03 00:00:00"),
    ("LAPTOP", "Y", "S3", "1", "2026/01/03 00:00:00"),
]
WANT = [("LAPTOP", "S1", "1"), ("LAPTOP", "S2", "1"), ("BOLT", "", "10"), ("BOLT", "", "7"),
        ("LAPTOP", "S3", "1")]


def items(day):
    return [{"organization_code": "M1", "item_number": item, "subinventory_code": "FG",
             "locator_name": "A1", "serial_controlled": sc,
             "serial_numbers": sn, "primary_quantity": qty, "primary_uom_code": "EA",
             "last_update_date": date}
            for item, sc, sn, qty, date in day]


def psv(day) -> bytes:
    return (HEAD + "".join(f"M1|{i}|FG|A1|{sc}|{sn or ''}|{q}|EA|{d}\n"
                           for i, sc, sn, q, d in day)).encode()


class _PipeLike(io.RawIOBase):
    """A readable file object that cannot seek, like a pipe."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, b) -> int:
        chunk = self.data.read(len(b))
        b[:len(chunk)] = chunk
        return len(chunk)


class WholeKeysTest(TempDirTest):
    def run_chain(self, day2_source):
        state = MemoryStateStore()
        job = onhandpub.Job(state=state)
        s1 = job.run(items(DAY1), None, organization="M1", caller_authorized=True,
                     snapshot_date="2026-01-02T00:00:00Z")
        self.assertEqual(s1.mode, Mode.FULL)
        s2 = job.run(day2_source, None, organization="M1", caller_authorized=True,
                     snapshot_date="2026-01-04T00:00:00Z")
        self.assertEqual(s2.mode, Mode.INCREMENTAL)
        self.assertEqual(s2.changed_keys, 2)
        self.assertEqual(s2.records_read, 5)
        with zipfile.ZipFile(io.BytesIO(s2.data)) as z:
            text = z.read(z.namelist()[0]).decode()
        got = [(r.item_number, r.serial_number, str(r.primary_quantity))
               for r in onhandpub.read_snapshot(s2.data)]
        self.assertEqual(got, WANT, text)
        result = onhandpub.reconcile([s1.data, s2.data], psv(DAY2))
        self.assertEqual(result.discrepancies, [])
        self.assertEqual(result.summary.discrepancies, 0)

    def test_list(self):
        self.run_chain(items(DAY2))

    def test_one_shot_generator(self):
        self.run_chain(x for x in items(DAY2))

    def test_bytes_and_path(self):
        self.run_chain(psv(DAY2))
        path = os.path.join(self.dir, "day2.psv")
        with open(path, "wb") as f:
            f.write(psv(DAY2))
        self.run_chain(path)

    def test_seekable_file_read_from_where_it_was(self):
        f = io.BytesIO(b"ignored prefix\n" + psv(DAY2))
        f.seek(len(b"ignored prefix\n"))
        self.run_chain(f)

    def test_non_seekable_file(self):
        self.run_chain(_PipeLike(psv(DAY2)))

    def test_item_that_cannot_be_kept(self):
        """A one-shot iterator's items are kept for the second pass; an item
        that cannot be kept fails the run clearly, nothing published."""

        class Unkeepable(dict):
            def __reduce__(self):
                raise TypeError("not picklable")

        state = MemoryStateStore()
        job = onhandpub.Job(state=state)
        job.run(items(DAY1), None, organization="M1", caller_authorized=True,
                snapshot_date="2026-01-02T00:00:00Z")
        source = (Unkeepable(x) for x in items(DAY2))
        with self.assertRaises(TypeError) as cm:
            job.run(source, None, organization="M1", caller_authorized=True,
                    snapshot_date="2026-01-04T00:00:00Z")
        self.assertIn("reads the source twice", str(cm.exception))
        self.assertEqual(len(state.watermarks), 1)

    def test_limit(self):
        state = MemoryStateStore()
        job = onhandpub.Job(state=state)
        job.run(items(DAY1), None, organization="M1", caller_authorized=True,
                snapshot_date="2026-01-02T00:00:00Z")
        with self.assertRaises(onhandpub.LimitError) as cm:
            job.run(items(DAY2), None, organization="M1", caller_authorized=True,
                    snapshot_date="2026-01-04T00:00:00Z", max_changed_keys=1)
        self.assertIn("more than 1 balance keys changed", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
