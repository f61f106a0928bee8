"""Publishing: full and incremental runs read back with zipfile and csv."""

from __future__ import annotations

import datetime as dt
import io
import os
import pathlib
import unittest
import zipfile
from decimal import Decimal

import onhandpub
from onhandpub import Items, MemoryStateStore, Mode, Record, Registry, Status

from .support import SNAP1, SNAP2, TempDirTest, read_zip, row, sample_rows, to_psv

UTC = dt.timezone.utc


def publish(source, sink=None, **kw):
    kw.setdefault("organization", "M1")
    kw.setdefault("caller_authorized", True)
    kw.setdefault("snapshot_date", SNAP1)
    return onhandpub.publish(source, sink, **kw)


def line(item, qty, uom="EA", mode="FULL", run="1", snap="2026/01/10 08:00:00", **kw):
    """An expected output row (only the fields given are compared)."""
    out = {"EXTERNAL_SYSTEM_CODE": "0", "PUBLISH_RUN_ID": run, "PUBLISH_MODE": mode,
           "SNAPSHOT_DATE": snap, "ORGANIZATION_CODE": "M1", "ITEM_NUMBER": item,
           "PRIMARY_QUANTITY": qty, "PRIMARY_UOM_CODE": uom}
    out.update(kw)
    return out


