"""Record-error rules under the "fail" and "reject" policies."""

from __future__ import annotations

import unittest

import onhandpub
from onhandpub import Rule, Status

from .support import read_zip, row, to_psv

GOOD_BEFORE = row(item_number="GOOD-1")
GOOD_AFTER = row(item_number="GOOD-2", primary_quantity="2")

# name -> (bad record, rule, a fragment of the library's message)
CASES = {
    "serial count mismatch": (
        row(item_number="S1", serial_controlled="Y", primary_quantity="4",
            serial_numbers=["A1", "A2", "A3"]),
        Rule.SERIAL_COUNT, "serial count 3 does not match quantity 4"),
    "duplicate serial": (
        row(item_number="S2", serial_controlled="Y", primary_quantity="3",
            serial_numbers="SN0001..SN0002,SN0002"),
        Rule.SERIAL_DUPLICATE, "SN0002"),
    "duplicate serial in an array": (
        row(item_number="S2B", serial_controlled="Y", primary_quantity="2",
            serial_numbers=["X", "X"]),
        Rule.SERIAL_DUPLICATE, "appears more than once"),
    "serials on a non-serial item": (
        row(item_number="N1", serial_controlled="N", primary_quantity="1",
            serial_numbers=["A1"]),
        Rule.SERIAL_NOT_ALLOWED, "not serial-controlled"),
    "invalid range (prefix)": (
        row(item_number="S3", serial_controlled="Y", primary_quantity="2",
            serial_numbers=[("AB01", "CD02")]),
        Rule.SERIAL_RANGE, "AB01..CD02"),
    "invalid range (from > to)": (
        row(item_number="S4", serial_controlled="Y", primary_quantity="2",
            serial_numbers="SN09..SN08"),
        Rule.SERIAL_RANGE, "FROM is greater than TO"),
    "serial quantity not whole": (
        row(item_number="S5", serial_controlled="Y", primary_quantity="1.5",
            serial_numbers=["A"]),
        Rule.SERIAL_QUANTITY, "not a whole number"),
    "bad quantity": (
        row(item_number="Q1", primary_quantity="1,5"),
        Rule.QUANTITY, "PRIMARY_QUANTITY '1,5'"),
    "bad secondary quantity": (
        row(item_number="Q2", secondary_quantity="x", secondary_uom_code="KG"),
        Rule.QUANTITY, "SECONDARY_QUANTITY"),
    "secondary without UOM": (
        row(item_number="Q3", secondary_quantity="2"),
        Rule.UOM, "SECONDARY_UOM_CODE"),
    "missing item number": (
        row(item_number=None),
        Rule.REQUIRED, "ITEM_NUMBER is required"),
    "missing quantity": (
        row(item_number="R2", primary_quantity=""),
        Rule.REQUIRED, "PRIMARY_QUANTITY is required"),
    "missing last update date": (
        row(item_number="R3", last_update_date=None),
        Rule.REQUIRED, "LAST_UPDATE_DATE is required"),
    "bad date": (
        row(item_number="D1", last_update_date="2026/02/30"),
        Rule.DATE, "LAST_UPDATE_DATE '2026/02/30'"),
    "bad id": (
        row(item_number="I1", organization_id="12a"),
        Rule.ID, "ORGANIZATION_ID"),
    "bad flag": (
        row(item_number="F1", serial_controlled="X"),
        Rule.SOURCE, "SERIAL_CONTROLLED must be Y or N"),
    "NUL in a field": (
        row(item_number="Z\x00Z"),
        Rule.SOURCE, "NUL"),
    "invalid UTF-8": (
        row(item_number=b"\xff\xfe"),
        Rule.UTF8, "UTF-8"),
    "field too long": (
        row(item_number="L" * 4001),
        Rule.LIMIT, "longer than 4000"),
}


def publish(rows, **kw):
    kw.setdefault("organization", "M1")
    kw.setdefault("caller_authorized", True)
    kw.setdefault("full", True)
    kw.setdefault("snapshot_date", "2026-01-10T08:00:00Z")
    if kw.get("on_error") == "reject":
        # the rules of single bad records: no reject threshold, maybe no line
        kw.setdefault("max_reject_percent", 100)
        kw.setdefault("allow_empty", True)
    return onhandpub.publish(rows, **kw)


