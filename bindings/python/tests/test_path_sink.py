"""The path sink: never replaces in a directory, kill-safe, devices and FIFOs written into."""

from __future__ import annotations

import fcntl
import os
import pathlib
import signal
import stat
import subprocess
import sys
import threading
import time

import onhandpub

from .support import SNAP1, TempDirTest, read_zip, sample_rows

NAME = "ONHAND_0_M1_1_20260110080000.zip"


def publish(source=None, sink=None, **kw):
    kw.setdefault("organization", "M1")
    kw.setdefault("caller_authorized", True)
    kw.setdefault("snapshot_date", SNAP1)
    kw.setdefault("run_id", 1)
    return onhandpub.publish(sample_rows() if source is None else source, sink, **kw)


def read(path):
    with open(path, "rb") as f:
        return f.read()


class NamedTemporaries:
    """Run the body as where the file system refuses O_TMPFILE."""

    def __enter__(self):
        os.environ["ONHANDPUB_NO_TMPFILE"] = "1"

    def __exit__(self, *exc):
        os.environ.pop("ONHANDPUB_NO_TMPFILE", None)


class PathSinkTest(TempDirTest):
    def test_directory_sink_never_replaces(self) -> None:
        for named in (False, True):
            existing = os.path.join(self.dir, NAME)
            with open(existing, "wb") as f:
                f.write(b"precious")
            if named:
                os.environ["ONHANDPUB_NO_TMPFILE"] = "1"
            try:
                with self.assertRaises(FileExistsError) as cm:
                    publish(sink=self.dir)
            finally:
                os.environ.pop("ONHANDPUB_NO_TMPFILE", None)
            # the sink's own exception, with the library's SinkError as its cause
            self.assertIsInstance(cm.exception.__cause__, onhandpub.SinkError)
            self.assertIn("never replaced", str(cm.exception))
            self.assertEqual(read(existing), b"precious")
            self.assertEqual(self.listdir(), [NAME])
            os.unlink(existing)

    def test_directory_sink_commit_refuses_a_name_taken_meanwhile(self) -> None:
        # Another process takes the name while the run writes: the commit (linkat) fails,
        # the other file stays.
        taken = os.path.join(self.dir, NAME)

        def rows():
            yield from sample_rows()
            with open(taken, "wb") as f:
                f.write(b"other")

        for ctx in (None, NamedTemporaries()):
            if ctx:
                ctx.__enter__()
            try:
                with self.assertRaises(FileExistsError) as cm:
                    publish(rows(), sink=self.dir)
                self.assertIsInstance(cm.exception.__cause__, onhandpub.SinkError)
            finally:
                if ctx:
                    ctx.__exit__(None, None, None)
            self.assertEqual(read(taken), b"other")
            self.assertEqual(self.listdir(), [NAME])
            os.unlink(taken)

    def test_file_path_replaced_atomically(self) -> None:
        target = os.path.join(self.dir, "snap.zip")
        with open(target, "wb") as f:
            f.write(b"old")
        os.link(target, os.path.join(self.dir, "old-link"))
        s = publish(sink=target)
        self.assertEqual(s.path, pathlib.Path(target))
        self.assertIsInstance(s.path, pathlib.Path)
        self.assertTrue(read_zip(read(target)))
        self.assertEqual(read(os.path.join(self.dir, "old-link")), b"old")
        self.assertEqual(self.listdir(), ["old-link", "snap.zip"])

    def test_fifo_written_straight_into(self) -> None:
        fifo = os.path.join(self.dir, "fifo")
        os.mkfifo(fifo)
        got = []
        t = threading.Thread(target=lambda: got.append(read(fifo)), daemon=True)
        t.start()
        s = publish(sink=fifo)
        t.join(60)
        self.assertEqual(s.path, pathlib.Path(fifo))
        self.assertTrue(stat.S_ISFIFO(os.lstat(fifo).st_mode))
        self.assertEqual(len(read_zip(got[0])), len(read_zip(publish().data)))

    def test_unnamed_temporary_leaves_nothing_visible(self) -> None:
        seen = []

        def rows():
            for r in sample_rows():
                seen.append(sorted(os.listdir(self.dir)))
                yield r

        publish(rows(), sink=self.dir)
        self.assertTrue(all(s == [] for s in seen), seen)
        self.assertEqual(self.listdir(), [NAME])

    def kill_child(self, env):
        """A publish in a child process, killed with SIGKILL while it writes."""
        code = (
            "import os, sys, time, onhandpub\n"
            "def rows():\n"
            "    for i in range(10**9):\n"
            "        if i == 2000:\n"
            "            sys.stdout.write('writing\\n'); sys.stdout.flush()\n"
            "        yield {'organization_code': 'M1', 'item_number': 'I%d' % i,\n"
            "               'subinventory_code': 'S', 'serial_controlled': 'N',\n"
            "               'primary_quantity': '1', 'primary_uom_code': 'EA',\n"
            "               'last_update_date': '2026/01/05'}\n"
            "onhandpub.publish(rows(), sys.argv[1], organization='M1',\n"
            "                  caller_authorized=True, level=0)\n"
        )
        e = dict(os.environ, **env)
        p = subprocess.Popen([sys.executable, "-c", code, self.dir], stdout=subprocess.PIPE,
                             env=e)
        try:
            self.assertEqual(p.stdout.readline(), b"writing\n")
            time.sleep(0.1)
            os.kill(p.pid, signal.SIGKILL)
        finally:
            p.communicate()
        self.assertEqual(p.returncode, -signal.SIGKILL)
        return p.pid

    def test_sigkill_leaves_nothing(self) -> None:
        self.kill_child({})
        self.assertEqual(self.listdir(), [])

    def test_named_temporaries_of_dead_processes_removed(self) -> None:
        pid = self.kill_child({"ONHANDPUB_NO_TMPFILE": "1"})
        left = self.listdir()
        self.assertEqual(len(left), 1, left)
        self.assertIn(".tmp.%d." % pid, left[0])
        # one of a live process (this one, holding its lock) must stay
        live = os.path.join(self.dir, ".X.zip.tmp.%d.00000000000000ab" % os.getpid())
        with open(live, "w") as f:
            f.write("x")
        holder = open(live)
        fcntl.flock(holder, fcntl.LOCK_EX)
        try:
            with NamedTemporaries():
                publish(sink=self.dir)
        finally:
            holder.close()
        self.assertEqual(self.listdir(), sorted([NAME, os.path.basename(live)]))