class FullPublishTest(TempDirTest):
    def check_rows(self, got, expected):
        self.assertEqual(len(got), len(expected), got)
        for g, e in zip(got, expected):
            for k, v in e.items():
                self.assertEqual(g[k], v, f"{k} of {g}")

    def test_full_publish_round_trip(self) -> None:
        s = publish(sample_rows(), full=True, run_id=7)
        self.assertIs(s.status, Status.SUCCEEDED)
        self.assertIs(s.mode, Mode.FULL)
        self.assertIsNone(s.window_start)
        self.assertEqual(s.snapshot_date, dt.datetime(2026, 1, 10, 8, tzinfo=UTC))
        self.assertEqual(s.file_name, "ONHAND_0_M1_7_20260110080000.zip")
        self.assertEqual(s.entry_name, "ONHAND_0_M1_7_20260110080000.psv")
        rows = read_zip(s.data)
        snap = "2026/01/10 08:00:00"
        self.check_rows(rows, [
            line("AS54888", "12.5", run="7", ORGANIZATION_ID="204", INVENTORY_ITEM_ID="1001",
                 LOCATOR_ID="5001", LOCATOR_NAME="A1.01.01", SERIAL_CONTROLLED="N",
                 SERIAL_NUMBER="", CONSIGNED_FLAG="N", LAST_UPDATE_DATE="2026/01/05 10:00:00"),
            line("SN-LAPTOP", "1", run="7", SERIAL_CONTROLLED="Y", SERIAL_NUMBER="LT100",
                 SECONDARY_QUANTITY="", LAST_UPDATE_DATE="2026/01/06 00:00:00"),
            line("SN-LAPTOP", "1", run="7", SERIAL_NUMBER="SN0098"),
            line("SN-LAPTOP", "1", run="7", SERIAL_NUMBER="SN0099"),
            line("SN-LAPTOP", "1", run="7", SERIAL_NUMBER="SN0100"),
            line("LOT-PAINT", "7", "GAL", run="7", LOT_NUMBER="L2026-01",
                 LOT_EXPIRATION_DATE="2027/06/30", SECONDARY_QUANTITY="26.5",
                 SECONDARY_UOM_CODE="L"),
            line('PIPE|"HALF"', "0.125", run="7", CONSIGNED_FLAG="Y", OWNING_PARTY_ID="3003",
                 MATERIAL_STATUS_CODE="Active", SNAPSHOT_DATE=snap),
        ])
        self.assertEqual(s.records_read, 6)
        self.assertEqual(s.records_published, 4)
        self.assertEqual(s.skipped, {"organization": 1, "item_type": 0, "window": 0, "zero": 1})
        self.assertEqual(s.records_skipped, 2)
        self.assertEqual(s.serial_lines, 4)
        self.assertEqual(s.lines_written, 7)
        self.assertEqual(s.control_totals, {"EA": Decimal("16.625"), "GAL": Decimal("7")})
        self.assertEqual(list(s.control_totals), ["EA", "GAL"])
        self.assertEqual(s.zip_bytes, len(s.data))
        with zipfile.ZipFile(io.BytesIO(s.data)) as z:
            info = z.infolist()[0]
            self.assertEqual(info.CRC, s.crc32)
            self.assertEqual(info.file_size, s.psv_bytes)
            self.assertEqual(info.compress_size, s.compressed_bytes)
            self.assertEqual(info.date_time, (2026, 1, 10, 8, 0, 0))
        self.assertTrue(s.ok)
        self.assertEqual(s.warnings, [])

    def test_manifest_in_archive_comment(self) -> None:
        import json
        s = publish(sample_rows(), full=True, run_id=7)
        with zipfile.ZipFile(io.BytesIO(s.data)) as z:
            self.assertEqual(len(z.namelist()), 1)
            m = json.loads(z.comment.decode("utf-8"))
            psv = z.read(z.namelist()[0])
        self.assertEqual(list(m)[0], "onhandpub_manifest")
        self.assertEqual(m["onhandpub_manifest"], "1.0")
        self.assertEqual((m["organization"], m["run_id"], m["mode"], m["items"]),
                         ("M1", 7, "FULL", "both"))
        self.assertEqual(m["data_lines"], psv.count(b"\n") - 1)
        self.assertEqual(m["psv_bytes"], len(psv))
        self.assertEqual(m["crc32"], "%08x" % s.crc32)
        self.assertEqual({k: Decimal(v) for k, v in m["totals"].items()},
                         {k: Decimal(v) for k, v in s.control_totals.items()})
        bare = publish(sample_rows(), full=True, run_id=7, manifest=False)
        with zipfile.ZipFile(io.BytesIO(bare.data)) as z:
            self.assertEqual(z.comment, b"")
            self.assertEqual(z.read(z.namelist()[0]), psv)

    def test_engines(self) -> None:
        rows = sample_rows() * 400  # several deflate blocks
        ref = publish(rows, full=True, threads=1)
        self.assertEqual(ref.engine, onhandpub.Engine.ZLIB)
        with zipfile.ZipFile(io.BytesIO(ref.data)) as z:
            entry = z.read(z.namelist()[0])
        have = onhandpub.engine_available("isal")
        self.assertTrue(onhandpub.engine_available(onhandpub.Engine.ZLIB))
        self.assertTrue(onhandpub.engine_available("best"))
        expect = os.environ.get("OHP_EXPECT_ISAL")
        if expect is not None:
            self.assertEqual(have, expect == "1")
        best = publish(rows, full=True, engine="best")
        self.assertEqual(best.engine, onhandpub.Engine.ISAL if have else onhandpub.Engine.ZLIB)
        if have:
            runs = [publish(rows, full=True, engine="isal", level=level, threads=threads)
                    for level in (1, 3) for threads in (1, 3)]
            self.assertEqual(runs[0].data, runs[1].data)  # any thread count
            self.assertEqual(runs[2].data, runs[3].data)
            for r in runs:
                self.assertEqual(r.engine, onhandpub.Engine.ISAL)
                with zipfile.ZipFile(io.BytesIO(r.data)) as z:
                    self.assertIsNone(z.testzip())
                    self.assertEqual(z.read(z.namelist()[0]), entry)
                self.assertEqual(r.crc32, ref.crc32)
        else:
            with self.assertRaises(onhandpub.Unsupported) as cm:
                publish(rows, full=True, engine="isal")
            self.assertEqual(cm.exception.summary.status, Status.REFUSED)
            self.assertIn("ISA-L", str(cm.exception))
        with self.assertRaises(onhandpub.InvalidArgument):
            publish(rows, full=True, engine="lz4")

    def test_identical_input_identical_bytes(self) -> None:
        a = publish(sample_rows(), full=True)
        b = publish(sample_rows(), full=True)
        self.assertEqual(a.data, b.data)

    def test_upper_case_keys_and_records(self) -> None:
        upper = [{k.upper(): v for k, v in r.items()} for r in sample_rows()]
        for r in upper:
            if "CONSIGNED" in r:
                r["CONSIGNED_FLAG"] = r.pop("CONSIGNED")
        records = []
        for r in sample_rows():
            kw = dict(r)
            kw["serial_controlled"] = kw["serial_controlled"] in (True, "Y")
            if "consigned" in kw:
                kw["consigned"] = kw["consigned"] == "Y"
            records.append(Record(**kw))
        ref = publish(sample_rows(), full=True).data
        self.assertEqual(publish(upper, full=True).data, ref)
        self.assertEqual(publish(records, full=True).data, ref)
        self.assertEqual(publish(iter(records), full=True).data, ref)

    def test_value_types(self) -> None:
        rows = [
            row(primary_quantity=Decimal("1.50"), organization_id=204,
                last_update_date=dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.timezone(
                    dt.timedelta(hours=2))),
                lot_number=b"LOT1", lot_expiration_date=dt.date(2027, 1, 2)),
            row(item_number="S", serial_controlled="Y", primary_quantity=3,
                serial_numbers="A1,B01..B02"),
            row(item_number="T", serial_controlled=1, primary_quantity="2",
                serial_numbers=("X", "Y")),
            row(item_number="U", primary_quantity=Decimal("1E+2")),
        ]
        got = read_zip(publish(rows, full=True).data)
        self.assertEqual(got[0]["PRIMARY_QUANTITY"], "1.5")
        self.assertEqual(got[0]["ORGANIZATION_ID"], "204")
        self.assertEqual(got[0]["LAST_UPDATE_DATE"], "2026/01/05 10:00:00")
        self.assertEqual(got[0]["LOT_NUMBER"], "LOT1")
        self.assertEqual(got[0]["LOT_EXPIRATION_DATE"], "2027/01/02")
        self.assertEqual([r["SERIAL_NUMBER"] for r in got[1:6]], ["A1", "B01", "B02", "X", "Y"])
        self.assertEqual(got[6]["PRIMARY_QUANTITY"], "100")

    def test_float_quantity_refused(self) -> None:
        with self.assertRaises(TypeError) as cm:
            publish([row(primary_quantity=1.5)], full=True)
        self.assertIn("float", str(cm.exception))
        self.assertIsInstance(cm.exception.__cause__, onhandpub.SourceError)
        with self.assertRaises(TypeError):
            onhandpub.canonical_quantity(1.5)

    def test_items_filter(self) -> None:
        s = publish(sample_rows(), full=True, items="serial")
        self.assertIs(s.items, Items.SERIAL)
        self.assertEqual({r["ITEM_NUMBER"] for r in read_zip(s.data)}, {"SN-LAPTOP"})
        self.assertEqual(s.skipped["item_type"], 4)
        s = publish(sample_rows(), full=True, items=Items.NONSERIAL)
        self.assertNotIn("SN-LAPTOP", {r["ITEM_NUMBER"] for r in read_zip(s.data)})
        with self.assertRaises(onhandpub.InvalidArgument):
            publish(sample_rows(), items="some")

    def test_empty_source(self) -> None:
        s = publish([], full=True)
        self.assertEqual(read_zip(s.data), [])
        self.assertEqual(s.lines_written, 0)

    def test_level_zero_stores(self) -> None:
        s = publish(sample_rows(), full=True, level=0)
        with zipfile.ZipFile(io.BytesIO(s.data)) as z:
            self.assertEqual(z.infolist()[0].compress_type, zipfile.ZIP_STORED)
        with self.assertRaises(onhandpub.InvalidArgument):
            publish(sample_rows(), full=True, level=12)

    def test_registry_system(self) -> None:
        with Registry() as reg:
            reg.add("100", "Acme 3PL")
            s = publish(sample_rows(), full=True, system="100", registry=reg, run_id=3)
            self.assertEqual(s.file_name, "ONHAND_100_M1_3_20260110080000.zip")
            self.assertTrue(all(r["EXTERNAL_SYSTEM_CODE"] == "100" for r in read_zip(s.data)))

    def test_psv_path_to_path_sink(self) -> None:
        src = os.path.join(self.dir, "balances.psv")
        with open(src, "wb") as f:
            f.write(to_psv(sample_rows()))
        ref = publish(sample_rows(), full=True)
        out = os.path.join(self.dir, "out")
        os.mkdir(out)
        s = publish(src, out, full=True)
        self.assertEqual(s.path, pathlib.Path(out, ref.file_name))
        self.assertEqual(os.listdir(out), [ref.file_name])
        with open(s.path, "rb") as f:
            data = f.read()
        self.assertEqual(data, ref.data)
        self.assertIsNone(s.data)
        self.assertEqual(s.records_read, 6)
        # A file path as the sink, and a pathlib path as the source.
        target = os.path.join(self.dir, "snapshot.zip")
        s = publish(pathlib.Path(src), target, full=True)
        self.assertEqual(s.path, pathlib.Path(target))
        with open(target, "rb") as f:
            self.assertEqual(f.read(), ref.data)
        self.assertEqual(sorted(os.listdir(self.dir)), ["balances.psv", "out", "snapshot.zip"])

    def test_file_objects_and_bytes(self) -> None:
        ref = publish(sample_rows(), full=True)
        sink = io.BytesIO()
        s = publish(io.BytesIO(to_psv(sample_rows())), sink, full=True)
        self.assertEqual(sink.getvalue(), ref.data)
        self.assertIsNone(s.path)
        self.assertEqual(publish(to_psv(sample_rows()), full=True).data, ref.data)
        src = os.path.join(self.dir, "b.psv")
        with open(src, "wb") as f:
            f.write(to_psv(sample_rows()))
        with open(src, "rb") as f, open(os.path.join(self.dir, "o.zip"), "wb") as o:
            publish(f, o, full=True)
        with open(os.path.join(self.dir, "o.zip"), "rb") as f:
            self.assertEqual(f.read(), ref.data)
        with open(src, "r") as f:
            with self.assertRaises(TypeError):
                publish(f, full=True)

    def test_reader_without_readinto(self) -> None:
        class Reader:
            def __init__(self, data):
                self.f = io.BytesIO(data)

            def read(self, n):
                return self.f.read(min(n, 7))

        ref = publish(sample_rows(), full=True)
        self.assertEqual(publish(Reader(to_psv(sample_rows())), full=True).data, ref.data)

    def test_psv_missing_column(self) -> None:
        with self.assertRaises(onhandpub.SourceError) as cm:
            publish(b"ORGANIZATION_CODE|ITEM_NUMBER\nM1|X\n", full=True)
        self.assertIn("PRIMARY_QUANTITY", cm.exception.message)
        self.assertIs(cm.exception.summary.status, Status.FAILED)

    def test_job_reuse(self) -> None:
        with onhandpub.Job() as job:
            a = job.run(sample_rows(), organization="M1", full=True, caller_authorized=True,
                        snapshot_date=SNAP1)
            with self.assertRaises(onhandpub.NotFound):
                job.run(sample_rows(), organization="M1", system="5", caller_authorized=True)
            b = job.run(sample_rows(), organization="M1", full=True, caller_authorized=True,
                        snapshot_date=SNAP1)
            self.assertEqual(a.data, b.data)
            self.assertIs(job.summary, b)
        job.close()
        with self.assertRaises(ValueError):
            job.run([], organization="M1")


