"""State stores: the watermarks of each (system, organization) and run ids.

A state store is an object with one of two sets of methods.

Per item class (the bundled stores; since 1.1).  Serial-controlled and
other items each have a watermark, so that a run of one class never moves
the other's, and run ids are reserved before the archive is written:

* ``get_classes(system_code, organization_code) -> dict`` -- ``{"serial":
  ClassState, "nonserial": ClassState}``; a missing class was never
  published;
* ``reserve_run_id(requested) -> int`` -- ``requested == 0``: take the next
  free run id and return it; else record ``requested`` as taken and return
  it.  The reservation must be durable: an id handed out is never handed
  out again, whatever happens to the run;
* ``commit_classes(system_code, organization_code, items, states, run_id)``
  -- record a successful run: ``states`` maps each class the run covered
  (``items``: "both", "serial" or "nonserial") to its new ``ClassState``;
  called only after the sink committed.

One watermark (1.0's protocol, each method optional): ``get(system_code,
organization_code) -> datetime | None``, ``next_run_id() -> int`` (not
consumed) and ``commit(system_code, organization_code, snapshot_date,
run_id)``.  A run of one item class then moves the watermark of both.

Two are provided: :class:`MemoryStateStore` and :class:`FileStateStore`.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as _dt
import json
import os
import stat
from typing import Any, Dict, Iterator, NamedTuple, Optional, Tuple, Union

from . import _lib
from .dates import from_epoch, to_epoch
from .errors import c_text, error_for

_FORMAT = "onhandpub-state"
_VERSION = 2
CLASSES = ("serial", "nonserial")


class ClassState(NamedTuple):
    """The state of one item class: where its next incremental window
    starts (``watermark``, held back to the oldest change of a record the
    last run rejected) and the date of its last snapshot."""

    watermark: Optional[_dt.datetime]
    last_snapshot: Optional[_dt.datetime]


def _older(states: Dict[str, ClassState]) -> Optional[_dt.datetime]:
    """The window start of a run of both classes: the older watermark, or
    None when a class was never published."""
    marks = [states[c].watermark if c in states else None for c in CLASSES]
    if any(m is None for m in marks):
        return None
    return min(marks)  # type: ignore[type-var]


class MemoryStateStore:
    """A state store held in memory (for tests and one-process schedulers),
    with a watermark per item class and reserved run ids."""

    def __init__(self) -> None:
        self.classes: Dict[Tuple[str, str], Dict[str, ClassState]] = {}
        self.last_runs: Dict[Tuple[str, str], int] = {}
        self.last_run_id = 0

    def get_classes(self, system_code: str, organization_code: str) -> Dict[str, ClassState]:
        """The state of each item class published so far."""
        return dict(self.classes.get((system_code, organization_code), {}))

    def reserve_run_id(self, requested: int) -> int:
        """Take the next free run id (requested == 0) or record the one given."""
        if requested:
            self.last_run_id = max(self.last_run_id, requested)
            return requested
        self.last_run_id += 1
        return self.last_run_id

    def commit_classes(self, system_code: str, organization_code: str, items: str,
                       states: Dict[str, ClassState], run_id: int) -> None:
        """Record a successful run."""
        key = (system_code, organization_code)
        self.classes.setdefault(key, {}).update(states)
        self.last_runs[key] = run_id

    # -- queries ------------------------------------------------------------

    def get(self, system_code: str, organization_code: str) -> Optional[_dt.datetime]:
        """Where an incremental run of both classes would start, or None."""
        return _older(self.get_classes(system_code, organization_code))

    def next_run_id(self) -> int:
        """The run id the next run will take."""
        return self.last_run_id + 1

    def last_run(self, system_code: str, organization_code: str) -> Optional[int]:
        """The run id of the last successful run, or None."""
        return self.last_runs.get((system_code, organization_code))

    def seed(self, system_code: str, organization_code: str, watermark: _dt.datetime,
             run_id: int) -> None:
        """Record a past success of both classes (e.g. moved from another store)."""
        self.commit_classes(system_code, organization_code, "both",
                            {c: ClassState(watermark, watermark) for c in CLASSES}, run_id)
        self.last_run_id = max(self.last_run_id, run_id)


class _Handle:
    """An open ohp_filestate (the state file locked) for the length of a
    ``with`` block."""

    def __init__(self, path: str, wait: bool, truncate: bool = False) -> None:
        flags = (0 if wait else _lib.OHP_FILESTATE_NOWAIT) | (
            _lib.OHP_FILESTATE_TRUNCATE if truncate else 0)
        h = _lib.ohp_filestate_p()
        msg = ctypes.create_string_buffer(_lib.OHP_FILESINK_MSGSIZE)
        rc = _lib.lib.ohp_filestate_open(ctypes.byref(h), os.fsencode(path), flags, None, msg)
        if rc < 0:
            raise error_for(rc, _lib.decode(msg.value))
        self.h: Optional[int] = h.value

    def __enter__(self) -> "_Handle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self.h is not None:
            _lib.lib.ohp_filestate_close(self.h)
            self.h = None

    def check(self, rc: int) -> None:
        if rc < 0:
            raise error_for(rc, _lib.decode(_lib.lib.ohp_filestate_errmsg(self.h)))

    def get(self, system_code: str, organization_code: str) -> Tuple[Dict[str, ClassState], int]:
        states = (_lib.ohp_class_state * 2)()
        run_id = ctypes.c_uint64()
        self.check(_lib.lib.ohp_filestate_get(self.h, c_text(system_code, "system_code"),
                                              c_text(organization_code, "organization_code"),
                                              states, ctypes.byref(run_id)))
        got = {}
        for i, name in enumerate(CLASSES):
            if states[i].last_snapshot != _lib.OHP_TIME_NONE:
                got[name] = ClassState(from_epoch(states[i].watermark),
                                       from_epoch(states[i].last_snapshot))
        return got, run_id.value

    def put(self, system_code: str, organization_code: str, classes: Dict[str, ClassState],
            run_id: int) -> None:
        states = (_lib.ohp_class_state * 2)()
        for i, name in enumerate(CLASSES):
            cs = classes.get(name)
            states[i].watermark = to_epoch(cs.watermark if cs else None)
            states[i].last_snapshot = to_epoch(cs.last_snapshot if cs else None)
        self.check(_lib.lib.ohp_filestate_put(self.h, c_text(system_code, "system_code"),
                                              c_text(organization_code, "organization_code"),
                                              states, run_id))

    def last_run_id(self) -> int:
        return int(_lib.lib.ohp_filestate_last_run_id(self.h))

    def reserve(self, requested: int) -> int:
        got = ctypes.c_uint64()
        self.check(_lib.lib.ohp_filestate_reserve_run_id(self.h, requested, ctypes.byref(got)))
        return got.value

    def save(self) -> None:
        self.check(_lib.lib.ohp_filestate_save(self.h))


def _read_json(path: str, raw: bytes) -> Dict[str, Any]:
    """A state file of the JSON layout earlier releases of the binding wrote:
    ``{"format": "onhandpub-state", "version": 1 or 2, "last_run_id": N,
    "runs": {"<system>|<organization>": ...}}``; ValueError when corrupt."""
    try:
        state = json.loads(raw.decode("utf-8"))
        if (
            not isinstance(state, dict)
            or state.get("format") != _FORMAT
            or state.get("version") not in (1, 2)
            or not isinstance(state.get("last_run_id"), int)
            or not isinstance(state.get("runs"), dict)
        ):
            raise ValueError("not an onhandpub state file of version 1 or 2")
        runs = {}
        for key, entry in state["runs"].items():
            system, sep, org = key.partition("|")
            if not sep:
                raise ValueError(f"key {key!r} is not <system>|<organization>")
            if state["version"] == 1:
                date = from_epoch(to_epoch(entry["snapshot_date"]))
                classes = {c: ClassState(date, date) for c in CLASSES}
            else:
                classes = {}
                for c, cs in entry["classes"].items():
                    if c not in CLASSES:
                        raise ValueError(f"unknown item class {c!r}")
                    if cs["last_snapshot"] is not None:
                        classes[c] = ClassState(from_epoch(to_epoch(cs["watermark"])),
                                                from_epoch(to_epoch(cs["last_snapshot"])))
            runs[(system, org)] = (classes, int(entry["run_id"]))
        return {"last_run_id": int(state["last_run_id"]), "runs": runs}
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise ValueError(f"state file {path} is corrupt: {exc}") from exc


class FileStateStore:
    """The library's file state store (``ohp_filestate``; docs/files.md,
    "The state file"): a PSV file with a watermark per item class and the
    run-id counter, replaced whole whenever it changes and locked through
    ``<path>.lock``, the same file the onhandpub command's ``--state``
    keeps.  A missing file is an empty state; a corrupt or unreadable file
    raises (``ValueError`` for a corrupt one), never treated as empty.

    A run of :func:`onhandpub.publish` holds the lock from before the run
    starts until it ends, so runs of several processes on one file take
    turns; ``wait=False`` raises :class:`onhandpub.StateBusy` instead of
    waiting.  The queries (``get``, ``last_run``, ``next_run_id``) take the
    lock for the moment they read.

    A JSON state file of earlier releases of this binding is converted to
    the PSV layout the first time it is opened, in one atomic replace.
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"], wait: bool = True) -> None:
        self.path = os.fsdecode(os.fspath(path))
        self.wait = wait
        self._held: Optional[_Handle] = None  # open for a run of this store

    @contextlib.contextmanager
    def _using(self) -> Iterator[_Handle]:
        """The store open: the run's handle while a run holds it (a callback
        of the run asking never waits for its own lock), else opened for the
        block."""
        if self._held is not None:
            yield self._held
        else:
            with self._open() as h:
                yield h

    def _read(self) -> Optional[bytes]:
        """The file's bytes; None when it is missing or not a regular file
        (never opened then: a FIFO would block; the library refuses it)."""
        try:
            if not stat.S_ISREG(os.lstat(self.path).st_mode):
                return None
            with open(self.path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    @staticmethod
    def _is_json(raw: Optional[bytes]) -> bool:
        return raw is not None and raw.lstrip()[:1] == b"{"

    def _open(self) -> _Handle:
        """The store opened (and locked); a JSON file is converted first."""
        if self._is_json(self._read()):
            # Locked, its content set aside: converted once, by whoever locks first.
            with _Handle(self.path, self.wait, truncate=True) as t:
                raw = self._read()
                if self._is_json(raw):
                    assert raw is not None
                    old = _read_json(self.path, raw)
                    for (system, org), (classes, run_id) in old["runs"].items():
                        if classes:
                            t.put(system, org, classes, run_id)
                    if old["last_run_id"] > t.last_run_id():
                        t.reserve(old["last_run_id"])  # saves everything
                    else:
                        t.save()
        return _Handle(self.path, self.wait)

    def get_classes(self, system_code: str, organization_code: str) -> Dict[str, ClassState]:
        """The state of each item class published so far."""
        with self._using() as h:
            return h.get(system_code, organization_code)[0]

    def reserve_run_id(self, requested: int) -> int:
        """Take the next free run id (requested == 0) or record the one
        given; the file is replaced before this returns."""
        with self._using() as h:
            return h.reserve(requested)

    def commit_classes(self, system_code: str, organization_code: str, items: str,
                       states: Dict[str, ClassState], run_id: int) -> None:
        """Record a successful run (atomic replace of the file)."""
        with self._using() as h:
            h.put(system_code, organization_code, states, run_id)
            h.save()

    # -- queries ------------------------------------------------------------

    def get(self, system_code: str, organization_code: str) -> Optional[_dt.datetime]:
        """Where an incremental run of both classes would start, or None."""
        return _older(self.get_classes(system_code, organization_code))

    def last_run(self, system_code: str, organization_code: str) -> Optional[int]:
        """The run id of the last successful run, or None."""
        with self._using() as h:
            run_id = h.get(system_code, organization_code)[1]
        return run_id or None

    def next_run_id(self) -> int:
        """The run id the next run will take."""
        with self._using() as h:
            return h.last_run_id() + 1