class FileStateStoreFilesTest(TempDirTest):
    """The state file follows the same rules (unnamed file, linked, renamed)."""

    def test_state_file_written_without_leftovers(self) -> None:
        path = os.path.join(self.dir, "state.psv")
        p = subprocess.Popen(["true"])
        p.wait()
        dead = os.path.join(self.dir, ".state.psv.tmp.%d.0123456789abcdef" % p.pid)
        live = os.path.join(self.dir, ".state.psv.tmp.%d.00000000000000ab" % os.getpid())
        for f in (dead, live):
            with open(f, "w") as out:
                out.write("partial")
        holder = open(live)
        fcntl.flock(holder, fcntl.LOCK_EX)
        try:
            for named in (False, True):
                if named:
                    os.environ["ONHANDPUB_NO_TMPFILE"] = "1"
                try:
                    publish(state=onhandpub.FileStateStore(path), sink=None,
                            snapshot_date="2026-01-1%dT08:00:00Z" % (2 + int(named)),
                            run_id=None)
                finally:
                    os.environ.pop("ONHANDPUB_NO_TMPFILE", None)
                self.assertEqual(self.listdir(), sorted(["state.psv", "state.psv.lock",
                                                         os.path.basename(live)]))
        finally:
            holder.close()
        # the file reads back: the second run was incremental from the first one's date
        with open(path, encoding="utf-8") as f:
            self.assertEqual(f.read(), (
                "ONHANDPUB_STATE|2\nLAST_RUN_ID|2\n"
                "SYSTEM_CODE|ORGANIZATION_CODE|ITEM_CLASS|WATERMARK|LAST_SNAPSHOT_DATE|"
                "LAST_RUN_ID\n"
                "0|M1|SERIAL|2026/01/13 08:00:00|2026/01/13 08:00:00|2\n"
                "0|M1|NONSERIAL|2026/01/13 08:00:00|2026/01/13 08:00:00|2\n"))

    def test_state_file_locked_for_the_run(self) -> None:
        path = os.path.join(self.dir, "state.psv")
        store = onhandpub.FileStateStore(path, wait=False)
        seen = []

        def rows():
            # while the run holds the lock, another store cannot take it
            with self.assertRaises(onhandpub.StateBusy) as cm:
                onhandpub.FileStateStore(path, wait=False).next_run_id()
            seen.append(str(cm.exception))
            yield from sample_rows()

        s = publish(rows(), state=store, sink=None, run_id=None)
        self.assertEqual(s.run_id, 1)
        self.assertIn("in use by another run", seen[0])
        self.assertEqual(store.next_run_id(), 2)  # released after the run

        # The store of the run itself answers from inside the run, without waiting.
        def rows2():
            seen.append(store_w.next_run_id())
            seen.append(store_w.get("0", "M1"))
            yield from sample_rows()

        store_w = onhandpub.FileStateStore(path)
        s = publish(rows2(), state=store_w, sink=None, run_id=None,
                    snapshot_date="2026-01-11T08:00:00Z")
        self.assertEqual(s.run_id, 2)
        self.assertEqual(seen[1], 3)  # run id 2 was reserved before the source was read
        self.assertEqual(seen[2].isoformat(), "2026-01-10T08:00:00+00:00")
