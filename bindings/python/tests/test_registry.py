"""The external-system registry."""

from __future__ import annotations

import datetime as dt
import os
import unittest

import onhandpub
from onhandpub import AlreadyExists, Inactive, InvalidArgument, NotFound, Registry

from .support import TempDirTest

LOOKUPS = (
    "LOOKUP_CODE|MEANING|DESCRIPTION|ENABLED_FLAG|START_DATE_ACTIVE|END_DATE_ACTIVE|"
    "DISPLAY_SEQUENCE|TAG\n"
    "0|Oracle WMS|Oracle Warehouse Management|Y||||\n"
    "100|Acme 3PL|Acme third-party logistics|Y|2026/01/01|2026/12/31|2|EU\n"
    "200|Old WMS|Retired|N||||\n"
    "300|Ended WMS||Y||2025/06/30|1|\n"
    "20|Plain||Y||||\n"
)


class RegistryTest(TempDirTest):
    def test_seeded_value(self) -> None:
        with Registry() as reg:
            self.assertEqual(len(reg), 1)
            wms = reg.find("0")
            self.assertEqual(wms.code, "0")
            self.assertEqual(wms.meaning, "Oracle WMS")
            self.assertTrue(wms.enabled)
            self.assertIn("0", reg)
            self.assertIsNone(reg.find("1"))
            self.assertEqual([s.code for s in reg.systems()], ["0"])

    def test_add_and_attributes(self) -> None:
        with Registry() as reg:
            v = reg.add("123", "Acme", description="third party", enabled=True,
                        start_date=dt.date(2026, 1, 1), end_date="2026/12/31",
                        display_sequence=3, tag="EU")
            self.assertEqual(v, onhandpub.ExternalSystem(
                "123", "Acme", "third party", True, dt.date(2026, 1, 1), dt.date(2026, 12, 31),
                3, "EU"))
            self.assertEqual(reg["123"], v)
            self.assertEqual(len(reg), 2)
            with self.assertRaises(KeyError):
                reg["999"]

    def test_code_zero_reserved(self) -> None:
        with Registry() as reg:
            with self.assertRaises(AlreadyExists):
                reg.add("0", "Another WMS")
            with self.assertRaises(InvalidArgument) as cm:
                reg.remove("0")
            self.assertIn("0", str(cm.exception))
            with self.assertRaises(InvalidArgument):
                reg.update("0", enabled=False)
            with self.assertRaises(InvalidArgument):
                reg.update("0", end_date="2026-01-01")
            with self.assertRaises(InvalidArgument):
                reg.update("0", start_date="2026-01-01")
            v = reg.update("0", meaning="Oracle WMS (EU)", description="changed",
                           display_sequence=9, tag="T")
            self.assertEqual((v.meaning, v.description, v.display_sequence, v.tag),
                             ("Oracle WMS (EU)", "changed", 9, "T"))
            self.assertTrue(reg.find("0").enabled)

    def test_invalid_codes_refused(self) -> None:
        with Registry() as reg:
            for code in ["-1", "01", "A1", "1.5", "", " 1", "1 ", "+1",
                         "1234567890123456789"]:
                with self.subTest(code=code):
                    with self.assertRaises(InvalidArgument) as cm:
                        reg.add(code, "x")
                    self.assertEqual(cm.exception.code, -1)
                    self.assertNotEqual(cm.exception.message, "")
            self.assertEqual(len(reg), 1)
            reg.add("123456789012345678", "eighteen digits")
            with self.assertRaises(TypeError):
                reg.add(12, "not a str")

    def test_other_rules(self) -> None:
        with Registry() as reg:
            reg.add("5", "five")
            with self.assertRaises(AlreadyExists):
                reg.add("5", "again")
            with self.assertRaises(InvalidArgument):
                reg.add("6", "")
            with self.assertRaises(InvalidArgument):
                reg.add("6", "x" * 81)
            with self.assertRaises(InvalidArgument):
                reg.add("6", "six", description="d" * 241)
            with self.assertRaises(InvalidArgument):
                reg.add("6", "six", tag="t" * 151)
            with self.assertRaises(InvalidArgument):
                reg.add("6", "six", start_date="2026-02-01", end_date="2026-01-01")
            with self.assertRaises(InvalidArgument):
                reg.add("6", "six", start_date="2026-02-30")
            with self.assertRaises(NotFound):
                reg.remove("7")
            with self.assertRaises(NotFound):
                reg.update("7", meaning="seven")
            reg.remove("5")
            self.assertIsNone(reg.find("5"))

    def test_update_keeps_other_attributes(self) -> None:
        with Registry() as reg:
            reg.add("5", "five", description="d", display_sequence=1, tag="t")
            v = reg.update("5", enabled=False)
            self.assertEqual((v.meaning, v.description, v.display_sequence, v.tag, v.enabled),
                             ("five", "d", 1, "t", False))
            v = reg.update("5", description=None, display_sequence=None)
            self.assertIsNone(v.description)
            self.assertIsNone(v.display_sequence)

    def test_usable_ordering_and_windows(self) -> None:
        with Registry() as reg:
            reg.add("2", "two")
            reg.add("10", "ten")
            reg.add("3", "three", display_sequence=5)
            reg.add("7", "seven", display_sequence=1)
            reg.add("8", "disabled", enabled=False, display_sequence=0)
            reg.add("9", "february", start_date="2026-02-01", end_date="2026-02-28")
            self.assertEqual([s.code for s in reg.all()], ["8", "7", "3", "0", "2", "9", "10"])
            jan = [s.code for s in reg.systems(on=dt.date(2026, 1, 15))]
            self.assertEqual(jan, ["7", "3", "0", "2", "10"])
            feb = [s.code for s in reg.systems(on="2026/02/01")]
            self.assertEqual(feb, ["7", "3", "0", "2", "9", "10"])
            last = [s.code for s in reg.systems(
                on=dt.datetime(2026, 2, 28, 23, 59, 59, tzinfo=dt.timezone.utc))]
            self.assertIn("9", last)
            after = [s.code for s in reg.systems(on=dt.datetime(2026, 3, 1))]
            self.assertNotIn("9", after)
            self.assertEqual(reg.check("9", on="2026-02-10").code, "9")
            with self.assertRaises(Inactive):
                reg.check("9", on="2026-03-01")
            with self.assertRaises(Inactive):
                reg.check("8")
            with self.assertRaises(NotFound):
                reg.check("11")

    def test_from_psv(self) -> None:
        for text in (LOOKUPS, LOOKUPS.encode()):
            with Registry.from_psv(text) as reg:
                self.assertEqual(len(reg), 5)
                self.assertEqual(reg.find("100").tag, "EU")
                self.assertFalse(reg.find("200").enabled)
                self.assertEqual([s.code for s in reg.systems(on="2026-03-01")],
                                 ["100", "0", "20"])
                self.assertEqual([s.code for s in reg.systems(on="2025-03-01")],
                                 ["300", "0", "20"])

    def test_from_file(self) -> None:
        path = os.path.join(self.dir, "lookups.psv")
        with open(path, "w", encoding="utf-8") as f:
            f.write(LOOKUPS)
        with Registry.from_file(path) as reg:
            self.assertEqual(len(reg), 5)

    def test_load_errors_name_the_line_and_change_nothing(self) -> None:
        with Registry() as reg:
            reg.add("5", "five")
            bad = LOOKUPS + "01|Leading zero||Y||||\n"
            with self.assertRaises(InvalidArgument) as cm:
                reg.load_psv(bad)
            self.assertIn("7", cm.exception.message)
            self.assertEqual(len(reg), 2)
            with self.assertRaises(AlreadyExists):
                reg.load_psv(LOOKUPS + "100|Again||Y||||\n")
            self.assertEqual(len(reg), 2)
            with self.assertRaises(InvalidArgument):
                reg.load_psv("NOT|A|HEADER\n")
        with self.assertRaises(InvalidArgument):
            Registry.from_psv(LOOKUPS.replace("|Y|2026/01/01", "|X|2026/01/01"))

    def test_close_idempotent(self) -> None:
        reg = Registry()
        reg.close()
        reg.close()
        self.assertTrue(reg.closed)
        with self.assertRaises(ValueError):
            len(reg)
        with self.assertRaises(ValueError):
            reg.add("1", "one")


if __name__ == "__main__":
    unittest.main()