class FailPolicyTest(unittest.TestCase):
    def test_each_rule_fails_the_run(self) -> None:
        for name, (bad, rule, fragment) in CASES.items():
            with self.subTest(name):
                with self.assertRaises(onhandpub.RecordError) as cm:
                    publish([GOOD_BEFORE, bad, GOOD_AFTER])
                exc = cm.exception
                self.assertIs(exc.rule, rule)
                self.assertEqual(exc.ordinal, 2)
                self.assertIn("record 2", exc.message)
                self.assertIn(fragment, exc.message)
                self.assertIs(exc.summary.status, Status.FAILED)
                self.assertEqual(exc.summary.records_read, 2)
                self.assertIsNone(exc.summary.data)

    def test_psv_source(self) -> None:
        bad = row(item_number="F1", serial_controlled="X")
        with self.assertRaises(onhandpub.RecordError) as cm:
            publish(to_psv([GOOD_BEFORE, bad]))
        self.assertIs(cm.exception.rule, Rule.SOURCE)
        self.assertIn("line 3", cm.exception.message)


class RejectPolicyTest(unittest.TestCase):
    def test_each_rule_rejects_the_record(self) -> None:
        for name, (bad, rule, fragment) in CASES.items():
            with self.subTest(name):
                got = []
                s = publish([GOOD_BEFORE, bad, GOOD_AFTER], on_error="reject",
                            on_reject=got.append)
                self.assertIs(s.status, Status.WARNINGS)
                self.assertEqual(s.records_rejected, 1)
                self.assertEqual(s.records_published, 2)
                self.assertEqual([r["ITEM_NUMBER"] for r in read_zip(s.data)],
                                 ["GOOD-1", "GOOD-2"])
                self.assertEqual(len(got), 1)
                rj = got[0]
                self.assertIsInstance(rj, onhandpub.Rejection)
                self.assertEqual(rj.ordinal, 2)
                self.assertIs(rj.rule, rule)
                self.assertEqual(rj.rule_name, rule.name)
                self.assertIn(fragment, rj.message)
                self.assertIs(rj.item, bad)
                self.assertEqual(rj.key["organization_code"], "M1")
                self.assertEqual(set(rj.key), {"organization_code", "item_number", "revision",
                                               "subinventory_code", "locator_id",
                                               "locator_name", "lot_number"})

    def test_rejection_record_fields(self) -> None:
        got = []
        bad = row(item_number="S1", serial_controlled=True, primary_quantity="3",
                  serial_numbers=["A", ("B01", "B03")], lot_number="L1", locator_name="X.1")
        publish([bad], on_error="reject", on_reject=got.append)
        rj = got[0]
        self.assertEqual(rj.key["item_number"], "S1")
        self.assertEqual(rj.key["lot_number"], "L1")
        self.assertEqual(rj.key["locator_name"], "X.1")
        self.assertIsNone(rj.key["revision"])
        self.assertEqual(rj.record["serial_numbers"], ["A", ("B01", "B03")])
        self.assertTrue(rj.record["serial_controlled"])
        self.assertEqual(rj.record["primary_quantity"], "3")

    def test_psv_source_rejections(self) -> None:
        got = []
        bad = row(item_number="F1", serial_controlled="X")
        s = publish(to_psv([GOOD_BEFORE, bad, GOOD_AFTER]), on_error="reject",
                    on_reject=got.append)
        self.assertEqual(s.records_rejected, 1)
        self.assertIs(got[0].rule, Rule.SOURCE)
        self.assertIsNone(got[0].item)
        self.assertIn("line 3", got[0].message)

    def test_reject_without_callback(self) -> None:
        s = publish([GOOD_BEFORE, row(primary_quantity="x")], on_error=onhandpub.OnError.REJECT)
        self.assertEqual(s.records_rejected, 1)
        self.assertIs(s.status, Status.WARNINGS)

    def test_rejected_serial_record_publishes_no_line(self) -> None:
        bad = row(item_number="S1", serial_controlled="Y", primary_quantity="3",
                  serial_numbers=["A1", "A2", "A2"])
        s = publish([bad], on_error="reject")
        self.assertEqual(read_zip(s.data), [])
        self.assertEqual(s.serial_lines, 0)


if __name__ == "__main__":
    unittest.main()


