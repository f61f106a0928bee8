"""The state store advances only on success; cancelling through progress."""

from __future__ import annotations

import datetime as dt
import os
import unittest

import onhandpub
from onhandpub import ClassState, FileStateStore, MemoryStateStore, Mode, Status

from .support import Boom, TempDirTest, row, sample_rows

UTC = dt.timezone.utc
W = dt.datetime(2026, 1, 9, tzinfo=UTC)
NEW = "2026-01-10T12:00:00Z"  # changed inside every window of these tests


class RecordingStore(MemoryStateStore):
    """A memory store with a previous success, recording every commit as
    (system, organization, the new watermark of both classes, run id)."""

    def __init__(self) -> None:
        super().__init__()
        self.commit_calls = []
        self.seed("0", "M1", W, 4)
        self.commit_calls.clear()

    def commit_classes(self, system, org, items, states, run_id):
        marks = {cs.watermark for cs in states.values()}
        self.commit_calls.append((system, org, marks.pop() if len(marks) == 1 else marks,
                                  run_id))
        super().commit_classes(system, org, items, states, run_id)


def run(state, source=None, sink=None, **kw):
    kw.setdefault("organization", "M1")
    kw.setdefault("caller_authorized", True)
    kw.setdefault("snapshot_date", "2026-01-10T08:00:00Z")
    return onhandpub.publish(sample_rows() if source is None else source, sink, state=state,
                             **kw)


