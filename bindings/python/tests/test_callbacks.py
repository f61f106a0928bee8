"""An exception in any Python callback is re-raised unchanged, with the
library's error chained as its cause, and the run leaves nothing behind."""

from __future__ import annotations

import gc
import io
import os
import unittest

import onhandpub
from onhandpub import MemoryStateStore

from .support import Boom, TempDirTest, row, sample_rows, to_psv


def publish(source=None, sink=None, **kw):
    kw.setdefault("organization", "M1")
    kw.setdefault("snapshot_date", "2026-01-10T08:00:00Z")
    kw.setdefault("caller_authorized", True)
    return onhandpub.publish(sample_rows() if source is None else source, sink, **kw)


class CallbackExceptionTest(TempDirTest):
    def assert_reraised(self, cm, original, cause_type):
        self.assertIs(cm.exception, original)
        cause = cm.exception.__cause__
        self.assertIs(type(cause), cause_type)
        self.assertIn("Boom", cause.message)
        self.assertIn(str(original), cause.message)
        self.assertIs(cause.summary.status, onhandpub.Status.FAILED)

    def test_source_iteration(self) -> None:
        boom = Boom("database went away")

        def rows():
            yield row()
            raise boom

        with self.assertRaises(Boom) as cm:
            publish(rows())
        self.assert_reraised(cm, boom, onhandpub.SourceError)
        self.assertEqual(cm.exception.__cause__.summary.records_read, 1)

    def test_source_generator_closed(self) -> None:
        closed = []

        def rows():
            try:
                yield row()
                yield row(primary_quantity="bad")
                yield row()
            finally:
                closed.append(True)

        with self.assertRaises(onhandpub.RecordError):
            publish(rows())
        self.assertEqual(closed, [True])

    def test_source_read(self) -> None:
        boom = Boom("disk error")

        class Failing(io.RawIOBase):
            def __init__(self):
                self.data = io.BytesIO(to_psv(sample_rows()))
                self.calls = 0

            def readable(self):
                return True

            def readinto(self, b):
                self.calls += 1
                if self.calls > 1:
                    raise boom
                return self.data.readinto(memoryview(b)[:40])

        with self.assertRaises(Boom) as cm:
            publish(Failing())
        self.assertIs(cm.exception, boom)
        self.assertIsInstance(cm.exception.__cause__, onhandpub.SourceError)

    def test_sink_open(self) -> None:
        # The folder is there when the run starts (a missing one is refused before it)
        # and gone when the sink opens (the authorizer runs in between).
        folder = os.path.join(self.dir, "vanishing")
        os.mkdir(folder)

        def authorizer(user, privilege):
            os.rmdir(folder)
            return True

        with self.assertRaises(onhandpub.SinkError) as cm:
            publish(sink=os.path.join(folder, "x.zip"), caller_authorized=False,
                    authorizer=authorizer)
        self.assertIn("could not be opened", cm.exception.message)
        self.assertIn("was removed", cm.exception.message)

    def test_sink_write(self) -> None:
        boom = Boom("socket closed")

        class Sink:
            def __init__(self):
                self.n = 0

            def write(self, data):
                self.n += 1
                raise boom

        with self.assertRaises(Boom) as cm:
            publish(sink=Sink())
        self.assert_reraised(cm, boom, onhandpub.SinkError)

    def test_sink_commit(self) -> None:
        boom = Boom("upload not acknowledged")

        class Sink(io.BytesIO):
            def flush(self):
                if not self.closed and self.getvalue():
                    raise boom

        with self.assertRaises(Boom) as cm:
            publish(sink=Sink())
        self.assert_reraised(cm, boom, onhandpub.SinkError)

    def test_path_sink_commit_failure_leaves_nothing(self) -> None:
        # Unnamed (O_TMPFILE, linked into place) and named temporaries alike: a folder
        # appears under the file's name while the run writes; the commit refuses it.
        target = os.path.join(self.dir, "out.zip")

        def rows():
            yield from sample_rows()
            os.mkdir(target)

        for named in (False, True):
            if named:
                os.environ["ONHANDPUB_NO_TMPFILE"] = "1"
            try:
                with self.assertRaises(onhandpub.SinkError) as cm:
                    publish(rows(), sink=target)
            finally:
                os.environ.pop("ONHANDPUB_NO_TMPFILE", None)
            self.assertIn("not a regular file; it is never replaced", str(cm.exception))
            self.assertEqual(self.listdir(), ["out.zip"])
            self.assertTrue(os.path.isdir(target))
            os.rmdir(target)

    def test_path_sink_removed_on_failure(self) -> None:
        with self.assertRaises(onhandpub.RecordError):
            publish(sample_rows() + [row(primary_quantity="x")], sink=self.dir)
        self.assertEqual(self.listdir(), [])
        target = os.path.join(self.dir, "out.zip")
        with open(target, "wb") as f:
            f.write(b"previous")
        with self.assertRaises(Boom):
            def rows():
                yield row()
                raise Boom("late")
            publish(rows(), sink=target)
        self.assertEqual(self.listdir(), ["out.zip"])
        with open(target, "rb") as f:
            self.assertEqual(f.read(), b"previous")

    def test_state_get(self) -> None:
        boom = Boom("state unreadable")

        class State(MemoryStateStore):
            def get_classes(self, system, org):
                raise boom

        with self.assertRaises(Boom) as cm:
            publish(state=State())
        self.assert_reraised(cm, boom, onhandpub.StateStoreError)

    def test_state_next_run_id(self) -> None:
        boom = Boom("sequence locked")

        class State(MemoryStateStore):
            def reserve_run_id(self, requested):
                raise boom

        with self.assertRaises(Boom) as cm:
            publish(state=State())
        self.assert_reraised(cm, boom, onhandpub.StateStoreError)

    def test_state_commit(self) -> None:
        boom = Boom("state not saved")

        class State(MemoryStateStore):
            def commit_classes(self, *a):
                raise boom

        out = os.path.join(self.dir, "o.zip")
        with self.assertRaises(Boom) as cm:
            publish(state=State(), sink=out)
        self.assert_reraised(cm, boom, onhandpub.StateStoreError)
        self.assertIn("was published", cm.exception.__cause__.message)

    def test_authorizer(self) -> None:
        boom = Boom("directory unavailable")

        def authorizer(user, privilege):
            raise boom

        with self.assertRaises(Boom) as cm:
            publish(authorizer=authorizer, caller_authorized=False)
        self.assert_reraised(cm, boom, onhandpub.AuthorizerError)

    def test_reject(self) -> None:
        boom = Boom("reject log full")

        def on_reject(rejection):
            raise boom

        with self.assertRaises(Boom) as cm:
            publish([row(), row(primary_quantity="x")], on_error="reject", on_reject=on_reject)
        self.assert_reraised(cm, boom, onhandpub.RejectCallbackError)

    def test_progress(self) -> None:
        boom = Boom("scheduler asked to stop")

        def on_progress(n):
            raise boom

        with self.assertRaises(Boom) as cm:
            publish(on_progress=on_progress)
        self.assert_reraised(cm, boom, onhandpub.Cancelled)

    def test_base_exception(self) -> None:
        def rows():
            yield row()
            raise KeyboardInterrupt

        with self.assertRaises(KeyboardInterrupt) as cm:
            publish(rows())
        self.assertIsInstance(cm.exception.__cause__, onhandpub.SourceError)

    def test_first_exception_wins(self) -> None:
        first = Boom("first")
        second = Boom("second")
        real = os.unlink

        def unlink(path):
            real(path)
            raise second

        def rows():
            yield row()
            raise first

        os.unlink = unlink
        try:
            with self.assertRaises(Boom) as cm:
                publish(rows(), sink=self.dir)
        finally:
            os.unlink = real
        self.assertIs(cm.exception, first)
        self.assertEqual(self.listdir(), [])

    def test_job_usable_after_callback_exception(self) -> None:
        with onhandpub.Job() as job:
            def rows():
                raise Boom("x")
                yield  # pragma: no cover

            for _ in range(3):
                with self.assertRaises(Boom):
                    job.run(rows(), organization="M1", caller_authorized=True)
                gc.collect()
            s = job.run(sample_rows(), organization="M1", caller_authorized=True, full=True)
            self.assertTrue(s.ok)

    def test_callback_cannot_reenter(self) -> None:
        job = onhandpub.Job()
        self.addCleanup(job.close)

        def on_progress(n):
            job.run([], organization="M1", caller_authorized=True)

        job.on_progress = on_progress
        with self.assertRaises(RuntimeError) as cm:
            job.run(sample_rows(), organization="M1", caller_authorized=True)
        self.assertIsInstance(cm.exception.__cause__, onhandpub.Cancelled)

        def closer(n):
            job.close()

        job.on_progress = closer
        with self.assertRaises(RuntimeError):
            job.run(sample_rows(), organization="M1", caller_authorized=True)
        self.assertFalse(job.closed)


if __name__ == "__main__":
    unittest.main()