class SinkPathTest(TempDirTest):
    """A path sink is checked before the run: a path ending in '/' is a
    folder, created if missing; a file path in a missing folder is refused
    before the source is read."""

    def watched(self, consumed):
        for r in sample_rows():
            consumed.append(r)
            yield r

    def test_missing_folder_with_slash_is_created(self) -> None:
        ref = publish(sample_rows(), full=True)
        out = os.path.join(self.dir, "out", "daily") + "/"
        s = publish(sample_rows(), out, full=True)
        self.assertTrue(os.path.isdir(out))
        self.assertEqual(s.path, pathlib.Path(out, ref.file_name))
        self.assertEqual(os.listdir(out), [ref.file_name])
        with open(s.path, "rb") as f:
            self.assertEqual(f.read(), ref.data)
        # Relative, as the README writes it, from the working directory.
        cwd = os.getcwd()
        os.chdir(self.dir)
        try:
            s = publish(sample_rows(), "rel/", full=True, run_id=2)
        finally:
            os.chdir(cwd)
        self.assertEqual(os.listdir(os.path.join(self.dir, "rel")), [s.file_name])
        with open(os.path.join(self.dir, "rel", s.file_name), "rb") as f:
            self.assertEqual(f.read(), publish(sample_rows(), full=True, run_id=2).data)

    def test_refused_before_any_work(self) -> None:
        blocker = os.path.join(self.dir, "afile")
        with open(blocker, "wb") as f:
            f.write(b"keep")
        cases = [
            (blocker + "/", "is not a folder"),
            (os.path.join(self.dir, "nodir", "x.zip"), "does not exist"),
            (os.path.join(blocker, "x.zip"), "is not a folder"),
        ]
        for target, why in cases:
            with self.subTest(target=target):
                consumed = []
                state = MemoryStateStore()
                with self.assertRaises(onhandpub.SinkError) as cm:
                    publish(self.watched(consumed), target, full=True, state=state)
                self.assertIn(repr(target), cm.exception.message)
                self.assertIn(why, cm.exception.message)
                self.assertEqual(consumed, [])
                self.assertIsNone(state.get("0", "M1"))
        self.assertEqual(self.listdir(), ["afile"])
        with open(blocker, "rb") as f:
            self.assertEqual(f.read(), b"keep")