class StateTest(TempDirTest):
    def assert_untouched(self, state: RecordingStore) -> None:
        self.assertEqual(state.commit_calls, [])
        self.assertEqual(state.get("0", "M1"), W)
        self.assertEqual(state.last_run("0", "M1"), 4)
        # A run that got past the refusals reserved its run id: never handed out again.
        self.assertIn(state.next_run_id(), (5, 6))

    def test_success_advances(self) -> None:
        state = RecordingStore()
        s = run(state)
        self.assertIs(s.mode, Mode.INCREMENTAL)
        self.assertEqual(s.window_start, W)
        self.assertEqual(s.run_id, 5)
        self.assertEqual(state.commit_calls,
                         [("0", "M1", dt.datetime(2026, 1, 10, 8, tzinfo=UTC), 5)])
        self.assertEqual(state.next_run_id(), 6)

    def test_given_run_id(self) -> None:
        state = RecordingStore()
        s = run(state, run_id=77)
        self.assertEqual(s.run_id, 77)
        self.assertEqual(state.commit_calls[0][3], 77)

    def test_failure_at_every_stage_leaves_state(self) -> None:
        class SinkFails:
            def __init__(self, at):
                self.at = at

            def write(self, data):
                if self.at == "write":
                    raise Boom("write")

            def flush(self):
                if self.at == "commit":
                    raise Boom("commit")

        def rows_then_boom():
            yield row()
            raise Boom("source")

        def removing(folder):
            # there when the run starts, gone when the sink opens (after the authorizer)
            os.mkdir(folder)

            def authorizer(user, privilege):
                os.rmdir(folder)
                return True

            return authorizer

        vanishing = os.path.join(self.dir, "vanishing")

        stages = {
            "refused: unknown system": (dict(system="9"), onhandpub.NotFound),
            "refused: not authorized": (dict(caller_authorized=False), onhandpub.NotAuthorized),
            "authorizer denies": (dict(caller_authorized=False,
                                       authorizer=lambda u, p: False), onhandpub.NotAuthorized),
            "authorizer fails": (dict(caller_authorized=False,
                                      authorizer=lambda u, p: 1 / 0), ZeroDivisionError),
            "source open": (dict(source=b"NOT_A_HEADER\n"), onhandpub.SourceError),
            "source mid-stream": (dict(source=rows_then_boom()), Boom),
            "record error": (dict(source=[row(), row(primary_quantity="x",
                                                     last_update_date=NEW)]),
                             onhandpub.RecordError),
            "reject callback": (dict(source=[row(primary_quantity="x", last_update_date=NEW)],
                                     on_error="reject",
                                     on_reject=lambda r: 1 / 0), ZeroDivisionError),
            "sink refused": (dict(sink=os.path.join(self.dir, "missing", "x.zip")),
                             onhandpub.SinkError),
            "sink open": (dict(caller_authorized=False, authorizer=removing(vanishing),
                               sink=os.path.join(vanishing, "x.zip")), onhandpub.SinkError),
            "sink write": (dict(sink=SinkFails("write")), Boom),
            "sink commit": (dict(sink=SinkFails("commit")), Boom),
            "cancel": (dict(on_progress=lambda n: False), onhandpub.Cancelled),
        }
        for name, (kw, exc_type) in stages.items():
            with self.subTest(name):
                state = RecordingStore()
                with self.assertRaises(exc_type):
                    run(state, **kw)
                self.assert_untouched(state)

    def test_cancel_via_progress(self) -> None:
        seen = []

        def on_progress(n):
            seen.append(n)
            return n < 3

        state = RecordingStore()
        with self.assertRaises(onhandpub.Cancelled) as cm:
            run(state, [row(item_number=f"I{i}") for i in range(10)], on_progress=on_progress,
                progress_interval=1, sink=self.dir)
        self.assertEqual(seen, [1, 2, 3])
        self.assertIn("cancelled", cm.exception.message)
        # Incremental: cancelled in the pass that finds the changed keys,
        # before a record of the publishing pass was read.
        self.assertEqual(cm.exception.summary.mode, onhandpub.Mode.INCREMENTAL)
        self.assertEqual(cm.exception.summary.records_read, 0)
        self.assert_untouched(state)
        self.assertEqual(self.listdir(), [])

    def test_progress_continues(self) -> None:
        seen = []
        s = run(None, [row(item_number=f"I{i}") for i in range(5)],
                on_progress=lambda n: seen.append(n), progress_interval=2)
        self.assertTrue(s.ok)
        self.assertEqual(seen, [2, 4, 5])

    def test_file_store_untouched_on_failure(self) -> None:
        path = os.path.join(self.dir, "state.psv")
        store = FileStateStore(path)
        run(store)

        def rows():
            with open(path, encoding="utf-8") as f:
                return f.read().splitlines()[3:]

        before = rows()
        # The watermarks stay; a run past the refusals reserved its run id.
        for kw, last_id in ((dict(source=[row(primary_quantity="x", last_update_date=NEW)]), 2),
                            (dict(system="9"), 2),
                            (dict(on_progress=lambda n: False), 3)):
            with self.assertRaises(onhandpub.OnhandpubError):
                run(store, snapshot_date="2026-01-11T00:00:00Z", **kw)
            self.assertEqual(rows(), before)
            self.assertEqual(store.next_run_id(), last_id + 1)
        self.assertEqual(sorted(os.listdir(self.dir)), ["state.psv", "state.psv.lock"])
        s = run(store, snapshot_date="2026-01-11T00:00:00Z")
        self.assertEqual(s.run_id, 4)  # never a run id handed out before
        self.assertEqual(store.get("0", "M1"), dt.datetime(2026, 1, 11, tzinfo=UTC))
        self.assertEqual(store.last_run("0", "M1"), 4)
        self.assertIsNone(store.last_run("0", "M2"))

    def test_corrupt_file_store(self) -> None:
        path = os.path.join(self.dir, "state.json")
        for text, says in (("{not json", "corrupt"),
                           ("ONHANDPUB_STATE|2\nLAST_RUN_ID|x\n", "line 2 must be")):
            with open(path, "w") as f:
                f.write(text)
            with self.assertRaises(ValueError) as cm:
                run(FileStateStore(path))
            self.assertIn(says, str(cm.exception))
            with open(path) as f:
                self.assertEqual(f.read(), text)

    def test_file_store_codes_read_back_as_written(self) -> None:
        path = os.path.join(self.dir, "state.psv")
        store = FileStateStore(path)
        hostile = 'M|1 "Nord"\r\nétage\t2'
        when = dt.datetime(2026, 1, 9, tzinfo=UTC)
        store.commit_classes("7", hostile, "serial",
                             {"serial": ClassState(when, when)}, 3)
        again = FileStateStore(path)
        self.assertEqual(again.get_classes("7", hostile), {"serial": ClassState(when, when)})
        self.assertEqual(again.last_run("7", hostile), 3)
        self.assertEqual(again.get_classes("7", "M|1"), {})
        with open(path, encoding="utf-8", newline="") as f:
            self.assertIn('7|"M|1 ""Nord""\r\nétage\t2"|SERIAL|', f.read())
        with self.assertRaises(onhandpub.InvalidArgument):
            again.get_classes("7", "M1\x00X")  # would be cut to "M1"

    def test_file_store_refuses_what_is_not_a_regular_file(self) -> None:
        path = os.path.join(self.dir, "state.psv")
        os.mkfifo(path)  # never opened: a FIFO would block the run
        with self.assertRaises(onhandpub.FileFailure) as cm:
            run(FileStateStore(path))
        self.assertIn("is not a regular file (it is a FIFO)", str(cm.exception))
        os.unlink(path)
        os.symlink(os.path.join(self.dir, "elsewhere.psv"), path)
        with self.assertRaises(onhandpub.FileFailure) as cm:
            FileStateStore(path).next_run_id()
        self.assertIn("symbolic link", str(cm.exception))
        self.assertFalse(os.path.exists(os.path.join(self.dir, "elsewhere.psv")))

    def test_json_file_of_earlier_releases_converted(self) -> None:
        path = os.path.join(self.dir, "state.json")
        with open(path, "w") as f:
            f.write('{"format": "onhandpub-state", "version": 2, "last_run_id": 9, "runs": '
                    '{"0|M1": {"run_id": 7, "classes": {"serial": {"watermark": '
                    '"2026-01-09T00:00:00Z", "last_snapshot": "2026-01-10T00:00:00Z"}, '
                    '"nonserial": {"watermark": "2026-01-10T00:00:00Z", '
                    '"last_snapshot": "2026-01-10T00:00:00Z"}}}, '
                    '"0|M|2": {"run_id": 3, "classes": {"serial": {"watermark": '
                    '"2026-01-01T00:00:00Z", "last_snapshot": "2026-01-01T00:00:00Z"}}}}}')
        store = FileStateStore(path)
        self.assertEqual(store.next_run_id(), 10)
        with open(path, encoding="utf-8") as f:
            self.assertEqual(f.read(), (
                "ONHANDPUB_STATE|2\nLAST_RUN_ID|9\n"
                "SYSTEM_CODE|ORGANIZATION_CODE|ITEM_CLASS|WATERMARK|LAST_SNAPSHOT_DATE|"
                "LAST_RUN_ID\n"
                "0|M1|SERIAL|2026/01/09 00:00:00|2026/01/10 00:00:00|7\n"
                "0|M1|NONSERIAL|2026/01/10 00:00:00|2026/01/10 00:00:00|7\n"
                "0|\"M|2\"|SERIAL|2026/01/01 00:00:00|2026/01/01 00:00:00|3\n"))
        # An incremental run starts at the older watermark it kept.
        s = run(store, full=False, snapshot_date="2026-01-11T00:00:00Z")
        self.assertEqual(s.window_start, dt.datetime(2026, 1, 9, tzinfo=UTC))
        self.assertEqual(s.run_id, 10)

    def test_callable_free_store(self) -> None:
        class GetOnly:
            def get(self, system, org):
                return "2026-01-09"

        s = run(GetOnly())
        self.assertEqual(s.window_start, W)
        self.assertEqual(s.run_id, 1)
        self.assertIs(s.status, Status.SUCCEEDED)


if __name__ == "__main__":
    unittest.main()
