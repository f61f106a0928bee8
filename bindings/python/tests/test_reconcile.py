"""Reading snapshots back and reconciling them."""

from __future__ import annotations

import os
import unittest
from decimal import Decimal

import onhandpub
from onhandpub import DiscrepancyKind, Side

from .support import HEADER, TempDirTest, row, sample_rows, to_psv

D1 = "2026/11/01 06:00:00"
D2 = "2026/11/02 06:00:00"


def snapshot(mode: str, date: str, lines) -> bytes:
    """A bare layout v1 PSV: lines are (item, subinventory, serial, quantity, uom)."""
    out = ["|".join(HEADER)]
    for item, sub, serial, qty, uom in lines:
        out.append(f"0|7|{mode}|{date}|204|M1|1|{item}||{sub}|||||{'Y' if serial else 'N'}|"
                   f"{serial}|{qty}|{uom}|||N||||Active|{D1}")
    return ("\n".join(out) + "\n").encode()


def external(lines) -> bytes:
    """A balances PSV: lines are (item, subinventory, serials, quantity, uom)."""
    out = ["ORGANIZATION_CODE|ITEM_NUMBER|SUBINVENTORY_CODE|SERIAL_NUMBERS|PRIMARY_QUANTITY|"
           "PRIMARY_UOM_CODE"]
    for item, sub, serials, qty, uom in lines:
        out.append(f"M1|{item}|{sub}|{serials}|{qty}|{uom}")
    return ("\n".join(out) + "\n").encode()