class IncrementalPublishTest(TempDirTest):
    def test_incremental_after_full(self) -> None:
        state = MemoryStateStore()
        first = publish(sample_rows(), state=state, snapshot_date=SNAP1)
        # No watermark and no Publish from Date: a full run.
        self.assertIs(first.mode, Mode.FULL)
        self.assertEqual(first.run_id, 1)
        self.assertEqual(state.get("0", "M1"), dt.datetime(2026, 1, 10, 8, tzinfo=UTC))

        changes = [
            row(item_number="OLD", last_update_date="2026/01/09 23:59:59"),
            row(item_number="AT-W", primary_quantity="3", last_update_date="2026/01/10 08:00:00"),
            row(item_number="REMOVED", primary_quantity="0",
                last_update_date="2026-01-10T12:00:00Z"),
            row(item_number="SN-LAPTOP", serial_controlled="Y", primary_quantity="0",
                last_update_date="2026-01-11T01:00:00+02:00"),
        ]
        second = publish(changes, state=state, snapshot_date=SNAP2)
        self.assertIs(second.mode, Mode.INCREMENTAL)
        self.assertEqual(second.window_start, dt.datetime(2026, 1, 10, 8, tzinfo=UTC))
        self.assertEqual(second.run_id, 2)
        self.assertEqual(second.skipped["window"], 1)
        got = read_zip(second.data)
        self.assertEqual([(r["ITEM_NUMBER"], r["PRIMARY_QUANTITY"], r["SERIAL_NUMBER"],
                           r["PUBLISH_MODE"], r["PUBLISH_RUN_ID"]) for r in got], [
            ("AT-W", "3", "", "INCREMENTAL", "2"),
            ("REMOVED", "0", "", "INCREMENTAL", "2"),
            ("SN-LAPTOP", "0", "", "INCREMENTAL", "2"),
        ])
        self.assertEqual(got[2]["LAST_UPDATE_DATE"], "2026/01/10 23:00:00")
        self.assertEqual(second.file_name, "ONHAND_0_M1_2_20260111080000.zip")
        self.assertEqual(state.get("0", "M1"), dt.datetime(2026, 1, 11, 8, tzinfo=UTC))

    def test_publish_from_without_watermark(self) -> None:
        s = publish(sample_rows(), publish_from="2026-01-06")
        self.assertIs(s.mode, Mode.INCREMENTAL)
        self.assertEqual(s.window_start, dt.datetime(2026, 1, 6, tzinfo=UTC))
        self.assertEqual([r["ITEM_NUMBER"] for r in read_zip(s.data)], ["SN-LAPTOP"] * 4)

    def test_publish_from_earlier_and_later_than_watermark(self) -> None:
        state = MemoryStateStore()
        publish(sample_rows(), state=state, snapshot_date="2026-01-06T00:00:00Z")
        earlier = publish(sample_rows(), state=state, publish_from="2026-01-01",
                          snapshot_date=SNAP1)
        self.assertEqual(earlier.window_start, dt.datetime(2026, 1, 1, tzinfo=UTC))
        self.assertIs(earlier.status, Status.SUCCEEDED)
        later = publish(sample_rows(), state=state, publish_from="2026-01-20",
                        snapshot_date=SNAP2)
        self.assertEqual(later.window_start, dt.datetime(2026, 1, 10, 8, tzinfo=UTC))
        self.assertIs(later.status, Status.WARNINGS)
        self.assertEqual(len(later.warnings), 1)
        self.assertIn("later than", later.warnings[0])

    def test_full_flag_ignores_watermark(self) -> None:
        state = MemoryStateStore()
        publish(sample_rows(), state=state)
        s = publish(sample_rows(), state=state, full=True, snapshot_date=SNAP2)
        self.assertIs(s.mode, Mode.FULL)
        self.assertEqual(s.run_id, 2)

    def test_file_state_store(self) -> None:
        path = os.path.join(self.dir, "state.psv")
        state = onhandpub.FileStateStore(path)
        self.assertIsNone(state.get("0", "M1"))
        self.assertEqual(state.next_run_id(), 1)
        publish(sample_rows(), state=state)
        self.assertEqual(state.get("0", "M1"), dt.datetime(2026, 1, 10, 8, tzinfo=UTC))
        self.assertEqual(state.last_run("0", "M1"), 1)
        s = publish(sample_rows(), state=onhandpub.FileStateStore(path), snapshot_date=SNAP2)
        self.assertIs(s.mode, Mode.INCREMENTAL)
        self.assertEqual(s.run_id, 2)
        self.assertEqual(sorted(os.listdir(self.dir)), ["state.psv", "state.psv.lock"])


if __name__ == "__main__":
    unittest.main()