class InputTest(unittest.TestCase):
    """NUL bytes, byte-order marks and dates, from a PSV and from mappings."""

    def test_nul_in_psv_source_is_a_record_error(self) -> None:
        bad = row(organization_code="M1\0X", item_number="AB\0CD")
        data = to_psv([GOOD_BEFORE, bad, GOOD_AFTER])
        self.assertIn(b"M1\0X", data)
        got = []
        s = publish(data, on_error="reject", on_reject=got.append)
        self.assertEqual([r["ITEM_NUMBER"] for r in read_zip(s.data)], ["GOOD-1", "GOOD-2"])
        self.assertEqual(len(got), 1)
        self.assertIs(got[0].rule, Rule.SOURCE)
        self.assertIn("line 3, column", got[0].message)
        self.assertIn("NUL", got[0].message)
        self.assertNotEqual(got[0].record.get("organization_code"), "M1")
        with self.assertRaises(onhandpub.RecordError) as cm:
            publish(data)
        self.assertIn("NUL", cm.exception.message)

    def test_nul_in_mapping_is_a_record_error(self) -> None:
        for bad in (row(organization_code="M1\0X", item_number="AB\0CD"),
                    row(item_number="AB\0CD"),
                    onhandpub.Record(**row(item_number="AB\0CD"))):
            with self.subTest(bad=bad):
                got = []
                s = publish([GOOD_BEFORE, bad, GOOD_AFTER], on_error="reject",
                            on_reject=got.append)
                items = [r["ITEM_NUMBER"] for r in read_zip(s.data)]
                self.assertEqual(items, ["GOOD-1", "GOOD-2"])
                self.assertEqual(len(got), 1)
                self.assertIs(got[0].rule, Rule.SOURCE)
                self.assertIn("NUL", got[0].message)

    def test_byte_order_mark(self) -> None:
        data = b"\xef\xbb\xbf" + to_psv([row(organization_id="204")])
        s = publish(data)
        got = read_zip(s.data)
        self.assertEqual(got[0]["ORGANIZATION_ID"], "204")

    def test_dash_date_time(self) -> None:
        s = publish([row(last_update_date="2026-01-15 18:00:00")],
                    snapshot_date="2026-01-16 06:30:00")
        got = read_zip(s.data)
        self.assertEqual(got[0]["LAST_UPDATE_DATE"], "2026/01/15 18:00:00")
        self.assertEqual(got[0]["SNAPSHOT_DATE"], "2026/01/16 06:30:00")
        self.assertEqual(onhandpub.parse_date("2026-01-15 18:00:00").isoformat(),
                         "2026-01-15T18:00:00+00:00")
        with self.assertRaises(onhandpub.InvalidArgument) as cm:
            onhandpub.parse_date("15.01.2026")
        for form in ("YYYY/MM/DD HH:MM:SS", "YYYY-MM-DD HH:MM:SS", "YYYY-MM-DDTHH:MM:SSZ"):
            self.assertIn(form, str(cm.exception))
        with self.assertRaises(onhandpub.RecordError) as cm:
            publish([row(last_update_date="15.01.2026")])
        self.assertIn("YYYY-MM-DD HH:MM:SS", cm.exception.message)

    def test_date_forms_match_the_header(self) -> None:
        import os
        import re
        from onhandpub.dates import DATE_FORMATS
        root = os.environ.get("OHP_SOURCE_ROOT")
        if not root:
            self.skipTest("OHP_SOURCE_ROOT is not set")
        with open(os.path.join(root, "include", "onhandpub.h"), encoding="utf-8") as f:
            header = f.read()
        m = re.search(r"#define OHP_DATE_FORMATS((?:[^\n]*\\\n)*[^\n]*)", header)
        self.assertIsNotNone(m)
        text = "".join(re.findall(r'"([^"]*)"', m.group(1)))
        self.assertEqual(text, DATE_FORMATS)

    def test_file_source_positions(self) -> None:
        import os
        import tempfile
        # line 1 header, 2 good, 3 blank, 4 the bad quantity, 5 a bad flag
        data = to_psv([GOOD_BEFORE]) + b"\n" + to_psv([row(primary_quantity="x1"),
                                                      row(serial_controlled="X")]).split(
            b"\n", 1)[1]
        got = []
        publish(data, on_error="reject", on_reject=got.append)
        self.assertEqual([(r.line, r.column) for r in got],
                         [(4, "PRIMARY_QUANTITY"), (5, "SERIAL_CONTROLLED")])
        self.assertTrue(got[0].message.startswith("record 2 ("), got[0].message)
        self.assertIn("; input, line 4, column ", got[0].message)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "in.psv")
            with open(path, "wb") as f:
                f.write(data)
            with self.assertRaises(onhandpub.RecordError) as cm:
                publish(path)
        self.assertEqual(cm.exception.line, 4)
        self.assertEqual(cm.exception.column, "PRIMARY_QUANTITY")
        self.assertIn("input '%s', line 4, column " % path, cm.exception.message)
        self.assertIn("(PRIMARY_QUANTITY)", cm.exception.message)
        # an iterable source has no lines
        got = []
        publish([GOOD_BEFORE, row(primary_quantity="x1")], on_error="reject",
                on_reject=got.append)
        self.assertIsNone(got[0].line)
        self.assertNotIn("line", got[0].message)

    def test_read_psv(self) -> None:
        self.assertEqual(list(onhandpub.read_psv(b"\xef\xbb\xbfA|B\nc|d\n")),
                         [["A", "B"], ["c", "d"]])
        with self.assertRaises(onhandpub.InvalidArgument) as cm:
            list(onhandpub.read_psv(b"A|B\nc|d\0e\n"))
        self.assertIn("line 2, column 2", str(cm.exception))

    def test_nul_in_parameters_and_values(self) -> None:
        # never cut short at the NUL: "M1\0X" is not organization M1
        with self.assertRaises(onhandpub.InvalidArgument) as cm:
            publish([row()], organization="M1\0X")
        self.assertIn("NUL", str(cm.exception))
        with self.assertRaises(onhandpub.InvalidArgument):
            publish([row()], user="alice\0bob")
        with self.assertRaises(onhandpub.InvalidArgument):
            publish([row()], snapshot_date="2026/01/10\0junk")
        with self.assertRaises(onhandpub.InvalidArgument):
            onhandpub.parse_date("2026/01/10\0")
        with self.assertRaises(onhandpub.InvalidArgument):
            onhandpub.canonical_quantity("1\0x")
        reg = onhandpub.Registry()
        with self.assertRaises(onhandpub.InvalidArgument):
            reg.add("5", "Five\0 3PL")
        self.assertIsNone(reg.find("5"))
        with self.assertRaises(ValueError):
            onhandpub.reconcile(b"", b"", tolerance_absolute="1\0")