class ReadSnapshotTest(TempDirTest):
    def publish(self):
        out = os.path.join(self.dir, "out")
        os.mkdir(out)
        rows = sample_rows()
        s = onhandpub.publish(rows, out, organization="M1", full=True, caller_authorized=True,
                              user="tester", snapshot_date="2026-11-27T06:00:00Z", run_id=7)
        return s.path, rows

    def test_records_of_a_zip(self) -> None:
        path, _ = self.publish()
        recs = list(onhandpub.read_snapshot(path))
        self.assertEqual(len(recs), 7)  # 3 + 4 serial lines (other org and zero skipped)
        first = recs[0]
        self.assertEqual(first.line, 2)
        self.assertEqual(first.item_number, "AS54888")
        self.assertEqual(first.primary_quantity, "12.5")
        self.assertEqual(first.locator_name, "A1.01.01")
        self.assertEqual(first.publish_run_id, 7)
        self.assertIsNone(first.lot_expiration_date)
        serials = [r.serial_number for r in recs if r.serial_controlled]
        self.assertEqual(serials, ["LT100", "SN0098", "SN0099", "SN0100"])
        with open(path, "rb") as f:
            self.assertEqual(list(onhandpub.read_snapshot(f.read())), recs)

    def test_manifest_and_a_tampered_archive(self) -> None:
        import io
        import zipfile
        from decimal import Decimal
        path, _ = self.publish()
        snap = onhandpub.read_snapshot(path)
        m = snap.manifest
        self.assertEqual((m.format_version, m.organization_code, m.run_id, m.data_lines),
                         ("1.0", "M1", 7, 7))
        self.assertEqual(m.serial_lines, 4)
        self.assertIsNone(m.window_start)
        self.assertEqual(sum(m.totals.values()),
                         sum(Decimal(r.primary_quantity) for r in snap))
        # a line removed, the ZIP rebuilt around it with a right CRC-32 and the same comment
        with zipfile.ZipFile(path) as z:
            name, comment = z.namelist()[0], z.comment
            lines = z.read(name).splitlines(keepends=True)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(name, b"".join(lines[:-1]))
            z.comment = comment
        tampered = onhandpub.read_snapshot(buf.getvalue())
        self.assertIsNotNone(tampered.manifest)
        with self.assertRaisesRegex(onhandpub.InvalidArgument,
                                    "the manifest says 7 data lines, the entry has 6"):
            list(tampered)
        # without the comment there is nothing to check against
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(name, b"".join(lines[:-1]))
        bare = onhandpub.read_snapshot(buf.getvalue())
        self.assertIsNone(bare.manifest)
        self.assertEqual(len(list(bare)), 6)

    def test_corrupt_zip_is_an_error(self) -> None:
        path, _ = self.publish()
        with open(path, "rb") as f:
            data = bytearray(f.read())
        data[len(data) // 3] ^= 0x04  # inside the compressed data
        with self.assertRaises(onhandpub.InvalidArgument):
            list(onhandpub.read_snapshot(bytes(data)))

    def test_malformed_line_names_line_and_column(self) -> None:
        text = snapshot("FULL", D1, [("A", "FGI", "", "1", "Ea"), ("B", "FGI", "", "1.50", "Ea")])
        with self.assertRaises(onhandpub.InvalidArgument) as cm:
            list(onhandpub.read_snapshot(text))
        self.assertIn("line 3, column 17 (PRIMARY_QUANTITY)", str(cm.exception))


class ReconcileTest(TempDirTest):
    def test_round_trip_finds_nothing(self) -> None:
        out = os.path.join(self.dir, "out")
        os.mkdir(out)
        rows = [r for r in sample_rows() if r["organization_code"] == "M1"]
        s = onhandpub.publish(rows, out, organization="M1", full=True, caller_authorized=True,
                              user="tester")
        res = onhandpub.reconcile(s.path, to_psv(rows))
        self.assertEqual(res.discrepancies, [])
        self.assertEqual(res.summary.discrepancies, 0)
        self.assertEqual(res.summary.matched, 4)
        self.assertEqual(res.summary.uom_totals["EA"], (Decimal("16.625"), Decimal("16.625")))
        self.assertIsInstance(res.summary.uom_totals["EA"][0], Decimal)
        # the snapshot against itself
        res = onhandpub.reconcile([s.path], s.path)
        self.assertEqual(res.summary.discrepancies, 0)

    def test_classes(self) -> None:
        erp = snapshot("FULL", D1, [("A", "FGI", "", "10.5", "Ea"), ("C", "FGI", "", "2", "Ea"),
                                    ("E", "FGI", "", "3", "Ea"), ("S", "FGI", "S1", "1", "Ea"),
                                    ("S", "FGI", "S2", "1", "Ea")])
        ext = external([("A", "FGI", "", "10.25", "Ea"), ("D", "FGI", "", "7", "Ea"),
                        ("E", "FGI", "", "3", "Kg"), ("S", "FGI", "S1", "1", "Ea"),
                        ("S", "RAW", "S2,S3,S3", "3", "Ea")])
        res = onhandpub.reconcile(erp, ext)
        kinds = [(d.kind, d.item_number, d.serial_number) for d in res.discrepancies]
        self.assertEqual(kinds, [
            (DiscrepancyKind.QUANTITY, "A", ""),
            (DiscrepancyKind.MISSING_EXTERNAL, "C", ""),
            (DiscrepancyKind.MISSING_ERP, "D", ""),
            (DiscrepancyKind.UOM, "E", ""),
            (DiscrepancyKind.SERIAL_MOVED, "S", "S2"),
            (DiscrepancyKind.MISSING_ERP, "S", ""),
            (DiscrepancyKind.SERIAL_MISSING_ERP, "S", "S3"),
            (DiscrepancyKind.SERIAL_DUPLICATE, "S", "S3"),
        ])
        q = res.discrepancies[0]
        self.assertEqual((q.erp_quantity, q.external_quantity, q.difference),
                         (Decimal("10.5"), Decimal("10.25"), Decimal("-0.25")))
        self.assertEqual(str(q.difference), "-0.25")  # exact, as the library wrote it
        moved = res.discrepancies[4]
        self.assertEqual((moved.subinventory_code, moved.external_subinventory_code),
                         ("FGI", "RAW"))
        dup = res.discrepancies[7]
        self.assertEqual((dup.side, dup.count), (Side.EXTERNAL, 2))
        s = res.summary
        self.assertEqual((s.quantity_mismatch, s.missing_external, s.missing_erp, s.uom_mismatch,
                          s.serial_moved, s.serial_missing_erp, s.serial_duplicate),
                         (1, 1, 2, 1, 1, 1, 1))
        self.assertEqual(s.matched, 1)

    def test_chain_and_options(self) -> None:
        full = snapshot("FULL", D1, [("A", "FGI", "", "10", "Ea"), ("B", "FGI", "", "5", "Ea")])
        incr = snapshot("INCREMENTAL", D2, [("A", "FGI", "", "12", "Ea"),
                                            ("B", "FGI", "", "0", "Ea")])
        ext = external([("A", "FGI", "", "12.1", "Ea")])
        res = onhandpub.reconcile([incr, full], ext)
        self.assertEqual([d.kind for d in res.discrepancies], [DiscrepancyKind.QUANTITY])
        res = onhandpub.reconcile([incr, full], ext, tolerance_absolute="0.1")
        self.assertEqual(res.discrepancies, [])
        self.assertEqual(res.summary.within_tolerance, 1)
        res = onhandpub.reconcile([incr, full], ext, tolerance_relative="0.5")
        self.assertEqual(res.summary.quantity_mismatch, 1)
        res = onhandpub.reconcile([incr, full], ext, tolerance_relative="1")
        self.assertEqual(res.summary.within_tolerance, 1)
        with self.assertRaises(onhandpub.InvalidArgument) as cm:
            onhandpub.reconcile([incr], ext)
        self.assertIn("no FULL snapshot before it", str(cm.exception))
        with self.assertRaises(onhandpub.InvalidArgument):
            onhandpub.reconcile(full, ext, tolerance_absolute="-1")
        with self.assertRaises(ValueError):
            onhandpub.reconcile(full, ext, ignore=["bin"])

    def test_ignore(self) -> None:
        erp = to_psv([row(item_number="A", lot_number="L1", primary_quantity="2"),
                      row(item_number="A", lot_number="L2", primary_quantity="3")])
        out = os.path.join(self.dir, "o")
        os.mkdir(out)
        s = onhandpub.publish([row(item_number="A", lot_number="L1", primary_quantity="2"),
                               row(item_number="A", lot_number="L2", primary_quantity="3")],
                              out, organization="M1", full=True, caller_authorized=True,
                              user="t")
        self.assertTrue(erp)
        ext = to_psv([row(item_number="A", primary_quantity="5")])
        self.assertEqual(onhandpub.reconcile(s.path, ext).summary.discrepancies, 3)
        res = onhandpub.reconcile(s.path, ext, ignore=["lot"])
        self.assertEqual(res.summary.discrepancies, 0)
        self.assertEqual(res.summary.matched, 1)
        # a string, as the connector takes it, is split at commas (not into letters)
        self.assertEqual(onhandpub.reconcile(s.path, ext, ignore="lot").summary.matched, 1)
        res = onhandpub.reconcile(s.path, ext, ignore="revision, lot")
        self.assertEqual(res.summary.matched, 1)
        with self.assertRaises(ValueError):
            onhandpub.reconcile(s.path, ext, ignore="lots")

    def test_owner_and_missing_key_columns(self) -> None:
        rows = [row(item_number="A", primary_quantity="2"),
                row(item_number="A", primary_quantity="3", consigned="Y",
                    owning_party_id="77")]
        out = os.path.join(self.dir, "o")
        os.mkdir(out)
        s = onhandpub.publish(rows, out, organization="M1", full=True, caller_authorized=True,
                              user="t")
        # the balances layout has OWNING_PARTY_ID: owners are compared unless ignored
        ext = to_psv([row(item_number="A", primary_quantity="5")])
        res = onhandpub.reconcile(s.path, ext)
        self.assertEqual(res.summary.discrepancies, 2)
        self.assertEqual(res.summary.compared_without, ())
        res = onhandpub.reconcile(s.path, ext, ignore="owner")
        self.assertEqual(res.summary.discrepancies, 0)
        self.assertEqual(res.summary.matched, 1)
        # an export without the column: compared without owner, and said so
        wms = (b"ORGANIZATION_CODE|ITEM_NUMBER|REVISION|SUBINVENTORY_CODE|LOCATOR_NAME|"
               b"LOT_NUMBER|PRIMARY_QUANTITY|PRIMARY_UOM_CODE\nM1|A||STORES|||5|EA\n")
        res = onhandpub.reconcile(s.path, wms)
        self.assertEqual(res.discrepancies, [])
        self.assertEqual(res.summary.compared_without, ("owner",))
        self.assertEqual(res.summary.matched, 1)

    def test_units_compared_one_by_one(self) -> None:
        full = snapshot("FULL", D1, [("P", "FGI", "", "7", "GAL"), ("P", "FGI", "", "3", "L")])
        same = external([("P", "FGI", "", "3", "L"), ("P", "FGI", "", "7", "GAL")])
        res = onhandpub.reconcile(full, same)
        self.assertEqual(res.discrepancies, [])
        self.assertEqual(res.summary.matched, 1)
        res = onhandpub.reconcile(full, external([("P", "FGI", "", "10", "GAL")]))
        self.assertEqual([(d.kind, d.erp_uom_code, d.difference) for d in res.discrepancies],
                         [(DiscrepancyKind.QUANTITY, "GAL", Decimal("3")),
                          (DiscrepancyKind.MISSING_EXTERNAL, "L", None)])

    def test_readers_freed_when_a_later_source_fails(self) -> None:
        import importlib
        mod = importlib.import_module("onhandpub.reconcile")
        opened, closed = [], []
        real_init, real_close = mod._Reader.__init__, mod._Reader.close

        def init(reader, source):
            real_init(reader, source)
            opened.append(reader)

        def close(reader):
            if reader.handle.value:
                closed.append(reader)
            real_close(reader)

        full = snapshot("FULL", D1, [("A", "FGI", "", "10", "Ea")])
        mod._Reader.__init__, mod._Reader.close = init, close
        try:
            with self.assertRaises((TypeError, ValueError, OSError)):
                onhandpub.reconcile([full, 12345], external([("A", "FGI", "", "10", "Ea")]))
            with self.assertRaises(OSError):
                onhandpub.reconcile([full, os.path.join(self.dir, "missing.zip")],
                                    external([("A", "FGI", "", "10", "Ea")]))
        finally:
            mod._Reader.__init__, mod._Reader.close = real_init, real_close
        self.assertEqual(len(opened), 2)
        self.assertEqual(closed, opened)


if __name__ == "__main__":
    unittest.main()
