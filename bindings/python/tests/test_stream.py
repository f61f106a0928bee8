"""An iterable source is streamed to the library as balances PSV
(onhandpub/_stream.py): everything must come out as from a source that
builds one ohp_record per item."""

from __future__ import annotations

import collections
import ctypes
import datetime as dt
import tracemalloc
import unittest
from decimal import Decimal
from typing import Any, Dict, Iterator, List
from unittest import mock

import onhandpub
from onhandpub import _lib, job as jobmod
from onhandpub._stream import CHUNK, Unrepresentable, split_serials

from .support import Boom, row

SNAP = dt.datetime(2026, 1, 10, 8, tzinfo=dt.timezone.utc)


class _PerRecord:
    """The rejection lookups of a per-record source (the reference)."""

    def __init__(self, run: Any) -> None:
        self.run = run

    def rejection(self, ordinal: int, message: bytes, record: Dict[str, Any]) -> Any:
        item = self.run.ref_item if ordinal == self.run.ref_ordinal else None
        return item, _lib.decode(message), record

    def error_message(self, ordinal: int, message: bytes) -> Any:
        return None


def _setup_per_record(self: Any, source: Any, organization: str) -> None:
    """A source that builds one ohp_record per item through ctypes: the
    reference the stream must match."""
    self.iterator = iter(source)
    self.ref_ordinal = 0
    self.ref_item = None
    self.stream = _PerRecord(self)
    end = object()

    def next_cb(_ud: Any, rec: int) -> int:
        try:
            item = next(self.iterator, end)
            if item is end:
                return 0
            self.ref_ordinal += 1
            r = _lib.ohp_record(_lib.OHP_RECORD_VERSION, *jobmod.record_args(item))
            ctypes.memmove(rec, ctypes.addressof(r), ctypes.sizeof(r))
            self.ref_current = r
            self.ref_item = item
            return 1
        except BaseException as exc:
            self.fail(exc)
            return -1

    rc = _lib.lib.ohp_job_set_source(self.handle, _lib.SOURCE_OPEN_FN(),
                                     self.cfunc(_lib.SOURCE_NEXT_FN, next_cb),
                                     _lib.SOURCE_CLOSE_FN(), None)
    assert rc == 0


def outcome(items: List[Any], **kw: Any) -> Dict[str, Any]:
    """Everything observable of a publish of `items`."""
    got: List[Any] = []
    progress: List[int] = []
    args: Dict[str, Any] = dict(organization="M1", full=True, caller_authorized=True,
                                snapshot_date=SNAP, run_id=1, on_reject=got.append,
                                on_progress=progress.append, progress_interval=3)
    args.update(kw)
    out: Dict[str, Any] = {}
    try:
        s = onhandpub.publish(list(items), **args)
        out["summary"] = s
    except BaseException as exc:  # noqa: BLE001 - compared below
        out["exc"] = (type(exc), str(exc))
        cause = exc.__cause__ if not isinstance(exc, onhandpub.OnhandpubError) else exc
        if cause is not None:
            out["cause"] = (type(cause), str(cause))
            out["summary"] = getattr(cause, "summary", None)
    out["rejections"] = [(r.ordinal, r.rule, r.message, r.key, r.record, id(r.item))
                         for r in got]
    out["progress"] = progress
    return out


def per_record(items: List[Any], **kw: Any) -> Dict[str, Any]:
    with mock.patch.object(jobmod._Run, "_setup_iterable", _setup_per_record):
        return outcome(items, **kw)