FORGED = "A\nonhandpub: published FAKE.zip (succeeded)\x1b[2J"
FORGED_SEEN = "A\\nonhandpub: published FAKE.zip (succeeded)\\x1b[2J"


class VisibleMessageTest(unittest.TestCase):
    """Messages are one line of visible text, whatever the source: a value quoted in
    them shows control characters and bytes that are not UTF-8 as escapes."""

    def assertVisible(self, message):
        self.assertFalse([c for c in message if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F],
                         repr(message))
        message.encode("utf-8")  # no lone surrogate standing for a raw byte

    def sources(self, bad):
        # dicts (the stream), the same with a locator id only (the message is rebuilt
        # in Python), and a PSV file (the library's reader)
        return {"dicts": [GOOD_BEFORE, bad],
                "locator id": [GOOD_BEFORE, dict(bad, locator_id="7")],
                "psv": to_psv([GOOD_BEFORE, bad])}

    def test_record_error_and_rejection(self) -> None:
        bad = row(item_number=FORGED, primary_quantity="x1\x1b[31m",
                  lot_number="L\u009b6n")
        for name, source in self.sources(bad).items():
            with self.subTest(name):
                with self.assertRaises(onhandpub.RecordError) as cm:
                    publish(source)
                msg = cm.exception.message
                self.assertVisible(msg)
                self.assertIn("item " + FORGED_SEEN + ",", msg)
                self.assertIn("lot L\\u009b6n)", msg)
                self.assertIn("'x1\\x1b[31m'", msg)
                self.assertIn("locator 7," if name == "locator id" else "locator -,", msg)
                self.assertEqual(cm.exception.summary.message, msg)
                got = []
                publish(source, on_error="reject", on_reject=got.append)
                self.assertEqual(len(got), 1)
                self.assertVisible(got[0].message)
                self.assertIn("item " + FORGED_SEEN + ",", got[0].message)
                self.assertIn("locator 7," if name == "locator id" else "locator -,",
                              got[0].message)
                if got[0].item is not None:
                    self.assertEqual(got[0].item["item_number"], FORGED)

    def test_invalid_utf8_bytes(self) -> None:
        bad = row(item_number=b"C\xff\xfe", primary_quantity="1")
        sources = self.sources(bad)
        sources["psv"] = to_psv([GOOD_BEFORE, row(item_number="C@@")]).replace(
            b"C@@", b"C\xff\xfe")
        for name, source in sources.items():
            with self.subTest(name):
                with self.assertRaises(onhandpub.RecordError) as cm:
                    publish(source)
                self.assertVisible(cm.exception.message)
                self.assertIn("item C\\xff\\xfe,", cm.exception.message)
                self.assertIs(cm.exception.rule, Rule.UTF8)