class StreamEquivalenceTest(unittest.TestCase):
    def same(self, items: List[Any], **kw: Any) -> Dict[str, Dict[str, Any]]:
        """Both paths give the same outcome under each policy."""
        out = {}
        for policy in ("fail", "reject"):
            with self.subTest(on_error=policy):
                a = outcome(items, on_error=policy, **kw)
                b = per_record(items, on_error=policy, **kw)
                self.assertEqual(a, b)
                out[policy] = a
        return out

    def test_plain_and_tricky_values(self) -> None:
        items: List[Any] = [
            row(item_number="A1", locator_id="5001", locator_name="X.1", revision=None),
            row(ITEM_NUMBER="UPPER"),  # unknown key next to a known one: ignored
            {k.upper(): v for k, v in row(item_number="UP1").items()},
            row(organization_code="M2", primary_quantity=1.5, item_number="OTHER"),
            row(item_number='Q|"1"', lot_number="L\r\n1", material_status_code="é ü"),
            row(item_number="D1", primary_quantity=Decimal("12.500"), organization_id=204,
                last_update_date=dt.datetime(2026, 1, 2, 3, 4, 5),
                lot_expiration_date=dt.date(2027, 1, 1), lot_number="L1"),
            row(item_number=b"BYTES", subinventory_code=b"S\xffX"),
            row(item_number="SURR\udcff"),
            row(item_number="S1", serial_controlled=True, primary_quantity="5",
                serial_numbers=["A1", ("B01", "B03"), ["C1", "C1"]]),
            row(item_number="S2", serial_controlled="Y", primary_quantity="3",
                serial_numbers="X1, X2 ,X3"),
            row(item_number="S3", serial_controlled=True, primary_quantity="1",
                serial_numbers=collections.namedtuple("P", "a b")("N1", "N1")),
            row(item_number="S4", serial_controlled=True, primary_quantity="2",
                serial_numbers=iter(["G1", "G2"])),
            row(item_number="S5", serial_controlled=True, primary_quantity="1",
                serial_numbers=[""]),
            row(item_number="S6", serial_controlled=True, primary_quantity="2",
                serial_numbers=[("", "X")]),
            row(item_number="S7", serial_controlled=True, primary_quantity="0",
                serial_numbers=[]),
            onhandpub.Record(organization_code="M1", item_number="REC", subinventory_code="S",
                             primary_quantity="3", primary_uom_code="EA",
                             last_update_date="2026/01/01", consigned=True,
                             owning_party_id="7"),
            row(item_number="C1", consigned="Y", consigned_flag="N"),
            collections.OrderedDict(row(item_number="OD")),
            row(item_number="ZERO", primary_quantity="0"),
        ]
        self.same(items)

    def test_record_errors_of_the_items_own(self) -> None:
        # NUL characters and bad flags: the per-record path's source errors.
        items = [
            row(item_number="G1"),
            row(item_number="N\x00UL", locator_id="77"),
            row(item_number="F1", serial_controlled="X"),
            row(item_number="F2", consigned=2, serial_controlled=True, primary_quantity="1",
                serial_numbers=["A"]),
            row(item_number="F3", serial_controlled=True, primary_quantity="1",
                serial_numbers=["A\x00"]),
            row(item_number="F4", serial_controlled=True, primary_quantity="1",
                serial_numbers="A\x00B", lot_number="LOT"),
            row(organization_code="M2", item_number="F5", serial_controlled="X"),
            row(item_number="G2"),
        ]
        out = self.same(items)
        self.assertEqual(len(out["reject"]["rejections"]), 5)
        self.assertIn("contains a NUL character", out["fail"]["cause"][1])

    def test_locator_named_by_id(self) -> None:
        # Without LOCATOR_NAME the library's message names the locator id.
        items = [row(item_number="L1", locator_id="4242", primary_quantity="x"),
                 row(item_number="L2", locator_id="4243", locator_name="",
                     primary_quantity="y"),
                 row(item_number="L3", locator_id="4244", locator_name=None,
                     serial_controlled=True, primary_quantity="2",
                     serial_numbers=[("B1", "B2"), "B2"])]
        out = self.same(items)
        rejections = out["reject"]["rejections"]
        self.assertIn("locator 4242", rejections[0][2])
        self.assertIn("locator -", rejections[1][2])
        self.assertIn("locator 4244", rejections[2][2])
        self.assertIn("locator 4242", out["fail"]["cause"][1])

    def test_exceptions_after_earlier_items(self) -> None:
        good = [row(item_number=f"G{i}") for i in range(7)]
        self.same(good + [row(primary_quantity=1.5)] + good)
        self.same(good + [row(revision=True)] + good)
        self.same(good + [row(organization_code="M2", lot_number=1.5)] + good)
        self.same(good + [row(serial_numbers=[1])] + good)
        self.same(good + [42] + good)

    def test_iterable_raising(self) -> None:
        boom = Boom("source failed")

        def gen(n: int) -> Iterator[Dict[str, Any]]:
            for i in range(n):
                yield row(item_number=f"I{i}")
            raise boom

        for n in (0, 5, 3000):
            with self.subTest(n=n):
                with self.assertRaises(Boom) as cm:
                    onhandpub.publish(gen(n), organization="M1", caller_authorized=True,
                                      full=True)
                self.assertIs(cm.exception, boom)
                self.assertIsInstance(cm.exception.__cause__, onhandpub.SourceError)
                self.assertEqual(cm.exception.__cause__.summary.records_read, n)

    def test_many_chunks(self) -> None:
        # Rejections across chunk boundaries still carry their own item.
        items: List[Any] = []
        for i in range(4000):
            if i % 97 == 0:
                items.append(row(item_number=f"BAD{i}", primary_quantity="x"))
            elif i % 3 == 0:
                items.append(row(organization_code="M2", item_number=f"O{i}"))
            else:
                items.append(row(item_number=f"I{i}", locator_name=f"L{i}" * 30,
                                 serial_controlled=True, primary_quantity="2",
                                 serial_numbers=[(f"S{i}A01", f"S{i}A02")]))
        got: List[Any] = []
        s = onhandpub.publish(items, organization="M1", caller_authorized=True, full=True,
                              on_error="reject", on_reject=got.append)
        self.assertGreater(s.psv_bytes, 4 * CHUNK)
        self.assertEqual(len(got), 42)
        for rj in got:
            self.assertIs(rj.item, items[rj.ordinal - 1])
        self.same(items[:1500])

    def test_long_serial_lists(self) -> None:
        # Over the reader's 1 MiB line: runs of consecutive serials travel
        # as ranges, with the same lines, counts and errors.
        many = [f"SERIAL-{i:08d}" for i in range(70000)]
        big = row(item_number="BIG", serial_controlled=True, primary_quantity=str(len(many)),
                  serial_numbers=many)
        out = self.same([big])
        self.assertEqual(out["fail"]["summary"].serial_lines, 70000)
        for extra, count in ((["SERIAL-00000005", "X"], 2),
                             ([("SERIAL-00000010", "SERIAL-00000012")], 3)):
            with self.subTest(extra=extra):
                bad = dict(big, serial_numbers=many[:50000] + extra + many[50000:],
                           primary_quantity=str(len(many) + count))
                self.same([bad])
        self.same([big], max_serials_per_record=1000)
        # An empty serial keeps the list as given: too long for one line.
        with self.assertRaises(Unrepresentable):
            onhandpub.publish([dict(big, serial_numbers=many + [""])], organization="M1",
                              caller_authorized=True)

    def test_memory_stays_flat(self) -> None:
        def gen(n: int) -> Iterator[Dict[str, Any]]:
            for i in range(n):
                yield row(item_number=f"ITEM-{i:08d}", locator_name="LOC" * 10,
                          lot_number=f"LOT{i}")

        peaks = []
        for n in (5000, 40000):
            tracemalloc.start()
            s = onhandpub.publish(gen(n), organization="M1", caller_authorized=True, full=True)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
            self.assertEqual(s.records_published, n)
        self.assertLess(peaks[1], peaks[0] + 256 * 1024, peaks)


class UnrepresentableTest(unittest.TestCase):
    """Serial numbers a balances PSV line cannot carry unchanged."""

    def test_raised_in_place(self) -> None:
        good = [row(item_number=f"G{i}") for i in range(5)]
        for serials in (["A,B"], ["A..B"], [" A"], ["A", "B\t"], [("A.", "B")],
                        [("A", "B,C")], ["\udcff"]):
            with self.subTest(serials=serials):
                bad = row(serial_controlled=True, primary_quantity="1", serial_numbers=serials)
                with self.assertRaises(Unrepresentable) as cm:
                    onhandpub.publish(good + [bad], organization="M1", caller_authorized=True)
                self.assertIsInstance(cm.exception, ValueError)
                self.assertIn("source item 6", str(cm.exception))
                self.assertEqual(cm.exception.__cause__.summary.records_read, 5)

    def test_split_serials(self) -> None:
        self.assertEqual(split_serials(" A , B01 .. B03,"),
                         [("A", None), ("B01", "B03"), ("", None)])
        self.assertEqual(split_serials(b"A...B"), [(b"A", b".B")])


if __name__ == "__main__":
    unittest.main()
